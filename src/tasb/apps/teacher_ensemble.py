"""``tasb teacher ensemble``: score files over the same pairs averaged, per-query z-normalised (the paper's ensemble)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import typer

from tasb.apps.command import tasb_command
from tasb.apps.options import OUT, SCORERS, argument, described
from tasb.config import AT_LEAST_0, Checked


@dataclasses.dataclass
class TeacherEnsembleConfig(Checked):
    """``tasb teacher ensemble``: which score files, at which weights."""

    scores: list[str] = dataclasses.field(default_factory=list)
    # one per score file; empty: equal
    weights: list[float] = dataclasses.field(default_factory=list)
    out: str = "ensemble.tsv"

    limits = {"weights": AT_LEAST_0}
    required = {"scores": "score files over the same pairs"}


def run_teacher_ensemble(config: TeacherEnsembleConfig) -> int:
    """Write the ensembled score file; returns how many pairs it holds."""
    from tasb.data import ensemble_files, write_scores

    return write_scores(ensemble_files(config.scores, config.weights or None), config.out)


@tasb_command(
    TeacherEnsembleConfig,
    "tasb teacher ensemble runs/scores_ce.tsv runs/scores_colbert.tsv --weight 1 --weight 0.5 --out runs/ensemble.tsv",
    [
        argument("scores", Optional[list[Path]], "score files over the same pairs"), described(OUT, "ensembled score file"),
        described(SCORERS[1], "weight per score file, in order; default: equal"),
    ],
)
def command(config: TeacherEnsembleConfig) -> None:
    """Average several score files (per-query z-normalised): the paper's teacher ensemble."""
    count = run_teacher_ensemble(config)
    typer.echo(f"wrote {config.out} ({count} pairs)")
