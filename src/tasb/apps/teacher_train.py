"""``tasb teacher train``: fine-tune a BERT_CAT cross-encoder teacher on judged positives and run negatives."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tasb import layout
from tasb.apps.command import user_errors
from tasb.apps.options import CorpusOpt, DataOpt, QrelsOpt, QueriesOpt, SetOpt, SplitOpt, TeacherOutOpt, data_config, load, text
from tasb.config import DataConfig, TeacherConfig, load_config


def run_teacher_train(config: TeacherConfig, data: DataConfig, out: str | Path, run: str | Path | None = None) -> Path:
    """Train into ``out``; negatives from ``run``, or BM25's top ``negatives_depth``. Returns the model folder."""
    from tasb.data import check_judged_passages, read_run
    from tasb.retrieval.bm25 import bm25_search
    from tasb.training.cross_encoder_trainer import train_cross_encoder

    dataset = load(data)
    check_judged_passages(dataset, data.data, data.split, data.qrels)
    candidates = read_run(run) if run else bm25_search(dataset.corpus, dataset.queries, k=config.negatives_depth)
    train_cross_encoder(config, dataset.queries, dataset.corpus, dataset.qrels, candidates, Path(out))
    return Path(out) / layout.MODEL


@user_errors
def command(
    out: TeacherOutOpt,
    data: DataOpt = None,
    split: SplitOpt = "train",
    corpus: CorpusOpt = None,
    queries: QueriesOpt = None,
    qrels: QrelsOpt = None,
    run: Annotated[Optional[Path], typer.Option("--run", help="negatives come from this run; default BM25")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="YAML with TeacherConfig fields")] = None,
    overrides: SetOpt = None,
):
    """Fine-tune a BERT_CAT cross-encoder on judged positives and run negatives (recipe: TeacherConfig)."""
    settings = load_config(TeacherConfig, config, overrides or [])
    model = run_teacher_train(settings, data_config(data, split, corpus, queries, qrels), out, text(run))
    typer.echo(f"trained teacher in {model}")
