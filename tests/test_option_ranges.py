"""Every numeric option and config field is checked before any work (issue 17, part 2): 0, -1, nan and inf are
refused with exit status 2 and one line naming the option, or with the field and the line of the config that gave it,
unless the value is one the option documents (a weight of 0 in an ensemble, warmup_steps 0, seed 0, ...).

The commands and their options are read from the CLI itself and the fields from the config classes, so a
new option or field is walked too: one without a declared range fails here.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil
import types
import typing

import pytest
import typer
from typer.testing import CliRunner

import tasb.apps
import tasb.config
from tasb.cli import app
from tasb.config import Checked, TrainConfig, check_config, from_dict, load_config
from tasb.errors import InputError

VALUES = ("0", "-1", "nan", "inf")

# options and fields for which 0 is a documented value; -1, nan and inf never are
ZERO_OPTIONS = {"seed", "rrf_k", "synthetic", "plot_examples", "weight", "seconds", "k1", "b"}
ZERO_FIELDS = {
    "TeacherConfig": {"warmup_steps", "seed"},
    "ColbertConfig": {"dim", "warmup_steps", "seed"},
    "TeacherTrainConfig": {"warmup_steps", "seed"},
    "ColbertTrainConfig": {"dim", "warmup_steps", "seed"},
    "ValidationConfig": {"queries", "seed"},
    "TrainConfig": {"alpha", "pairwise_weight", "colbert_cache_max_gb", "steps", "contrastive_weight", "warmup_steps", "seed"},
    "GridConfig": {"seed"},
    "IndexConfig": {"ivf_lists", "pq_subquantizers"},
    "FuseConfig": {"weights", "rrf_k"},
    "PipelineConfig": {"bm25_k1", "bm25_b", "fusion_weights", "rrf_k", "scorer_weights"},
    "ServeConfig": {"batch_wait_ms"},
    "LatencyConfig": {"seconds", "warmup", "synthetic", "seed"},
    "ClusterConfig": {"seed", "plot_examples"},
    "SampleConfig": {"seed"},
    "QuickstartConfig": {
        "teacher_ensemble", "alpha", "pairwise_weight", "train_steps", "warmup_steps", "contrastive_weight", "validation_queries", "seed",
    },
    # the sections configs are composed of
    "Optimisation": {"warmup_steps", "seed"},
    "TeacherRecipe": {"warmup_steps", "seed"},
    "Teaching": {"alpha", "pairwise_weight", "contrastive_weight"},
    "InBatchTeacherSpec": {"colbert_cache_max_gb"},
    "Scoring": {"weights"},
    # the configs of the commands whose options are all they take
    "Bm25Config": {"k1", "b"},
    "TeacherScoreConfig": {"weights", "seed"},
    "TeacherEnsembleConfig": {"weights"},
    "TeacherEvalConfig": {"weights"},
    "RerankConfig": {"weights"},
}


def _number_kind(annotation) -> str | None:
    """``number``, ``list`` or ``mapping`` for a field holding numbers (possibly None); None for any other field."""
    options = [a for a in typing.get_args(annotation) if a is not type(None)] if typing.get_origin(annotation) in (
        typing.Union, types.UnionType) else [annotation]
    for option in options:
        if option in (int, float):
            return "number"
        if typing.get_origin(option) is list and typing.get_args(option)[0] in (int, float):
            return "list"
        if typing.get_origin(option) is dict and typing.get_args(option)[1] in (int, float):
            return "mapping"
    return None


def _commands():
    """``(path, click command)`` of every command the CLI runs, subcommands and the ``tasb index`` callback included."""

    def walk(command, path):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    return [(path, command) for path, command in walk(typer.main.get_command(app), []) if path]


def _numeric(param) -> bool:
    return _number_kind(param.type_descriptor.annotation) is not None


def _integer(param) -> bool:
    return param.type_descriptor.annotation in (int, list[int])


def _required(command, tested) -> list[str]:
    """Placeholder values for the command's required arguments and options: the option under test must be refused first."""
    argv: list[str] = []
    for param in command.params:
        if param is tested or not param.required:
            continue
        argv += ["x"] if param.param_type_name == "argument" else [param.opts[0], "bm25" if param.name == "teacher" else "x"]
    return argv


OPTION_CASES = [
    pytest.param(path, param.opts[0], value, id=f"{' '.join(path)} {param.opts[0]} {value}")
    for path, command in _commands()
    for param in command.params
    if _numeric(param)
    for value in VALUES
    if not (value == "0" and param.name in ZERO_OPTIONS)
]


def test_the_walk_finds_the_options_the_issue_names():
    found = {(" ".join(path), option) for path, option, _ in (case.values for case in OPTION_CASES)}
    for case in [("bm25", "--k"), ("bm25", "--k1"), ("fuse", "--k"), ("fuse", "--weight"), ("teacher score", "--negatives-depth"),
                 ("teacher score", "--negatives-per-query"), ("evaluate", "--rel"), ("index", "--batch-size")]:
        assert case in found


@pytest.mark.parametrize("path, option, value", OPTION_CASES)
def test_every_numeric_option_out_of_range_is_refused_before_any_work(path, option, value, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    command = next(found for at, found in _commands() if at == path)
    tested = next(param for param in command.params if option in param.opts)
    result = CliRunner().invoke(app, [*path, *_required(command, tested), option, value])

    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), f"{type(result.exception).__name__}: {result.exception}"
    assert result.exit_code == 2, result.output
    if _integer(tested) and value in ("nan", "inf"):
        # not a number of the option's type: click's own usage error, before the command starts
        assert f"Invalid value for '{option}'" in result.output
    else:
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert errors == [errors[0]] and errors[0].startswith(f"error: {option}: expected "), result.output
    assert list(tmp_path.iterdir()) == [], "a refused option left output behind"


def _config_classes() -> list[type]:
    """Every config class: the sections of tasb.config and each command's own (tasb.apps)."""
    modules = [tasb.config, *(importlib.import_module(f"tasb.apps.{info.name}") for info in pkgutil.iter_modules(tasb.apps.__path__))]
    found = {obj for module in modules for obj in vars(module).values() if isinstance(obj, type) and issubclass(obj, Checked)}
    return sorted(found - {Checked}, key=lambda cls: cls.__name__)


FIELD_CASES = [
    pytest.param(cls, field.name, kind, id=f"{cls.__name__}.{field.name}")
    for cls in _config_classes()
    for field in dataclasses.fields(cls)
    if (kind := _number_kind(typing.get_type_hints(cls)[field.name])) is not None
]


def test_every_config_class_is_walked():
    walked = {cls.__name__ for cls, _, _ in (case.values for case in FIELD_CASES)}
    assert {"TrainConfig", "TeacherConfig", "ColbertConfig", "QuickstartConfig", "FuseConfig", "IndexConfig", "Bm25Config"} <= walked
    assert set(ZERO_FIELDS) <= walked


@pytest.mark.parametrize("cls, name, kind", FIELD_CASES)
def test_every_numeric_field_has_a_range_and_refuses_what_is_out_of_it(cls, name, kind):
    assert name in cls.limits, f"{cls.__name__}.{name} has no range in {cls.__name__}.limits"
    for value in (0, -1, math.nan, math.inf):
        shaped = {"number": value, "list": [1, value], "mapping": {"member": value}}[kind]
        if value == 0 and name in ZERO_FIELDS.get(cls.__name__, set()):
            from_dict(cls, {name: shaped})
            continue
        with pytest.raises(InputError, match=rf"{name}\S* to be "):
            from_dict(cls, {name: shaped})


def test_a_field_out_of_range_is_named_at_its_line_or_option(tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text("steps: 10\nlearning_rate: .nan\nvalidation:\n  every: 5\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"train.yaml:2: expected learning_rate to be a finite number above 0, got 'nan'"):
        load_config(TrainConfig, config)
    with pytest.raises(InputError, match=r"^--set score_scale=nan: expected score_scale to be a finite number above 0"):
        load_config(TrainConfig, config, ["learning_rate=1e-5", "score_scale=nan"])
    with pytest.raises(InputError, match=r"^--set validation.rel=0: expected validation.rel to be at least 1, got '0'"):
        load_config(TrainConfig, config, ["learning_rate=1e-5", "validation.rel=0"])


def test_a_field_set_after_the_config_was_built_is_checked_again():
    config = TrainConfig()
    config.validation.every = 0
    with pytest.raises(InputError, match="validation.every to be at least 1"):
        check_config(config)
    with pytest.raises(InputError, match="learning_rate to be a finite number above 0"):
        dataclasses.replace(TrainConfig(), learning_rate=-1.0)


@pytest.mark.parametrize("grade", ["100000000000000000000000", "3000000000", "-2147483649"])
def test_a_grade_trec_eval_cannot_hold_is_refused_at_its_line(grade, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "qrels.txt").write_text(f"q1 0 p1 1\nq1 0 p2 {grade}\n", encoding="utf-8")
    (tmp_path / "run.trec").write_text("q1 Q0 p1 1 1.0 x\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["evaluate", "--run", "run.trec", "--qrels", "qrels.txt"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"error: qrels.txt:2: expected a relevance grade from -2147483648 to 2147483647, got '{grade}'"
