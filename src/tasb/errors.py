"""Errors a user can fix: the CLI prints them without a traceback."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Iterator, Mapping


class InputError(Exception):
    """Bad user input, located precisely enough to fix it.

    ``path`` and ``line`` (1-based) say where, ``expected`` what the file should hold there, ``got`` what it held.
    """

    def __init__(self, path: str | Path | None, expected: str, got: str | None = None, line: int | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        self.expected = expected
        self.got = got
        super().__init__(self._message())

    def _message(self) -> str:
        where = self.path or "input"
        if self.line is not None:
            where += f":{self.line}"
        msg = f"{where}: expected {self.expected}"
        if self.got is not None:
            shown = self.got if len(self.got) <= 120 else self.got[:117] + "..."
            msg += f", got {shown!r}"
        return msg


@contextlib.contextmanager
def named(names: Mapping[str, str]) -> Iterator[None]:
    """An ``InputError`` of the block located at a setting ``names`` knows is raised again under the name it maps to.

    Library code names the setting it was given (``depth``); its caller says how the user gave it: an option
    (``--depth``) or a config key (``pipeline.depth``)."""
    try:
        yield
    except InputError as err:
        found = renamed(err, names)
        if found is err:
            raise
        raise found from None


def renamed(err: InputError, names: Mapping[str, str], paths_win: bool = False) -> InputError:
    """``err`` with the settings it names (as its place, or in backticks in its text) said as ``names`` maps them.

    ``paths_win``: a place that is an existing file or folder stays the place, whatever its name (on a command line
    an index folder called "index" is not --index); library callers map config keys, never paths."""
    expected = re.sub(r"`([\w.]+)`", lambda match: names.get(match[1], match[0]), err.expected)
    setting = err.path in names and err.line is None and not (paths_win and Path(err.path).exists())
    if not setting and expected == err.expected:
        return err
    return InputError(names[err.path] if setting else err.path, expected, err.got, line=err.line)
