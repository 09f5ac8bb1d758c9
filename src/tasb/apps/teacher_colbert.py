"""``tasb teacher train-colbert``: fine-tune a ColBERT teacher, listwise on judged pairs and/or Margin-MSE on a score file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tasb import layout
from tasb.apps.command import user_errors
from tasb.apps.options import CorpusOpt, DataOpt, QrelsOpt, QueriesOpt, SetOpt, SplitOpt, TeacherOutOpt, data_config, load, read_run_of, text
from tasb.config import ColbertConfig, DataConfig, load_config


def run_teacher_colbert(config: ColbertConfig, data: DataConfig, out: str | Path, run: str | Path | None = None) -> Path:
    """Train into ``out``; listwise negatives from ``run``, or BM25's top ``negatives_depth``. Returns the model folder."""
    from tasb.data import check_judged_passages, read_scores
    from tasb.retrieval.bm25 import bm25_search
    from tasb.training.colbert_trainer import train_colbert

    listwise = config.loss in ("listwise", "both")
    dataset = load(data, need_qrels=listwise)
    candidates = None
    if listwise:
        check_judged_passages(dataset, data.data, data.split, data.qrels)
        candidates = read_run_of(run, dataset) if run else bm25_search(dataset.corpus, dataset.queries, k=config.negatives_depth)
    scores = read_scores(config.teacher_scores) if config.teacher_scores else None
    train_colbert(config, dataset.queries, dataset.corpus, Path(out), qrels=dataset.qrels, run=candidates, scores=scores)
    return Path(out) / layout.MODEL


@user_errors
def command(
    out: TeacherOutOpt,
    data: DataOpt = None,
    split: SplitOpt = "train",
    corpus: CorpusOpt = None,
    queries: QueriesOpt = None,
    qrels: QrelsOpt = None,
    run: Annotated[Optional[Path], typer.Option("--run", help="negatives for the listwise loss come from this run; default BM25")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="YAML with ColbertConfig fields")] = None,
    overrides: SetOpt = None,
):
    """Fine-tune a ColBERT teacher: listwise on judged pairs and/or Margin-MSE on a score file (recipe: ColbertConfig)."""
    settings = load_config(ColbertConfig, config, overrides or [])
    model = run_teacher_colbert(settings, data_config(data, split, corpus, queries, qrels), out, text(run))
    typer.echo(f"trained ColBERT teacher in {model}")
