"""``tasb fuse``: TREC runs of the same queries fused into one (score interpolation or reciprocal rank fusion)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal, Optional

import typer

from tasb.apps.command import tasb_command
from tasb.apps.options import K, OUT, argument, described, option
from tasb.config import AT_LEAST_0, AT_LEAST_1, Checked


@dataclasses.dataclass
class FuseConfig(Checked):
    """``tasb fuse``: several TREC runs of the same queries fused into one."""

    runs: list[str] = dataclasses.field(default_factory=list)
    out: str = "fused.trec"
    # interpolation of per-query normalised scores (Lin et al.'s dense-sparse hybrids) or reciprocal rank fusion
    method: Literal["interpolation", "rrf"] = "interpolation"
    # one per run; empty: all equal
    weights: list[float] = dataclasses.field(default_factory=list)
    normalization: Literal["min-max", "z-score"] = "min-max"
    # RRF's k: 60 in Cormack et al.; larger values flatten the head's advantage
    rrf_k: int = 60
    k: int = 1000

    limits = {"weights": AT_LEAST_0, "rrf_k": AT_LEAST_0, "k": AT_LEAST_1}


def run_fuse(config: FuseConfig) -> Path:
    """Read ``config.runs``, fuse them, write the top-``k`` of each query to ``config.out``."""
    from tasb.data import read_run, write_run
    from tasb.retrieval.fusion import fuse

    runs = [read_run(path) for path in config.runs]
    fused = fuse(runs, config.method, config.weights, config.normalization, config.rrf_k)
    write_run(fused, config.out, tag=f"fused-{config.method}", k=config.k)
    return Path(config.out)


@tasb_command(
    FuseConfig,
    "tasb fuse runs/student.trec runs/bm25.test.trec --weight 0.7 --weight 0.3 --k 1000 --out runs/fused.trec",
    [
        argument("runs", Optional[list[Path]], "TREC runs of the same queries, two or more"),
        described(OUT, "fused TREC run to write"),
        option("method", str, "--method", "interpolation (of per-query normalised scores) or rrf"),
        option("weight", Optional[list[float]], "--weight", "one per run, in order; default: equal", "weights"),
        option("normalization", str, "--normalization", "interpolation: min-max or z-score, per query"),
        option("rrf_k", int, "--rrf-k", "rrf: the k of 1 / (k + rank)"),
        described(K, "passages kept per query"),
    ],
    aliases={"--depth": "--k"},
)
def command(config: FuseConfig) -> None:
    """Fuse runs, e.g. dense + BM25: score interpolation after per-query normalisation, or reciprocal rank fusion."""
    typer.echo(f"wrote {run_fuse(config)}")
