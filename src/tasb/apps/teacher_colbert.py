"""``tasb teacher train-colbert``: fine-tune a ColBERT teacher, listwise on judged pairs and/or Margin-MSE on a score file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from tasb import layout
from tasb.apps.command import tasb_command
from tasb.apps.options import TEACHER_TRAINING, TeacherTraining, negatives_run
from tasb.config import ColbertConfig, values_of


@dataclasses.dataclass
class ColbertTrainConfig(TeacherTraining, ColbertConfig):
    """``tasb teacher train-colbert``: the recipe (``ColbertConfig``, its keys at the top level), the data and where it goes.

    Only the listwise loss reads ``run``, the judged pairs' negatives."""


def run_teacher_colbert(config: ColbertTrainConfig) -> Path:
    """Train into ``config.out``; listwise negatives from ``config.run``, or BM25's top ``negatives_depth``. Returns the model folder."""
    from tasb.data import check_judged_passages, read_scores
    from tasb.training.colbert_trainer import train_colbert
    from tasb.training.setup import without_queries

    data = config.data
    listwise = config.loss in ("listwise", "both")
    dataset, held_out = config.teacher_data(data, need_qrels=listwise)
    candidates = None
    if listwise:
        check_judged_passages(dataset, data.data, data.split, data.qrels)
        candidates = negatives_run(config.run, dataset, config.negatives_depth)
    scores = read_scores(config.teacher_scores) if config.teacher_scores else None
    if scores is not None and held_out:
        scores = without_queries(scores, held_out)
    recipe = ColbertConfig(**values_of(config, ColbertConfig))
    train_colbert(recipe, dataset.queries, dataset.corpus, Path(config.out), qrels=dataset.qrels, run=candidates, scores=scores)
    return Path(config.out) / layout.MODEL


@tasb_command(
    ColbertTrainConfig,
    "tasb teacher train-colbert --data scifact --split train --out runs/colbert --set steps=200 --set dim=0",
    TEACHER_TRAINING,
)
def command(config: ColbertTrainConfig) -> None:
    """Fine-tune a ColBERT teacher: listwise on judged pairs and/or Margin-MSE on a score file (its recipe: ColbertConfig's keys, by --set)."""
    typer.echo(f"trained ColBERT teacher in {run_teacher_colbert(config)}")
