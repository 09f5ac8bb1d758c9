"""An error from library code names settings as the caller's user gave them (an option or a config key)."""

import pytest

from tasb.errors import InputError, named, renamed


def _raised(err: InputError, names: dict[str, str]) -> InputError:
    with pytest.raises(InputError) as caught, named(names):
        raise err
    return caught.value


def test_a_setting_placed_error_is_said_under_the_callers_name():
    err = _raised(InputError("weights", "one weight per scorer", "3"), {"weights": "scorer_weights"})
    assert str(err) == "scorer_weights: expected one weight per scorer, got '3'"


def test_settings_in_backticks_are_renamed_inside_the_text():
    err = _raised(InputError("data/run.trec", "a run for every query of `split`", "none for q1", line=4), {"split": "--split"})
    assert (err.path, err.line, err.expected) == ("data/run.trec", 4, "a run for every query of --split")


def test_on_a_command_line_an_existing_file_stays_the_place_even_when_it_shares_a_settings_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "index").mkdir()
    err = InputError("index", "an index folder", "no index.faiss")
    assert renamed(err, {"index": "--index"}, paths_win=True) is err
    # library callers map config keys: a folder that happens to share the name does not stop the renaming
    assert _raised(err, {"index": "pipeline.index"}).path == "pipeline.index"


def test_errors_located_by_line_or_naming_nothing_known_pass_through_unchanged():
    at_line = InputError("weights", "a number", "x", line=2)
    unknown = InputError("depth", "a positive number", "0")
    assert _raised(at_line, {"weights": "scorer_weights"}) is at_line
    assert _raised(unknown, {"weights": "scorer_weights"}) is unknown
