"""``tasb search``: an index searched with the queries → a TREC run."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from tasb.apps.command import from_options, user_errors
from tasb.apps.options import DataOpt, IndexOpt, ModelOpt, QrelsOpt, QueriesOpt, SplitOpt, data_config, open_index
from tasb.config import AT_LEAST_1, Checked, DataConfig


@dataclasses.dataclass
class SearchConfig(Checked):
    """``tasb search``: each query's top-k passages of an index."""

    index: str = ""
    out: str = "dense.trec"
    data: DataConfig = dataclasses.field(default_factory=lambda: DataConfig(split="test"))
    # None: the model that built the index
    model: str | None = None
    k: int = 1000

    limits = {"k": AT_LEAST_1}


def run_search(config: SearchConfig) -> int:
    """Write the run; returns how many queries it ranks."""
    from tasb.data import write_run
    from tasb.retrieval.index import search

    dense, topics, student = open_index(config.index, config.data, config.model)
    write_run(search(dense, student, topics, k=config.k, check_model=False), config.out, tag="tasb", k=config.k)
    return len(topics)


@user_errors
def command(
    index: IndexOpt,
    out: Annotated[Path, typer.Option("--out", help="TREC run file to write")],
    data: DataOpt = None,
    split: SplitOpt = "test",
    queries: QueriesOpt = None,
    qrels: QrelsOpt = None,
    model: ModelOpt = None,
    k: Annotated[int, typer.Option(help="passages per query")] = 1000,
):
    """Search an index with the queries → TREC run (qid Q0 pid rank score tag)."""
    config = from_options(SearchConfig, index=str(index), out=str(out), data=data_config(data, split, None, queries, qrels), model=model, k=k)
    count = run_search(config)
    typer.echo(f"wrote {out} ({count} queries)")
