"""What a numeric config field admits, checked whenever a config is built (``Checked``) and again before a run (``check_config``)."""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Iterator

from tasb.errors import InputError


@dataclasses.dataclass(frozen=True)
class Range:
    """What a numeric field admits: a finite number from ``low`` (above it, when ``strict``) up to ``high``."""

    low: float | None = None
    high: float | None = None
    strict: bool = False

    def admits(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.strict else value < self.low):
            return False
        return self.high is None or value <= self.high

    def describe(self, value: float) -> str:
        if self.low is None and self.high is None:
            return "a finite number"
        if self.high is None:
            bound = f"above {_shown(self.low)}" if self.strict else f"at least {_shown(self.low)}"
        elif self.low is None:
            bound = f"at most {_shown(self.high)}"
        else:
            bound = f"from {_shown(self.low)} to {_shown(self.high)}"
        # an integer field cannot hold nan or inf: only a float field needs to hear "finite"
        return bound if isinstance(value, int) else f"a finite number {bound}"


def _shown(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


# the ranges numeric fields draw from: counts and sizes, rates and scales, seeds numpy accepts, ports
AT_LEAST_1 = Range(1)
AT_LEAST_0 = Range(0)
POSITIVE = Range(0, strict=True)
FRACTION = Range(0, 1)
SEED = Range(0, 2**32 - 1)
PORT = Range(1, 65535)


class FieldError(InputError):
    """A config field out of its range; the loader relocates it to the file line or option that gave the value."""

    def __init__(self, key: str, requirement: str, value: object):
        self.key, self.requirement = key, requirement
        super().__init__("config", f"{key} to be {requirement}", str(value))


class Checked:
    """A config whose numeric fields are checked whenever it is built, whoever builds it, and whose rules are
    checked before a run.

    ``limits`` maps each numeric field to its ``Range`` (None is always admitted where a field may be None; a
    list or mapping has each of its numbers checked); a config composed of sections (its base classes) takes
    theirs too, its own winning. ``validate`` holds the rules no single field can say: settings that contradict
    each other or that a run cannot do without (``required``; defaults need not pass them); ``check_config`` runs it."""

    limits: typing.ClassVar[dict[str, Range]] = {}
    # old key -> the field's name now: files written with the old key still load, with a warning naming it
    renamed: typing.ClassVar[dict[str, str]] = {}
    # fields a run cannot do without, each with what it should hold: refused by ``validate`` while empty
    required: typing.ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # a section's ranges and required fields hold in every config composed of it, beside the config's own
        super().__init_subclass__(**kwargs)
        for attribute in ("limits", "required"):
            merged: dict[str, Any] = {}
            for base in reversed(cls.__mro__):
                merged.update(base.__dict__.get(attribute, {}))
            setattr(cls, attribute, merged)

    def __post_init__(self) -> None:
        for name, limit in self.limits.items():
            for key, value in _numbers(name, getattr(self, name)):
                if not limit.admits(value):
                    raise FieldError(key, limit.describe(value), value)

    def validate(self) -> None:
        """Refuse settings that cannot run together, naming their keys: by default, only empty ``required`` fields."""
        for name, expected in self.required.items():
            if getattr(self, name) in ("", None, []):
                raise InputError(name, expected)


def _numbers(key: str, value: Any):
    """``(key, number)`` of every number in a field's value: the value itself, or a list's or mapping's items."""
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _numbers(f"{key}[{i}]", item)
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _numbers(f"{key}.{name}", item)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield key, value


def check_config(config: Any) -> None:
    """Check ``config`` and every section in it again (fields may have been set after it was built), then their
    rules, a config's before its sections'."""
    _check_ranges(config, "")
    for section in _sections(config):
        if isinstance(section, Checked):
            section.validate()


def _check_ranges(config: Any, prefix: str) -> None:
    try:
        if isinstance(config, Checked):
            config.__post_init__()
    except FieldError as err:
        raise FieldError(prefix + err.key, err.requirement, err.got) from None
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        sections = enumerate(value) if isinstance(value, list) else [(None, value)]
        for i, item in sections:
            if dataclasses.is_dataclass(item):
                _check_ranges(item, f"{prefix}{field.name}{'' if i is None else f'[{i}]'}.")


def _sections(config: Any) -> Iterator[Any]:
    """``config`` and every section nested in it, each before its own sections."""
    yield config
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        for item in value if isinstance(value, list) else [value]:
            if dataclasses.is_dataclass(item):
                yield from _sections(item)
