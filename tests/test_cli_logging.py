"""What every command shares: --version, -h, and how much it says (--quiet / --verbose)."""

import logging
import os

import pytest
from typer.testing import CliRunner

from tasb import __version__
from tasb.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _restore_tasb_logging():
    logger = logging.getLogger("tasb")
    level, handlers, bars = logger.level, list(logger.handlers), os.environ.pop("TQDM_DISABLE", None)
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers
    os.environ.pop("TQDM_DISABLE", None)
    if bars is not None:
        os.environ["TQDM_DISABLE"] = bars


def test_version_and_short_help():
    assert runner.invoke(app, ["--version"]).output.strip() == f"tasb {__version__}"
    shown = runner.invoke(app, ["bm25", "-h"])
    assert shown.exit_code == 0 and "Usage" in shown.output


@pytest.mark.parametrize("flags, level", [([], logging.INFO), (["--quiet"], logging.WARNING), (["-v"], logging.DEBUG)])
def test_tasb_messages_follow_quiet_and_verbose(flags, level):
    assert runner.invoke(app, [*flags, "evaluate", "--help"]).exit_code == 0
    logger = logging.getLogger("tasb")
    assert logger.level == level
    assert sum(type(handler).__name__ == "_ToStderr" for handler in logger.handlers) == 1


def test_quiet_turns_progress_bars_off_and_both_flags_are_refused():
    assert runner.invoke(app, ["--quiet", "evaluate", "--help"]).exit_code == 0
    assert os.environ.get("TQDM_DISABLE") == "1"
    refused = runner.invoke(app, ["--quiet", "--verbose", "evaluate", "--help"])
    assert refused.exit_code == 2 and "not both" in refused.output
