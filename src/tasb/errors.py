"""Errors a user can fix: the CLI prints them without a traceback."""

from __future__ import annotations

import contextlib
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
        if err.path is None or err.path not in names or err.line is not None:
            raise
        raise InputError(names[err.path], err.expected, err.got) from None
