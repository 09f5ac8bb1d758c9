"""``tasb bm25``: BM25 (bm25s, English stemming) over a corpus → a TREC run."""

from __future__ import annotations

import dataclasses

import typer

from tasb.apps.command import tasb_command
from tasb.apps.options import DATA, K, OUT, described, load, option
from tasb.config import AT_LEAST_0, AT_LEAST_1, FRACTION, Checked, DataConfig


@dataclasses.dataclass
class Bm25Config(Checked):
    """``tasb bm25``: the queries' top-k passages by BM25."""

    out: str = "bm25.trec"
    data: DataConfig = dataclasses.field(default_factory=lambda: DataConfig(split="test"))
    k: int = 1000
    # Anserini's MS MARCO setting: k1 0.9, b 0.4
    k1: float = 1.5
    b: float = 0.75

    limits = {"k": AT_LEAST_1, "k1": AT_LEAST_0, "b": FRACTION}


def run_bm25(config: Bm25Config) -> int:
    """Write the run; returns how many queries it ranks."""
    from tasb.data import write_run
    from tasb.retrieval.bm25 import bm25_search

    dataset = load(config.data, need_qrels=False)
    write_run(bm25_search(dataset.corpus, dataset.queries, k=config.k, k1=config.k1, b=config.b), config.out, tag="bm25", k=config.k)
    return len(dataset.queries)


@tasb_command(
    Bm25Config,
    "tasb bm25 --data scifact --split test --k 1000 --out runs/bm25.test.trec",
    [
        described(OUT, "TREC run file to write"), *DATA, K,
        option("k1", float, "--k1", "BM25 k1 (Anserini's MS MARCO setting: 0.9)"),
        option("b", float, "--b", "BM25 b (Anserini's MS MARCO setting: 0.4)"),
    ],
)
def command(config: Bm25Config) -> None:
    """BM25 (bm25s, English stemming) over the corpus → TREC run."""
    count = run_bm25(config)
    typer.echo(f"wrote {config.out} ({count} queries)")
