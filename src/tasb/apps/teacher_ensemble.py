"""``tasb teacher ensemble``: score files over the same pairs averaged, per-query z-normalised (the paper's ensemble)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from tasb.apps.command import from_options, user_errors
from tasb.apps.options import WeightOpt
from tasb.config import AT_LEAST_0, Checked


@dataclasses.dataclass
class TeacherEnsembleConfig(Checked):
    """``tasb teacher ensemble``: which score files, at which weights."""

    scores: list[str] = dataclasses.field(default_factory=list)
    # one per score file; empty: equal
    weight: list[float] = dataclasses.field(default_factory=list)
    out: str = "ensemble.tsv"

    limits = {"weight": AT_LEAST_0}


def run_teacher_ensemble(config: TeacherEnsembleConfig) -> int:
    """Write the ensembled score file; returns how many pairs it holds."""
    from tasb.data import ensemble_files, write_scores

    return write_scores(ensemble_files(config.scores, config.weight or None), config.out)


@user_errors(flags={"weights": "--weight"})
def command(
    scores: Annotated[list[Path], typer.Argument(help="score files over the same pairs")],
    out: Annotated[Path, typer.Option("--out", help="ensembled score file")],
    weight: WeightOpt = None,
):
    """Average several score files (per-query z-normalised): the paper's teacher ensemble."""
    config = from_options(TeacherEnsembleConfig, scores=[str(path) for path in scores], weight=weight or [], out=str(out))
    count = run_teacher_ensemble(config)
    typer.echo(f"wrote {out} ({count} pairs)")
