"""The sections commands share: each a dataclass whose numeric fields declare their ranges (``limits``).

A section is either nested under its own key (``data:``, ``student:``, ``validation:``) or composed flat into
a config as one of its base classes (``Optimisation``, ``Teaching``, ...): its keys then stand at the
config's top level, as the YAML files have always spelled them.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Literal

from tasb.config.ranges import AT_LEAST_0, AT_LEAST_1, POSITIVE, SEED, Checked, FieldError
from tasb.errors import InputError

Sampler = Literal["random", "tas", "tas-balanced"]
TeacherMode = Literal["pairwise", "in-batch", "dual"]
InBatchLossName = Literal["margin-mse", "kldiv", "listnet", "lambdaloss"]
# what evaluate, experiment and the tables report unless told otherwise (ir-measures names)
DEFAULT_MEASURES = ("nDCG@10", "RR@10", "R@100", "R@1000")


@dataclasses.dataclass
class DataConfig:
    """Where queries, passages and judgments come from (see ``tasb.data.load_dataset``)."""

    data: str | None = None
    split: str = "train"
    corpus: str | None = None
    queries: str | None = None
    qrels: str | None = None


@dataclasses.dataclass
class StudentConfig(Checked):
    """The BERT_DOT student: one shared encoder, one pooled vector, dot product (paper eq. 4-5)."""

    model: str = "all-MiniLM-L6-v2"
    # None keeps what the model folder says (all-MiniLM-L6-v2: mean); "cls" is the paper's choice
    pooling: Literal["cls", "mean"] | None = None
    # None keeps what the model folder says (all-MiniLM-L6-v2 normalises: zero-shot nDCG@10 on SciFact
    # .643 with, .611 without); the paper's BERT_DOT does not normalise
    normalize: bool | None = None
    query_max_length: int = 30
    # the length the student validates, saves and indexes at
    passage_max_length: int = 200
    # training steps cut passages here instead (null: the student's passage length): at 128 tokens a step takes half
    # the time of one at 200, so a budget in minutes sees twice the pairs (docs/student.md)
    training_passage_max_length: int | None = None

    limits = {"query_max_length": AT_LEAST_1, "passage_max_length": AT_LEAST_1, "training_passage_max_length": AT_LEAST_1}

    def __post_init__(self) -> None:
        super().__post_init__()
        # a longer cut would train on text the saved model never reads
        if self.training_passage_max_length is not None and self.training_passage_max_length > self.passage_max_length:
            raise FieldError(
                "training_passage_max_length", f"at most passage_max_length ({self.passage_max_length})", self.training_passage_max_length
            )


@dataclasses.dataclass
class ValidationConfig(Checked):
    """Approximate-retrieval early stopping (paper Sec. 4.3): held-out training queries re-ranked every few steps."""

    # judged training queries held out from training and re-ranked by the student; 0 turns validation off
    queries: int = 0
    # a file of qids (one per line) to hold out instead of drawing ``queries`` of them
    qids: str = ""
    # candidates are a baseline's top-``rerank_depth`` joined with the judged passages; "" = BM25's, computed on the fly
    run: str = ""
    rerank_depth: int = 100
    # evaluate after every ``every`` steps (and once before the first step), stop after ``patience``
    # evaluations without a better ``metric``; the best checkpoint becomes the run's model
    every: int = 100
    patience: int = 3
    metric: str = "nDCG@10"
    # graded judgments count as relevant from this grade up (RR, recall); nDCG uses the grades
    rel: int = 1
    # picks the held-out queries; kept apart from the training seed so runs of a grid validate alike
    seed: int = 0

    @property
    def enabled(self) -> bool:
        return bool(self.queries or self.qids)

    renamed = {"depth": "rerank_depth"}
    limits = {
        "queries": AT_LEAST_0, "rerank_depth": AT_LEAST_1, "every": AT_LEAST_1, "patience": AT_LEAST_1, "rel": AT_LEAST_1, "seed": SEED,
    }


# torch's device names, and auto
_DEVICE = re.compile(r"auto|cpu|mps|(cuda|xpu)(:\d+)?")


@dataclasses.dataclass
class Placement(Checked):
    """Where a command's models run: ``auto`` is the GPU when torch sees one (under torchrun, each process's own),
    else the CPU; or ``cpu``, ``cuda``, ``cuda:N``, ``mps``."""

    device: str = "auto"

    def validate(self) -> None:
        super().validate()
        if not _DEVICE.fullmatch(self.device):
            raise InputError("device", "auto, cpu, cuda, cuda:N, mps or xpu", self.device)


@dataclasses.dataclass
class Scoring(Placement):
    """What scores (query, passage) pairs: scorer specs (``tasb.retrieval.scorers.build_scorer``), several making an
    ensemble of their per-query normalised scores, over the candidates of a TREC ``run``."""

    scorers: list[str] = dataclasses.field(default_factory=list)
    # one per scorer; empty: equal
    weights: list[float] = dataclasses.field(default_factory=list)
    run: str = ""
    # a cross-encoder's token cap; None: the model's
    max_length: int | None = None
    bf16: bool = True

    limits = {"weights": AT_LEAST_0, "max_length": AT_LEAST_1}
    required = {"scorers": "at least one scorer"}


@dataclasses.dataclass
class Optimisation(Placement):
    """How a model learns: batches, Adam's rate and warm-up, bf16 autocast, the device, and the seed every RNG derives from.

    The defaults are the student's; a config composing this section may declare other defaults."""

    batch_size: int = 32
    learning_rate: float = 7e-6
    warmup_steps: int = 0
    bf16: bool = True
    seed: int = 42

    limits = {"batch_size": AT_LEAST_1, "learning_rate": POSITIVE, "warmup_steps": AT_LEAST_0, "seed": SEED}


@dataclasses.dataclass
class Budget(Checked):
    """When training stops: after ``steps``, or ``max_minutes`` of wall-clock time, whichever comes first."""

    steps: int = 1000
    max_minutes: float | None = None

    limits = {"steps": AT_LEAST_1, "max_minutes": POSITIVE}


@dataclasses.dataclass
class PairSampling(Checked):
    """Where the scored training pairs come from, and how a batch is drawn from them."""

    # the pairwise teacher's score file: score_pos score_neg qid pid_pos pid_neg
    teacher_scores: str = ""
    # how a batch is composed: random (eq. 9), tas (eq. 11: queries of n clusters), tas-balanced (eq. 13: + margin ranges)
    sampler: Sampler = "random"
    # tas / tas-balanced: a clusters.tsv (qid<TAB>cluster, as ``tasb cluster`` writes) covering every scored query
    clusters: str = ""
    # the paper's n: clusters a batch is drawn from, b // n queries each (the paper: 1 at b = 32)
    clusters_per_batch: int = 1
    # tas-balanced: the paper's h, margin ranges per query drawn uniformly before a pair within one
    margin_bins: int = 10

    limits = {"clusters_per_batch": AT_LEAST_1, "margin_bins": AT_LEAST_1}

    def validate(self) -> None:
        super().validate()
        if self.sampler != "random" and not self.clusters:
            raise InputError("clusters", f"a clusters file (qid<TAB>cluster lines, a clusters.tsv) for sampler {self.sampler}", "none")


@dataclasses.dataclass
class Teaching(Checked):
    """The student's loss: which teachers teach it, and how their scores meet its own (``tasb.training.build_loss``)."""

    # the teacher rows of Table 4: pairwise (eq. 6), in-batch (eq. 7) or dual (eq. 8: pairwise + alpha * in-batch)
    teacher_mode: TeacherMode = "pairwise"
    # weight of the pairwise part (eq. 6) in pairwise and dual modes; the paper's is 1
    pairwise_weight: float = 1.0
    # the rows of Table 3: the loss of the in-batch part
    inbatch_loss: InBatchLossName = "margin-mse"
    alpha: float = 0.75
    # ColBERT scores are multiplied by this before the in-batch loss: brings them to the student's scale;
    # null: fitted when training starts (tasb.training.scales)
    colbert_scale: float | None = 1.0
    # student scores are multiplied by this before margins are compared to the teacher's: 1 for the
    # paper's unnormalised dot product; a cosine student needs ~10 to reach z-normalised teacher margins;
    # null: fitted when training starts, the teacher's margins' root mean square over the starting student's
    score_scale: float | None = 1.0
    # weight of the judged labels beside the teachers: cross-entropy of each query's judged positive against
    # every passage of the batch (sentence-transformers' MultipleNegativesRankingLoss); 0 = the paper's losses
    # alone. Weighted 2 rather than 1 on SciFact's 81 held-out train queries (seeds 44/45: +.007 validation
    # nDCG@10 at 250 and at 750 steps; docs/student.md, "The label part weighted 2")
    contrastive_weight: float = 2.0
    # the label part's inverse temperature on the student's similarities; null: 20 for a normalised (cosine)
    # student, as sentence-transformers does, 1 for the paper's unnormalised dot product
    contrastive_scale: float | None = None

    limits = {
        "alpha": AT_LEAST_0, "pairwise_weight": AT_LEAST_0, "colbert_scale": POSITIVE, "score_scale": POSITIVE,
        "contrastive_weight": AT_LEAST_0, "contrastive_scale": POSITIVE,
    }


@dataclasses.dataclass
class InBatchTeacherSpec(Checked):
    """The in-batch teacher: a ColBERT folder scoring every query against every passage of a batch (in-batch and dual)."""

    colbert_teacher: str = ""
    # fp16 ColBERT token vectors of all training passages: auto builds them when they fit in colbert_cache_max_gb
    colbert_cache: Literal["auto", "always", "never"] = "auto"
    colbert_cache_max_gb: float = 4.0

    limits = {"colbert_cache_max_gb": AT_LEAST_0}


def values_of(config: object, section: type) -> dict:
    """The values ``config`` holds for the fields of ``section``, one of the sections composed into it."""
    return {field.name: getattr(config, field.name) for field in dataclasses.fields(section)}
