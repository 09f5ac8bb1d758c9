"""What every command shares: its config built from its options, and errors the user can fix said in one line.

A command's numeric options are checked by its config before any work (``from_options``). Errors the user can
fix are printed in one line and exit with status 2; bugs keep their traceback. What the operating system
refuses (a read-only or full file system, no permission, a folder where a file goes) is the user's to fix too.
A half-written output is removed as the error unwinds, and as SIGTERM unwinds: see ``_terminate_unwinds``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import os
import re
import signal
import threading
from pathlib import Path
from typing import Any, Callable, TypeVar

import typer

from tasb.config import FieldError, from_dict
from tasb.errors import InputError, named

C = TypeVar("C")
F = TypeVar("F", bound=Callable[..., Any])


def from_options(cls: type[C], renamed: dict[str, str] | None = None, **values: Any) -> C:
    """``cls`` built from a command's options, typed by typer already, before the command does any work.

    A value out of its range is refused naming the option that gave it: ``--field-name``, or the option
    ``renamed`` gives a field (``{"weights": "--weight"}``); a value a free-text option gave outside a field's
    choices is refused as the config loader refuses it."""
    try:
        config = cls(**values)
    except FieldError as err:
        field = re.match(r"\w+", err.key).group()  # weights[1] was given with --weight
        raise InputError(flag(field, renamed), err.requirement, err.got) from None
    return from_dict(cls, dataclasses.asdict(config), source="options")


def flag(field: str, renamed: dict[str, str] | None = None) -> str:
    """The option that sets config field ``field``: ``--field-name`` unless ``renamed`` says otherwise."""
    return (renamed or {}).get(field) or "--" + field.replace("_", "-")


def user_errors(func: F | None = None, *, flags: dict[str, str] | None = None) -> F:
    """``func`` as a command whose user errors are one line and exit status 2.

    ``flags`` maps the settings library code names in its errors (``depth``) to the options that give them here
    (``--depth``)."""
    if func is None:
        return functools.partial(user_errors, flags=flags)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with _terminate_unwinds(), named(flags or {}):
                return func(*args, **kwargs)
        except InputError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        except OSError as err:
            typer.echo(f"error: {_os_error(err, kwargs.get('out'))}", err=True)
            raise typer.Exit(2) from None

    return wrapper


# tempfile's names for the atomic outputs of tasb.fsutil: ".NAME.XXXXXXXX.tmp", and ".NAME.old" while a folder is swapped
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?:[a-z0-9_]{8}\.tmp|old)$")

_OS_PROBLEMS = {
    errno.EISDIR: "a file, got an existing folder",
    errno.ENOTDIR: "a folder, got a file on the path",
    errno.ENOSPC: "space to write, got a full file system",
    errno.EDQUOT: "space to write, got a full disk quota",
    errno.EROFS: "a writable place, got a read-only file system",
    errno.EACCES: "a file or folder this user may use, got permission denied",
    errno.EPERM: "a file or folder this user may use, got operation not permitted",
    errno.ENOENT: "an existing file or folder, got none",
}


def _os_error(err: OSError, out: object = None) -> str:
    """``err`` in one line: the file the user named (not the temp file written in its place) and what went wrong."""
    named_file = err.filename2 if err.filename2 is not None else err.filename
    # a failed write() carries no file name: the output being written is the likeliest one
    where = _user_path(named_file, out) if named_file is not None else (str(out) if out is not None else "input or output")
    problem = _OS_PROBLEMS.get(err.errno)
    if problem is not None:
        return f"{where}: expected {problem}"
    return f"{where}: {err.strerror or next(iter(str(err).splitlines()), '') or type(err).__name__}"


def _user_path(path: object, out: object = None) -> str:
    """``path`` with temp names undone, and as ``--out`` spelled it when it is (or lies in) that output."""
    parts = Path(path.decode(errors="replace") if isinstance(path, bytes) else str(path)).parts
    shown = Path(*[match["name"] if (match := _TEMP_NAME.match(part)) else part for part in parts]) if parts else Path(str(path))
    if out is not None:
        inside = os.path.relpath(os.path.abspath(shown), os.path.abspath(str(out)))
        if not inside.startswith(os.pardir):
            return str(out) if inside == os.curdir else str(Path(str(out)) / inside)
    return str(shown)


class _Terminated(SystemExit):
    """SIGTERM raised as an exception, exiting with the status a killed process has (128 + 15)."""


@contextlib.contextmanager
def _terminate_unwinds():
    """SIGTERM unwinds the command as Ctrl-C does, so outputs half written are removed on the way out.

    Python's default for SIGTERM ends the process on the spot, leaving hidden temp files behind (SIGKILL
    still does: no process can catch it). Signal handlers belong to the main thread only.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        # None: a handler installed outside Python, which cannot be put back; the default is the nearest
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated(128 + signum)
