"""Configs from YAML and ``--set key=value``: unknown keys and mistyped values refused, each named at its line.

Nested sections use dotted keys (``--set student.pooling=cls``). Unknown keys and values of the wrong
type are refused with an :class:`~tasb.errors.InputError` naming the key and the line of the file (or the
``--set`` option) that gave it, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from tasb import __version__
from tasb.config.ranges import FieldError
from tasb.errors import InputError
from tasb.fsutil import atomic_write
from tasb.layout import VERSION_KEY

C = TypeVar("C")
logger = logging.getLogger(__name__)


def _field_types(cls: type) -> dict[str, Any]:
    # fields only: class-level settings such as ``Checked.limits`` are not keys of a config
    hints = typing.get_type_hints(cls)
    return {field.name: hints[field.name] for field in dataclasses.fields(cls)}


def _locate(key: str, source: str, lines: dict[str, int | str] | None) -> tuple[str, int | None]:
    """Where the value of ``key`` came from: a line of ``source``, or the ``--set`` option that replaced it."""
    found = lines.get(key) if lines else None
    if isinstance(found, str):
        return found, None
    return source, found


def _refused(key: str, at: str, requirement: str, got: str | None, line: int | None) -> InputError:
    """``key``'s value refused where it came from; an option (``--k``) sets one key, so its error need not name it."""
    by_option = at.startswith("--") and not at.startswith("--set ")
    return InputError(at, requirement if by_option else f"{key} to be {requirement}", got, line=line)


def _coerce(value: Any, annotation: Any, key: str, source: str, lines: dict[str, int | str] | None = None) -> Any:
    """``value`` checked against ``annotation``; ``lines`` (see :func:`from_dict`) locates a refusal."""
    at, line = _locate(key, source, lines)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option, key, source, lines)
            except InputError as err:
                errors.append(err)
        raise errors[0]
    if origin is Literal:
        if value not in args:
            raise _refused(key, at, f"one of {', '.join(map(str, args))}", repr(value), line)
        return value
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise _refused(key, at, f"a mapping of {annotation.__name__} fields", repr(value), line)
        return from_dict(annotation, value, source, prefix=f"{key}.", lines=lines)
    if origin is list:
        if not isinstance(value, list):
            raise _refused(key, at, "a list", repr(value), line)
        return [_coerce(item, args[0], f"{key}[{i}]", source, lines) for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _refused(key, at, "a mapping", repr(value), line)
        return {str(k): _coerce(v, args[1], f"{key}.{k}", source, lines) for k, v in value.items()}
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise _refused(key, at, "true or false", repr(value), line)
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _refused(key, at, "an integer", repr(value), line)
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "7e-6" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise _refused(key, at, "a number", repr(value), line)
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise _refused(key, at, "a string", repr(value), line)
    if annotation is type(None):
        if value is None:
            return None
        raise _refused(key, at, "null", repr(value), line)
    raise TypeError(f"unsupported config annotation {annotation!r} for {key}")


def _line_of(lines: dict[str, int | str], key: str) -> int:
    found = lines.get(key, 0)
    return found if isinstance(found, int) else 0


def from_dict(
    cls: type[C], values: dict[str, Any], source: str = "config", prefix: str = "", lines: dict[str, int | str] | None = None
) -> C:
    """Build dataclass ``cls`` from a plain mapping, refusing unknown keys and mistyped values.

    ``lines`` maps dotted keys (``student.pooling``, ``grids[0].seed``) to their line in the file ``source``
    names, or to another source (``--set``) that gave their value, for an error to point at.
    """
    hints = _field_types(cls)
    lines = lines if lines is not None else {}
    values = _renamed_keys(cls, values, source, prefix, lines)
    # the first unknown key in the file (keys YAML read as numbers too: `1: x` is a key, not a crash)
    unknown = sorted(set(values) - set(hints), key=lambda k: (_line_of(lines, f"{prefix}{k}"), str(k)))
    if unknown:
        key = f"{prefix}{unknown[0]}"
        at, line = _locate(key, source, lines)
        raise InputError(at, f"keys of {cls.__name__} ({', '.join(sorted(hints))})", key, line=line)
    values = dict(values)
    for field in dataclasses.fields(cls):
        # a section or mapping given in part updates its own defaults (e.g. the quickstart's teacher budget)
        # key by key, rather than falling back to the defaults of its class
        given = values.get(field.name)
        if isinstance(given, dict) and field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
            if dataclasses.is_dataclass(default):
                # old names first, or the section's defaults would give the new name beside the old one
                given = _renamed_keys(type(default), given, source, f"{prefix}{field.name}.", lines)
                values[field.name] = {**to_dict(default), **given}
            elif isinstance(default, dict):
                values[field.name] = {**default, **given}
    kwargs = {name: _coerce(val, hints[name], prefix + name, source, lines) for name, val in values.items()}
    try:
        return cls(**kwargs)
    except FieldError as err:
        # out of range: named at the line of the file or the option that gave the value, not the config as a whole
        key = f"{prefix}{err.key}"
        at, line = _locate(_given_as(key, lines), source, lines)
        raise _refused(key, at, err.requirement, err.got, line) from None


def _renamed_keys(cls: type, values: dict[str, Any], source: str, prefix: str, lines: dict[str, int | str]) -> dict[str, Any]:
    """``values`` with the keys ``cls.renamed`` lists under their new names (``section.key`` moves a key into a
    section), each said once: old files and ``--set`` keys keep working."""
    old_keys = [old for old in getattr(cls, "renamed", {}) if old in values]
    if not old_keys:
        return values
    values = dict(values)
    for old in old_keys:
        new = cls.renamed[old]
        at, line = _locate(f"{prefix}{old}", source, lines)
        *sections, name = new.split(".")
        node = values
        for section in sections:
            node[section] = dict(node.get(section) or {})
            node = node[section]
        if name in node:
            raise InputError(at, f"{prefix}{new} (the new name of {prefix}{old}) or {prefix}{old}, not both", f"{old} and {new}", line=line)
        node[name] = values.pop(old)
        if f"{prefix}{old}" in lines:
            lines[f"{prefix}{new}"] = lines[f"{prefix}{old}"]
        where = f"{at}:{line}" if line else at
        logger.warning("%s: %s%s is now %s%s (the old name goes in the next release)", where, prefix, old, prefix, new)
    return values


def _given_as(key: str, lines: dict[str, int | str]) -> str:
    """The key ``lines`` knows for ``key``: itself, or the list or section it is in (``--set weights=[1, .nan]``)."""
    while key not in lines and (shorter := re.sub(r"(\[\d+\]|\.[^.\[]+)$", "", key)) != key:
        key = shorter
    return key


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise InputError("--set", "key=value", item)
    key, raw = item.split("=", 1)
    return key.strip().split("."), yaml.safe_load(raw) if raw.strip() else ""


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Merge ``key.sub=value`` strings (values parsed as YAML scalars) into a nested mapping."""
    for item in overrides:
        path, value = _parse_override(item)
        _put(values, path, value, f"--set {item}")
    return values


def _put(values: dict[str, Any], path: list[str], value: Any, given_by: str) -> None:
    node = values
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise InputError(given_by, f"{'.'.join(path[:-1])} to be a section", repr(node))
    node[path[-1]] = value


def load_config(
    cls: type[C], path: str | Path | None = None, overrides: list[str] | None = None, options: dict[str, tuple[str, Any]] | None = None
) -> C:
    """Defaults of ``cls``, then the YAML file at ``path``, then ``overrides``, then ``options``.

    ``options`` maps dotted keys to ``(option, value)``: values a command's options gave, already typed. A refused
    key or value of the file is reported with its line, one of ``overrides`` or ``options`` by the option."""
    values: dict[str, Any] = {}
    source = "config"
    lines: dict[str, int | str] = {}
    if path is not None:
        source = str(path)
        text = _read_text(Path(path))
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as err:
            line, problem = _yaml_problem(err, text)
            raise InputError(path, "valid YAML", problem, line=line) from None
        if loaded is not None and not isinstance(loaded, dict):
            raise InputError(path, "a YAML mapping of config keys", type(loaded).__name__)
        values = loaded or {}
        lines = _key_lines(text)
    values.pop(VERSION_KEY, None)  # stamped by save_config: a saved config loads back unchanged
    given = [(_parse_override(item), f"--set {item}") for item in overrides or []]
    given += [((key.split("."), value), option) for key, (option, value) in (options or {}).items()]
    for (path_parts, value), option in given:
        _put(values, path_parts, value, option)
        # a value given by option is not on the file's line any more: an error names the option, not the file
        key = ".".join(path_parts)
        lines = {k: v for k, v in lines.items() if not k.startswith((f"{key}.", f"{key}["))}
        lines[key] = option
    return from_dict(cls, values, source, lines=lines)


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "an existing YAML config file", "no such file") from None
    except OSError as err:
        raise InputError(path, "a readable YAML config file", err.strerror or str(err)) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise InputError(path, "UTF-8 text", f"undecodable bytes ({err.reason})", line=line) from None


def _yaml_problem(err: yaml.YAMLError, text: str) -> tuple[int | None, str]:
    """The line of a YAML syntax error and what went wrong there.

    An unclosed bracket or quote is only noticed at the end of the file, past its last line: the line where
    the unclosed construct began (the error's context) is the one to fix.
    """
    problem = getattr(err, "problem", None)
    context = getattr(err, "context", None)
    said = "; ".join(part for part in (context, problem) if part) or str(err).splitlines()[0]
    mark = getattr(err, "problem_mark", None)
    if mark is None:
        return None, said
    last = max(len(text.splitlines()), 1)
    line = mark.line + 1
    context_mark = getattr(err, "context_mark", None)
    if line > last and context_mark is not None:
        line = context_mark.line + 1
    return min(line, last), said


def _key_lines(text: str) -> dict[str, int | str]:
    """Dotted key (``student.pooling``, ``grids[0].seed``) -> its 1-based line in a YAML document."""
    lines: dict[str, int | str] = {}

    def walk(node: yaml.Node, key: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    name = f"{key}.{key_node.value}" if key else key_node.value
                    # a key given twice keeps its last value (as PyYAML does), so its last line is the one to name
                    lines[name] = key_node.start_mark.line + 1
                    walk(value_node, name)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                name = f"{key}[{i}]"
                lines.setdefault(name, item.start_mark.line + 1)
                walk(item, name)

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    if root is not None:
        walk(root, "")
    return lines


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def save_config(config: Any, path: str | Path) -> None:
    """Write the resolved config, stamped with the package version that ran it."""
    values = {VERSION_KEY: __version__, **to_dict(config)}
    with atomic_write(path) as handle:
        yaml.safe_dump(values, handle, sort_keys=False)
