"""``tasb search``: an index searched with the queries → a TREC run."""

from __future__ import annotations

import dataclasses

import typer

from tasb.apps.command import tasb_command
from tasb.apps.options import DENSE_SEARCH, K, OUT, described, open_index
from tasb.config import AT_LEAST_1, DataConfig, Placement


@dataclasses.dataclass
class SearchConfig(Placement):
    """``tasb search``: each query's top-k passages of an index."""

    index: str = ""
    out: str = "dense.trec"
    data: DataConfig = dataclasses.field(default_factory=lambda: DataConfig(split="test"))
    # None: the model that built the index
    model: str | None = None
    k: int = 1000

    limits = {"k": AT_LEAST_1}
    required = {"index": "an index folder"}


def run_search(config: SearchConfig) -> int:
    """Write the run; returns how many queries it ranks."""
    from tasb.data import write_run
    from tasb.retrieval.index import search

    dense, topics, student = open_index(config.index, config.data, config.model, config.device)
    write_run(search(dense, student, topics, k=config.k, check_model=False), config.out, tag="tasb", k=config.k)
    return len(topics)


@tasb_command(
    SearchConfig,
    "tasb search --index runs/index --data scifact --split test --k 1000 --out runs/student.trec",
    [*DENSE_SEARCH, K, described(OUT, "TREC run file to write")],
)
def command(config: SearchConfig) -> None:
    """Search an index with the queries → TREC run (qid Q0 pid rank score tag)."""
    count = run_search(config)
    typer.echo(f"wrote {config.out} ({count} queries)")
