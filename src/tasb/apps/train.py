"""``tasb train``: distil the BERT_DOT student from a teacher score file. Its config, ``TrainConfig``, is the
student's recipe the experiment grid and the quickstart share; the run is ``tasb.training.run.train_from_config``,
the same function the Python API offers as ``tasb.train``."""

from __future__ import annotations

from typing import Annotated

import typer

from tasb.apps.command import Opt, tasb_command
from tasb.apps.options import DEVICE
from tasb.config import TrainConfig

# a switch of this run, not a setting of the recipe: the recipe saved with the run stays the same either way
RESUME = Opt("resume", Annotated[bool, typer.Option("--resume", help="continue from the newest checkpoint in output_dir")], None, False)


@tasb_command(
    TrainConfig, "tasb train configs/scifact.yaml --set steps=500 --set output_dir=runs/student --device cpu", [DEVICE, RESUME],
    positional_config=True,
)
def command(config: TrainConfig, resume: bool) -> None:
    """Margin-MSE training of the BERT_DOT student from a pairwise teacher score file."""
    from tasb.training.run import train_from_config

    folder = train_from_config(config, resume=resume)
    typer.echo(f"trained student in {folder / 'model'}")
