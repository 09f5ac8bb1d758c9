"""``tasb fuse``: TREC runs of the same queries fused into one (score interpolation or reciprocal rank fusion)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from tasb.apps.command import from_options, user_errors
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
    depth: int = 1000

    limits = {"weights": AT_LEAST_0, "rrf_k": AT_LEAST_0, "depth": AT_LEAST_1}


def run_fuse(config: FuseConfig) -> Path:
    """Read ``config.runs``, fuse them, write the top-``depth`` of each query to ``config.out``."""
    from tasb.data import read_run, write_run
    from tasb.retrieval.fusion import fuse

    runs = [read_run(path) for path in config.runs]
    fused = fuse(runs, config.method, config.weights, config.normalization, config.rrf_k)
    write_run(fused, config.out, tag=f"fused-{config.method}", k=config.depth)
    return Path(config.out)


@user_errors(flags={"weights": "--weight", "rrf_k": "--rrf-k"})
def command(
    runs: Annotated[list[Path], typer.Argument(help="TREC runs of the same queries, two or more")],
    out: Annotated[Path, typer.Option(help="fused TREC run to write")],
    method: Annotated[str, typer.Option(help="interpolation (of per-query normalised scores) or rrf")] = "interpolation",
    weight: Annotated[Optional[list[float]], typer.Option(help="one per run, in order; default: equal")] = None,
    normalization: Annotated[str, typer.Option(help="interpolation: min-max or z-score, per query")] = "min-max",
    rrf_k: Annotated[int, typer.Option(help="rrf: the k of 1 / (k + rank)")] = 60,
    depth: Annotated[int, typer.Option(help="passages kept per query")] = 1000,
):
    """Fuse runs, e.g. dense + BM25: score interpolation after per-query normalisation, or reciprocal rank fusion."""
    config = from_options(
        FuseConfig, {"weights": "--weight"}, runs=[str(r) for r in runs], out=str(out), method=method, weights=weight or [],
        normalization=normalization, rrf_k=rrf_k, depth=depth,
    )
    typer.echo(f"wrote {run_fuse(config)}")
