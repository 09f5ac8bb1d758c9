"""``tasb teacher score``: (q, p+, p-) training pairs scored by a teacher or an ensemble into the paper's score file."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Optional

import typer

from tasb.apps.command import from_options, user_errors
from tasb.apps.options import (
    TEACHER_FLAGS, Bf16Opt, CorpusOpt, DataOpt, MaxLengthOpt, QrelsOpt, QueriesOpt, SplitOpt, TeacherOpt, WeightOpt, data_config, load,
    read_run_of,
)
from tasb.config import AT_LEAST_0, AT_LEAST_1, SEED, Checked, DataConfig


@dataclasses.dataclass
class TeacherScoreConfig(Checked):
    """``tasb teacher score``: which pairs (negatives from a run's top-depth), scored by which teachers."""

    teacher: list[str] = dataclasses.field(default_factory=list)
    # one per teacher; empty: equal
    weight: list[float] = dataclasses.field(default_factory=list)
    run: str = ""
    out: str = "scores.tsv"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    depth: int = 100
    # None: every negative of the top-depth
    negatives_per_query: int | None = None
    max_length: int | None = None
    seed: int = 42
    bf16: bool = True

    limits = {
        "weight": AT_LEAST_0, "depth": AT_LEAST_1, "negatives_per_query": AT_LEAST_1, "max_length": AT_LEAST_1, "seed": SEED,
    }


def run_teacher_score(config: TeacherScoreConfig) -> int:
    """Write the score file; returns how many pairs it holds."""
    from tasb.data import check_judged_passages, training_pairs, write_scores
    from tasb.retrieval.scorers import build_scorer, score_pairs

    data = config.data
    dataset = load(data)
    check_judged_passages(dataset, data.data, data.split, data.qrels)
    candidates = read_run_of(config.run, dataset)
    pairs = training_pairs(dataset.qrels, candidates, depth=config.depth, per_query=config.negatives_per_query, seed=config.seed)
    scorer = build_scorer(config.teacher, config.weight, dataset.corpus, max_length=config.max_length, bf16=config.bf16)
    return write_scores(score_pairs(scorer, pairs, dataset.queries, dataset.corpus), config.out)


@user_errors(flags=TEACHER_FLAGS)
def command(
    teacher: TeacherOpt,
    out: Annotated[Path, typer.Option("--out", help="score file: score_pos score_neg qid pid_pos pid_neg")],
    run: Annotated[Path, typer.Option("--run", help="first-stage run the negatives come from")],
    data: DataOpt = None,
    split: SplitOpt = "train",
    corpus: CorpusOpt = None,
    queries: QueriesOpt = None,
    qrels: QrelsOpt = None,
    weight: WeightOpt = None,
    depth: Annotated[int, typer.Option(help="negatives come from the run's top-depth")] = 100,
    negatives_per_query: Annotated[Optional[int], typer.Option(help="sample this many negatives per query")] = None,
    max_length: MaxLengthOpt = None,
    seed: int = 42,
    bf16: Bf16Opt = True,
):
    """Score (q, p+, p-) training pairs with a teacher or an ensemble into the paper's score file."""
    config = from_options(
        TeacherScoreConfig, teacher=teacher, weight=weight or [], run=str(run), out=str(out), data=data_config(data, split, corpus, queries, qrels),
        depth=depth, negatives_per_query=negatives_per_query, max_length=max_length, seed=seed, bf16=bf16,
    )
    count = run_teacher_score(config)
    typer.echo(f"wrote {out} ({count} pairs)")
