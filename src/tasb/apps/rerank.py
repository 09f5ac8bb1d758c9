"""``tasb rerank``: a run's top-depth re-ranked by a cross-encoder (or any teacher) → a new run holding the same candidates."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Annotated

import typer

from tasb.apps.command import from_options, user_errors
from tasb.apps.options import (
    Bf16Opt, CorpusOpt, DataOpt, MaxLengthOpt, QrelsOpt, QueriesOpt, SplitOpt, WeightOpt, data_config, load, read_run_of,
)
from tasb.config import AT_LEAST_0, AT_LEAST_1, Checked, DataConfig
from tasb.errors import InputError


@dataclasses.dataclass
class RerankConfig(Checked):
    """``tasb rerank``: which re-rankers (an ensemble when several) re-score which run's top-depth."""

    model: list[str] = dataclasses.field(default_factory=list)
    # one per re-ranker; empty: equal
    weight: list[float] = dataclasses.field(default_factory=list)
    run: str = ""
    out: str = "reranked.trec"
    data: DataConfig = dataclasses.field(default_factory=lambda: DataConfig(split="test"))
    depth: int = 100
    max_length: int | None = None
    bf16: bool = True

    limits = {"weight": AT_LEAST_0, "depth": AT_LEAST_1, "max_length": AT_LEAST_1}


def run_rerank(config: RerankConfig) -> tuple[int, float]:
    """Write the re-ranked run; returns the queries re-ranked and the milliseconds each took."""
    from tasb.data import write_run
    from tasb.retrieval.rerank import rerank
    from tasb.retrieval.scorers import build_scorer

    dataset = load(config.data, need_qrels=False)
    candidates = {q: s for q, s in read_run_of(config.run, dataset).items() if q in dataset.queries}
    if not candidates:
        raise InputError(config.run, "rankings for the queries given", "none of them")
    scorer = build_scorer(config.model, config.weight, dataset.corpus, max_length=config.max_length, bf16=config.bf16)
    started = time.perf_counter()
    reranked = rerank(candidates, dataset.queries, dataset.corpus, scorer, config.depth)
    per_query_ms = (time.perf_counter() - started) * 1000 / len(candidates)
    write_run(reranked, config.out, tag="rerank")
    return len(candidates), per_query_ms


@user_errors(flags={"specs": "--model", "weights": "--weight", "depth": "--depth"})
def command(
    model: Annotated[
        list[str],
        typer.Option("--model", help="re-ranker: cross-encoder folder/name ([ce:]MODEL), colbert:MODEL, dot:MODEL or bm25; repeat to ensemble"),
    ],
    run: Annotated[Path, typer.Option("--run", help="candidates to re-rank (TREC run)")],
    out: Annotated[Path, typer.Option("--out", help="re-ranked TREC run to write")],
    data: DataOpt = None,
    split: SplitOpt = "test",
    corpus: CorpusOpt = None,
    queries: QueriesOpt = None,
    qrels: QrelsOpt = None,
    weight: WeightOpt = None,
    depth: Annotated[int, typer.Option(help="re-rank each query's top-depth; the rest keep their order below")] = 100,
    max_length: MaxLengthOpt = None,
    bf16: Bf16Opt = True,
):
    """Re-rank a run's top-k with a cross-encoder (or any teacher) → a new run holding the same candidates."""
    config = from_options(
        RerankConfig, model=model, weight=weight or [], run=str(run), out=str(out), data=data_config(data, split, corpus, queries, qrels),
        depth=depth, max_length=max_length, bf16=bf16,
    )
    count, per_query_ms = run_rerank(config)
    typer.echo(f"wrote {out} ({count} queries, top-{config.depth} re-ranked, {per_query_ms:.0f} ms a query)")
