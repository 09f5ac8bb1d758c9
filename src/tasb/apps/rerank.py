"""``tasb rerank``: a run's top candidates re-ranked by a cross-encoder (or any scorer) → a new run holding the same candidates."""

from __future__ import annotations

import dataclasses
import time

import typer

from tasb.apps.command import tasb_command
from tasb.apps.options import OUT, RERANKING, described, load, read_run_of, scorer_of
from tasb.config import AT_LEAST_1, DataConfig, Scoring
from tasb.errors import InputError


@dataclasses.dataclass
class RerankConfig(Scoring):
    """``tasb rerank``: which scorers (an ensemble when several) re-score which run's top ``rerank_depth``."""

    out: str = "reranked.trec"
    data: DataConfig = dataclasses.field(default_factory=lambda: DataConfig(split="test"))
    rerank_depth: int = 100

    limits = {"rerank_depth": AT_LEAST_1}
    required = {"run": "a TREC run of candidates to re-rank"}


def run_rerank(config: RerankConfig) -> tuple[int, float]:
    """Write the re-ranked run; returns the queries re-ranked and the milliseconds each took."""
    from tasb.data import write_run
    from tasb.retrieval.rerank import rerank

    dataset = load(config.data, need_qrels=False)
    candidates = {q: s for q, s in read_run_of(config.run, dataset).items() if q in dataset.queries}
    if not candidates:
        raise InputError(config.run, "rankings for the queries given", "none of them")
    scorer = scorer_of(config, dataset.corpus)
    started = time.perf_counter()
    reranked = rerank(candidates, dataset.queries, dataset.corpus, scorer, config.rerank_depth)
    per_query_ms = (time.perf_counter() - started) * 1000 / len(candidates)
    write_run(reranked, config.out, tag="rerank")
    return len(candidates), per_query_ms


@tasb_command(
    RerankConfig,
    "tasb rerank --scorer runs/teacher/model --run runs/student.trec --data scifact --split test --rerank-depth 100 \\\n"
    "    --out runs/student.ce.trec",
    [*RERANKING, described(OUT, "re-ranked TREC run to write")],
    aliases={"--model": "--scorer", "--depth": "--rerank-depth"},
)
def command(config: RerankConfig) -> None:
    """Re-rank each query's top candidates of a run with a cross-encoder (or any scorer) → a new run holding the same candidates."""
    count, per_query_ms = run_rerank(config)
    typer.echo(f"wrote {config.out} ({count} queries, top-{config.rerank_depth} re-ranked, {per_query_ms:.0f} ms a query)")
