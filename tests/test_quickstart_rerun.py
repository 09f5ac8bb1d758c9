"""A quickstart rerun over a finished one keeps the finished run's models until it is finished itself."""

from __future__ import annotations

from pathlib import Path

from tasb import layout
from tasb.apps.quickstart import QuickstartConfig, _start_over


def _trained(folder: Path, text: str) -> None:
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "weights").write_text(text)


def _finished_quickstart(out: Path) -> None:
    for name in ("student", "colbert", "baseline"):
        _trained(out / name, f"finished {name}")
    layout.mark(out, layout.DONE)


def _weights(out: Path, name: str) -> str:
    return (out / name / "model" / "weights").read_text()


def test_a_finished_run_moves_to_previous_and_an_unfinished_rerun_is_cleared(tmp_path):
    out = tmp_path / "qs"
    _finished_quickstart(out)
    _start_over(QuickstartConfig(output_dir=str(out)), out)
    assert not layout.is_marked(out, layout.DONE)
    assert not any((out / name).exists() for name in ("student", "colbert", "baseline"))
    assert [_weights(out / "previous", n) for n in ("student", "colbert", "baseline")] == ["finished student", "finished colbert", "finished baseline"]
    # the rerun fails after training a baseline; the next rerun clears that, and previous/ still holds the finished run
    _trained(out / "baseline", "unfinished baseline")
    _start_over(QuickstartConfig(output_dir=str(out)), out)
    assert not (out / "baseline").exists()
    assert _weights(out / "previous", "baseline") == "finished baseline"


def test_a_second_finished_run_replaces_the_first_in_previous(tmp_path):
    out = tmp_path / "qs"
    _finished_quickstart(out)
    _start_over(QuickstartConfig(output_dir=str(out)), out)
    # a rerun killed after it marked itself DONE but before it removed previous/
    _trained(out / "student", "second student")
    layout.mark(out, layout.DONE)
    _start_over(QuickstartConfig(output_dir=str(out)), out)
    assert _weights(out / "previous", "student") == "second student"
    assert not (out / "previous" / "colbert").exists()


def test_a_set_aside_killed_halfway_is_finished_by_the_next_rerun(tmp_path):
    out = tmp_path / "qs"
    _finished_quickstart(out)
    staging = out / ".previous.staging"
    staging.mkdir()
    (out / "student").rename(staging / "student")  # killed after moving the first folder
    _start_over(QuickstartConfig(output_dir=str(out)), out)
    assert [_weights(out / "previous", n) for n in ("student", "colbert", "baseline")] == ["finished student", "finished colbert", "finished baseline"]
    assert not staging.exists()
    # killed once staging was whole and the run unmarked, before it became previous/
    (out / "previous").rename(staging)
    _start_over(QuickstartConfig(output_dir=str(out)), out)
    assert _weights(out / "previous", "colbert") == "finished colbert" and not staging.exists()
