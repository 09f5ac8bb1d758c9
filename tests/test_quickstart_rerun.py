"""A quickstart rerun over a finished one keeps the finished run, whole, until it is finished itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tasb import layout
from tasb.apps.quickstart import QuickstartConfig, _start_over, run_quickstart
from tasb.config import save_config
from tasb.errors import InputError
from tasb.fsutil import remove_dir

FINISHED = ("student", "colbert", "baseline", "index-student")


def _trained(folder: Path, text: str) -> None:
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "weights").write_text(text)


def _finished_quickstart(out: Path) -> None:
    for name in FINISHED:
        _trained(out / name, f"finished {name}")
    (out / "results.md").write_text("finished table")
    save_config(QuickstartConfig(output_dir=str(out), train_steps=7), out / layout.CONFIG)
    layout.mark(out, layout.DONE)


def _start_over_again(out: Path) -> None:
    _start_over(QuickstartConfig(output_dir=str(out), train_steps=9), out)


def _weights(out: Path, name: str) -> str:
    return (out / name / "model" / "weights").read_text()


def _is_the_finished_run(folder: Path) -> bool:
    return (
        [_weights(folder, name) for name in FINISHED] == [f"finished {name}" for name in FINISHED]
        and (folder / "results.md").read_text() == "finished table"
        and yaml.safe_load((folder / layout.CONFIG).read_text())["train_steps"] == 7
        and layout.is_marked(folder, layout.DONE)
    )


def test_a_finished_run_moves_whole_to_previous_and_an_unfinished_rerun_is_cleared(tmp_path):
    out = tmp_path / "qs"
    _finished_quickstart(out)
    _start_over_again(out)
    assert _is_the_finished_run(out / "previous")
    assert sorted(p.name for p in out.iterdir()) == [layout.CONFIG, "previous"]
    assert yaml.safe_load((out / layout.CONFIG).read_text())["train_steps"] == 9
    # the rerun fails after training a baseline; the next rerun clears that, and previous/ still holds the finished run
    _trained(out / "baseline", "unfinished baseline")
    _start_over_again(out)
    assert not (out / "baseline").exists() and _is_the_finished_run(out / "previous")


def test_a_second_finished_run_replaces_the_first_in_previous(tmp_path):
    out = tmp_path / "qs"
    _finished_quickstart(out)
    _start_over_again(out)
    # a rerun killed after it marked itself DONE but before it discarded previous/
    _trained(out / "student", "second student")
    layout.mark(out, layout.DONE)
    _start_over_again(out)
    assert _weights(out / "previous", "student") == "second student" and not (out / "previous" / "colbert").exists()


def _killed_before_staging_was_marked(out: Path, staging: Path) -> None:
    staging.mkdir()  # the run folder is still DONE


def _killed_before_the_run_folder_lost_done(out: Path, staging: Path) -> None:
    staging.mkdir()
    layout.mark(staging, layout.DONE)


def _killed_halfway_through_the_moves(out: Path, staging: Path) -> None:
    staging.mkdir()
    shutil.copy2(out / layout.CONFIG, staging / layout.CONFIG)
    layout.mark(staging, layout.DONE)
    layout.unmark(out, layout.DONE)
    (out / "student").rename(staging / "student")  # the run folder shows no DONE


@pytest.mark.parametrize(
    "kill", [_killed_before_staging_was_marked, _killed_before_the_run_folder_lost_done, _killed_halfway_through_the_moves]
)
def test_a_set_aside_killed_at_any_step_is_finished_by_the_next_rerun(tmp_path, kill):
    out = tmp_path / "qs"
    staging = out / ".previous.staging"
    _finished_quickstart(out)
    kill(out, staging)
    _start_over_again(out)
    assert _is_the_finished_run(out / "previous") and not staging.exists()


def test_a_delete_killed_midway_never_leaves_previous_looking_whole(tmp_path):
    out = tmp_path / "qs"
    _finished_quickstart(out)
    _start_over_again(out)
    # killed while deleting: the half-deleted folder is under .previous.tasb-old, and the next rerun clears it
    (out / "previous").rename(out / ".previous.tasb-old")
    (out / ".previous.tasb-old" / "results.md").unlink()
    assert not (out / "previous").exists()
    _trained(out / "student", "second student")
    layout.mark(out, layout.DONE)
    _start_over_again(out)
    assert not (out / ".previous.tasb-old").exists() and _weights(out / "previous", "student") == "second student"
    remove_dir(out / "previous")
    assert sorted(p.name for p in out.iterdir()) == [layout.CONFIG]


def test_a_rerun_leaves_the_users_own_files_in_the_folder_where_they_are(tmp_path):
    out = tmp_path / "qs"
    _finished_quickstart(out)
    (out / "my.trec").write_text("the user's run")
    _trained(out / "ce2", "the user's cross-encoder")
    _start_over_again(out)
    assert _is_the_finished_run(out / "previous") and not (out / "previous" / "my.trec").exists()
    # the rerun finishes and discards previous/: the user's files were never in it
    remove_dir(out / "previous")
    assert (out / "my.trec").read_text() == "the user's run" and _weights(out, "ce2") == "the user's cross-encoder"
    # an unfinished run's trained folders are cleared, the user's are not
    _trained(out / "baseline", "unfinished baseline")
    _start_over_again(out)
    assert not (out / "baseline").exists() and _weights(out, "ce2") == "the user's cross-encoder"


@pytest.mark.parametrize("key", ["student.model", "colbert.model", "cross_encoder.model"])
def test_a_starting_model_inside_what_a_rerun_sets_aside_is_refused_before_anything_moves(tmp_path, key):
    out = tmp_path / "qs"
    _finished_quickstart(out)
    config = QuickstartConfig(output_dir=str(out))
    section, field = key.split(".")
    setattr(getattr(config, section), field, str(out / "student" / "model"))
    with pytest.raises(InputError, match="a model outside the quickstart's own folders") as caught:
        run_quickstart(config)
    assert caught.value.path == key
    assert _is_the_finished_run(out) and not (out / "previous").exists()
