"""``tasb train``: distil the BERT_DOT student from a teacher score file. Its config, ``TrainConfig``, is the
student's recipe the experiment grid and the quickstart share; the run is ``tasb.training.run.train_from_config``,
the same function the Python API offers as ``tasb.train``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tasb.apps.command import user_errors
from tasb.apps.options import SetOpt


@user_errors
def command(
    config: Annotated[Optional[Path], typer.Argument(help="YAML config (TrainConfig fields)")] = None,
    overrides: SetOpt = None,
    resume: Annotated[bool, typer.Option(help="continue from the newest checkpoint in output_dir")] = False,
):
    """Margin-MSE training of the BERT_DOT student from a pairwise teacher score file."""
    from tasb.training.run import train_from_config

    folder = train_from_config(config, overrides or [], resume=resume)
    typer.echo(f"trained student in {folder / 'model'}")
