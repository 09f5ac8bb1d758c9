"""The training recipes: the student's (``TrainConfig``: ``tasb train``, every run of ``tasb experiment``, the
quickstart's student) and the two teachers' (``tasb teacher train`` and ``train-colbert``, the quickstart's teachers)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from tasb.config.ranges import AT_LEAST_0, AT_LEAST_1
from tasb.config.sections import (
    Budget, DataConfig, InBatchTeacherSpec, Optimisation, PairSampling, StudentConfig, Teaching, ValidationConfig,
)
from tasb.errors import InputError


@dataclasses.dataclass
class TeacherRecipe(Budget, Optimisation):
    """What both teachers are trained with: a starting model, groups of judged positives and run negatives, a budget."""

    model: str = "all-MiniLM-L6-v2"
    # negatives are drawn from the run's top negatives_depth, num_negatives per judged positive
    negatives_depth: int = 100
    num_negatives: int = 7
    steps: int = 200
    batch_size: int = 8
    learning_rate: float = 2e-5
    warmup_steps: int = 20

    limits = {"negatives_depth": AT_LEAST_1, "num_negatives": AT_LEAST_1}


@dataclasses.dataclass
class TeacherConfig(TeacherRecipe):
    """Recipe of the BERT_CAT cross-encoder teacher (``tasb teacher train``)."""

    # pointwise: BCE on (q, p, label); listwise: softmax cross-entropy over 1 positive + n negatives
    loss: Literal["pointwise", "listwise"] = "listwise"
    max_length: int = 256

    limits = {"max_length": AT_LEAST_1}


@dataclasses.dataclass
class ColbertConfig(TeacherRecipe):
    """Recipe of the ColBERT teacher (``tasb teacher train-colbert``)."""

    # 0 keeps the encoder's own token space: all-MiniLM-L6-v2's token vectors already re-rank well untrained
    dim: int = 128
    query_max_length: int = 30
    passage_max_length: int = 200
    # the passage cap the saved teacher scores with (null: passage_max_length). Longer passages cost only
    # encoding time, once per passage, and SciFact's abstracts need them: .741 vs .720 nDCG@10 at 512 vs 200
    scoring_passage_max_length: int | None = 512
    # listwise: softmax over a judged positive vs run negatives; margin-mse: the pairwise score file (the
    # paper's ColBERT learned BERT_CAT's margins); both: the sum, each on its own batch
    loss: Literal["listwise", "margin-mse", "both"] = "listwise"
    teacher_scores: str = ""
    # every other query's passages in the batch are negatives too: more signal for no extra encoding
    in_batch_negatives: bool = True

    limits = {
        "dim": AT_LEAST_0, "query_max_length": AT_LEAST_1, "passage_max_length": AT_LEAST_1, "scoring_passage_max_length": AT_LEAST_1,
    }


@dataclasses.dataclass
class TrainConfig(PairSampling, Teaching, InBatchTeacherSpec, Budget, Optimisation):
    """``tasb train``: distillation of the student from a pairwise teacher score file and/or an in-batch ColBERT teacher."""

    output_dir: str = "runs/train"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    student: StudentConfig = dataclasses.field(default_factory=StudentConfig)
    # compose batches in a separate process feeding a bounded queue, so the trainer never waits for one
    sampler_process: bool = True
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 10
    # the loss parts, learning rate, speed, sampler wait and validation metrics also go to <run>/tensorboard/
    tensorboard: bool = False
    validation: ValidationConfig = dataclasses.field(default_factory=ValidationConfig)

    # zero steps: the starting model, saved as a run (and validated)
    limits = {"steps": AT_LEAST_0, "checkpoint_every": AT_LEAST_1, "keep_checkpoints": AT_LEAST_1, "log_every": AT_LEAST_1}

    def validate(self) -> None:
        super().validate()
        if self.validation.queries and self.validation.qids:
            raise InputError("config", "one of validation.queries (how many to draw) or validation.qids (a file of them)", "both")


