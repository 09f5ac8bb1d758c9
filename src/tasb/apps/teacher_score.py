"""``tasb teacher score``: (q, p+, p-) training pairs scored by a teacher or an ensemble into the paper's score file."""

from __future__ import annotations

import dataclasses
from typing import Optional

import typer

from tasb.apps.command import tasb_command
from tasb.apps.options import (
    BF16, DATA, DEVICE, MAX_LENGTH, NEGATIVES_DEPTH, OUT, RANDOM_SEED, RUN, SCORERS, VALIDATION_QIDS, HeldOut, described, option,
    read_run_of, scorer_of,
)
from tasb.config import AT_LEAST_1, SEED, DataConfig, Scoring


@dataclasses.dataclass
class TeacherScoreConfig(HeldOut, Scoring):
    """``tasb teacher score``: which pairs (negatives from a run's top ``negatives_depth``), scored by which scorers."""

    out: str = "scores.tsv"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    negatives_depth: int = 100
    # None: every negative of the top negatives_depth
    negatives_per_query: int | None = None
    seed: int = 42

    limits = {
        "negatives_depth": AT_LEAST_1, "negatives_per_query": AT_LEAST_1, "seed": SEED,
    }
    required = {"run": "a first-stage TREC run the negatives come from"}


def run_teacher_score(config: TeacherScoreConfig) -> int:
    """Write the score file of every judged query but ``validation_qids``; returns how many pairs it holds."""
    from tasb.data import check_judged_passages, training_pairs, write_scores
    from tasb.retrieval.scorers import score_pairs

    data = config.data
    dataset, _ = config.teacher_data(data)
    check_judged_passages(dataset, data.data, data.split, data.qrels)
    candidates = read_run_of(config.run, dataset)
    pairs = training_pairs(dataset.qrels, candidates, depth=config.negatives_depth, per_query=config.negatives_per_query, seed=config.seed)
    scorer = scorer_of(config, dataset.corpus)
    return write_scores(score_pairs(scorer, pairs, dataset.queries, dataset.corpus), config.out)


@tasb_command(
    TeacherScoreConfig,
    "tasb teacher score --scorer runs/teacher/model --run runs/bm25.train.trec --data scifact --split train \\\n"
    "    --negatives-depth 30 --negatives-per-query 8 --out runs/teacher_scores.tsv",
    [
        *SCORERS, described(RUN, "first-stage run the negatives come from"),
        described(OUT, "score file: score_pos score_neg qid pid_pos pid_neg"),
        *DATA, VALIDATION_QIDS, NEGATIVES_DEPTH, option("negatives_per_query", Optional[int], "--negatives-per-query", "sample this many negatives per query"),
        MAX_LENGTH, RANDOM_SEED, BF16, DEVICE,
    ],
    aliases={"--teacher": "--scorer", "--depth": "--negatives-depth"},
)
def command(config: TeacherScoreConfig) -> None:
    """Score (q, p+, p-) training pairs with a teacher or an ensemble into the paper's score file."""
    count = run_teacher_score(config)
    typer.echo(f"wrote {config.out} ({count} pairs)")
