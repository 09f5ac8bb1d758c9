"""``tasb teacher eval``: a teacher judged by re-ranking a candidate run, beside the candidates (and each ensemble member)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Optional

import typer

from tasb.apps.command import from_options, user_errors
from tasb.apps.options import (
    TEACHER_FLAGS, Bf16Opt, CorpusOpt, DataOpt, MaxLengthOpt, QrelsOpt, QueriesOpt, SplitOpt, TeacherOpt, WeightOpt, data_config, load,
    read_run_of, text,
)
from tasb.config import AT_LEAST_0, AT_LEAST_1, Checked, DataConfig


@dataclasses.dataclass
class TeacherEvalConfig(Checked):
    """``tasb teacher eval``: which teachers re-rank which run's top-depth, judged on which queries."""

    teacher: list[str] = dataclasses.field(default_factory=list)
    # one per teacher; empty: equal
    weight: list[float] = dataclasses.field(default_factory=list)
    run: str = ""
    data: DataConfig = dataclasses.field(default_factory=lambda: DataConfig(split="test"))
    depth: int = 100
    # the lowest grade RR and recall count as relevant
    rel: int = 1
    # also write the re-ranked run
    out: str | None = None
    max_length: int | None = None
    bf16: bool = True

    limits = {"weight": AT_LEAST_0, "depth": AT_LEAST_1, "rel": AT_LEAST_1, "max_length": AT_LEAST_1}


def run_teacher_eval(config: TeacherEvalConfig) -> dict[str, dict[str, float]]:
    """The measures of the candidates, of each member's re-ranking and of the teacher's, one row each."""
    from tasb.data import write_run
    from tasb.evaluation import evaluate
    from tasb.retrieval.rerank import rerank_with_members
    from tasb.retrieval.scorers import build_scorer

    dataset = load(config.data)
    candidates = {q: s for q, s in read_run_of(config.run, dataset).items() if q in dataset.queries}
    scorer = build_scorer(config.teacher, config.weight, dataset.corpus, max_length=config.max_length, bf16=config.bf16)
    runs = rerank_with_members(candidates, dataset.queries, dataset.corpus, scorer, config.depth)
    if config.out:
        write_run(runs[scorer.name], config.out, tag="teacher")
    rows = {"candidates": evaluate(candidates, dataset.qrels, config.rel)}
    rows.update({f"{name} re-ranks top-{config.depth}": evaluate(run, dataset.qrels, config.rel) for name, run in runs.items()})
    return rows


@user_errors(flags={**TEACHER_FLAGS, "depth": "--depth"})
def command(
    teacher: TeacherOpt,
    run: Annotated[Path, typer.Option("--run", help="candidates to re-rank")],
    data: DataOpt = None,
    split: SplitOpt = "test",
    corpus: CorpusOpt = None,
    queries: QueriesOpt = None,
    qrels: QrelsOpt = None,
    weight: WeightOpt = None,
    depth: Annotated[int, typer.Option(help="re-rank the top-depth candidates")] = 100,
    rel: Annotated[int, typer.Option(help="lowest grade RR and recall count as relevant")] = 1,
    out: Annotated[Optional[Path], typer.Option("--out", help="also write the re-ranked run")] = None,
    max_length: MaxLengthOpt = None,
    bf16: Bf16Opt = True,
):
    """Judge a teacher by re-ranking a candidate run; prints its metrics (and each ensemble member's) next to the candidates'."""
    from tasb.evaluation.tables import results_table

    config = from_options(
        TeacherEvalConfig, teacher=teacher, weight=weight or [], run=str(run), data=data_config(data, split, corpus, queries, qrels),
        depth=depth, rel=rel, out=text(out), max_length=max_length, bf16=bf16,
    )
    typer.echo(results_table(run_teacher_eval(config)))
