"""``tasb teacher train``: fine-tune a BERT_CAT cross-encoder teacher on judged positives and run negatives."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from tasb import layout
from tasb.apps.command import tasb_command
from tasb.apps.options import TEACHER_TRAINING, TeacherTraining, negatives_run
from tasb.config import TeacherConfig, values_of


@dataclasses.dataclass
class TeacherTrainConfig(TeacherTraining, TeacherConfig):
    """``tasb teacher train``: the recipe (``TeacherConfig``, its keys at the top level), the data and where it goes."""


def run_teacher_train(config: TeacherTrainConfig) -> Path:
    """Train into ``config.out`` on every judged query but ``validation_qids``; negatives from ``config.run``, or BM25's top
    ``negatives_depth``. Returns the model folder."""
    from tasb.data import check_judged_passages
    from tasb.training.cross_encoder_trainer import train_cross_encoder

    data = config.data
    dataset, _ = config.teacher_data(data)
    check_judged_passages(dataset, data.data, data.split, data.qrels)
    candidates = negatives_run(config.run, dataset, config.negatives_depth)
    recipe = TeacherConfig(**values_of(config, TeacherConfig))
    train_cross_encoder(recipe, dataset.queries, dataset.corpus, dataset.qrels, candidates, Path(config.out))
    return Path(config.out) / layout.MODEL


@tasb_command(
    TeacherTrainConfig,
    "tasb teacher train --data scifact --split train --run runs/bm25.train.trec --out runs/teacher \\\n"
    "    --set loss=listwise --set num_negatives=7 --set max_minutes=25",
    TEACHER_TRAINING,
)
def command(config: TeacherTrainConfig) -> None:
    """Fine-tune a BERT_CAT cross-encoder on judged positives and run negatives (its recipe: TeacherConfig's keys, by --set)."""
    typer.echo(f"trained teacher in {run_teacher_train(config)}")
