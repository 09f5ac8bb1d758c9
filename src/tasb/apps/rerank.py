"""``tasb rerank``: a run's top candidates re-ranked by a cross-encoder (or any scorer) → a new run holding the same candidates."""

from __future__ import annotations

import dataclasses
import time

import typer

from tasb.apps.command import tasb_command
from tasb.apps.options import OUT, RERANKING, described, load, read_run_of
from tasb.config import AT_LEAST_0, AT_LEAST_1, DataConfig, Placement
from tasb.errors import InputError


@dataclasses.dataclass
class RerankConfig(Placement):
    """``tasb rerank``: which scorers (an ensemble when several) re-score which run's top ``rerank_depth``."""

    scorers: list[str] = dataclasses.field(default_factory=list)
    # one per scorer; empty: equal
    weights: list[float] = dataclasses.field(default_factory=list)
    run: str = ""
    out: str = "reranked.trec"
    data: DataConfig = dataclasses.field(default_factory=lambda: DataConfig(split="test"))
    rerank_depth: int = 100
    max_length: int | None = None
    bf16: bool = True

    limits = {"weights": AT_LEAST_0, "rerank_depth": AT_LEAST_1, "max_length": AT_LEAST_1}
    required = {"scorers": "at least one scorer", "run": "a TREC run of candidates to re-rank"}


def run_rerank(config: RerankConfig) -> tuple[int, float]:
    """Write the re-ranked run; returns the queries re-ranked and the milliseconds each took."""
    from tasb.data import write_run
    from tasb.retrieval.rerank import rerank
    from tasb.retrieval.scorers import build_scorer

    dataset = load(config.data, need_qrels=False)
    candidates = {q: s for q, s in read_run_of(config.run, dataset).items() if q in dataset.queries}
    if not candidates:
        raise InputError(config.run, "rankings for the queries given", "none of them")
    scorer = build_scorer(config.scorers, config.weights, dataset.corpus, max_length=config.max_length, bf16=config.bf16, device=config.device)
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
