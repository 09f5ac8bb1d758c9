"""What tasb may write over: the one policy every command's outputs go through.

- A file is written through a symlink to its target. What stands at the path must be a regular file: a
  folder, FIFO, socket or device node is refused (``--out /dev/null`` must never replace the system's node).
- A folder tasb writes whole (an index, a model, a cluster folder, a checkpoint) replaces an existing folder
  only when that one is empty or tasb's own artefact of the same kind, recognised by what tasb writes in it
  (an index's ``meta.json`` with its format, fingerprint and checksums; a model's ``tasb.json``; ...), never
  by a file name alone. The current folder, or one holding it, is never an output.
- A run folder (training, teacher, quickstart, experiment) must be new, empty or an earlier run of the same
  command, and is locked while a command writes into it: a second process is refused, not interleaved.
- A file a command names itself beside the output it was given (``tasb sample``'s ``<out stem>.png``, ``tasb
  report``'s ``figures/``) replaces only a file tasb wrote, recognised by its content (the mark every PNG tasb draws
  carries, so any tasb figure, or one the page's report already shows): the user never named it.
- A command's output file is never one of its own inputs (``tasb fuse a.trec b.trec --out a.trec``), nor a file of
  a BEIR folder it reads: the input would be lost to what was made from it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import os
import re
import stat
from pathlib import Path
from typing import Callable, Iterator, Sequence

from tasb.errors import InputError
from tasb.layout import BEIR_TEXT_FILES, KINDS, beir_file_names

LOCK = ".tasb-lock"
# what a folder is renamed to while it is swapped out or deleted (".NAME.tasb-old"): like LOCK, a name only tasb gives,
# since whatever stands there is deleted
SET_ASIDE = ".tasb-old"
# the name an atomic write gives what it writes until it is whole (tempfile's ".NAME.XXXXXXXX.tmp"), and a folder
# set aside mid-swap (".NAME.tasb-old"): NAME is the output's own name
TEMP_NAME = re.compile(rf"^\.(?P<name>.+)(?:\.[a-z0-9_]{{8}}\.tmp|{re.escape(SET_ASIDE)})$")
# what tasb itself leaves in a folder it was killed in: its lock files and the temp names above. Nothing broader: a
# folder holding only these counts as empty, and an empty folder may be replaced
_LEFTOVER = re.compile(rf"^(?:{re.escape(LOCK)}|\..+{re.escape(LOCK)})$|{TEMP_NAME.pattern}")


def output_file(path: str | Path) -> Path:
    """The file to write for ``path``: a symlink's target; refused unless nothing or a regular file is there."""
    path = Path(path)
    try:
        info = os.stat(path)  # follows links: /dev/stdout is judged as the terminal or pipe it names
    except FileNotFoundError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode):
        # worded as the CLI words the operating system's refusals (EISDIR: "expected a file, got an existing folder")
        raise InputError(path, f"a file, got {_file_type(info.st_mode)}")
    if info is not None and _names_an_open_file(path):
        # /dev/stdout redirected to a file: replacing that file would cut it from the shell that appends to it
        raise InputError(path, "a file, got a process's open file (/dev/stdout, /dev/fd/N, /proc/...)")
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def check_side_file(path: str | Path, tasb_wrote: Callable[[Path], bool], rename: str) -> None:
    """Refuse ``path``, an output a command names itself beside the one it was given (a figure), when a file stands
    there that ``tasb_wrote`` does not recognise: the user never named it.

    ``rename`` says how to put it elsewhere (an option, or the output it is named after)."""
    target = output_file(path)
    if target.exists() and not tasb_wrote(target):
        raise InputError(path, f"no file, or one tasb wrote, where tasb puts this output itself ({rename})", "a file tasb did not write")


# what tasb reads from a BEIR folder: an output there replaces the collection itself
_BEIR_FILES = tuple(spelled for name in BEIR_TEXT_FILES for spelled in beir_file_names(name))


def refuse_output_over_inputs(settings: object) -> None:
    """Refuse a command's ``out`` file when it is one of the files its other settings name, or a file of a BEIR
    folder they name (its corpus, queries or qrels): writing it would replace what the command reads."""
    out = getattr(settings, "out", None)
    if not isinstance(out, str) or not os.path.isfile(out):
        return
    target = Path(out).resolve()
    for key, value in _path_settings(settings):
        if key == "out":
            continue
        if os.path.isfile(value) and os.path.samefile(out, value):
            raise InputError("out", f"a file other than the command's inputs, not `{key}`", out)
        folder = Path(value).resolve()
        if os.path.isdir(value) and (target.parent == folder and target.name in _BEIR_FILES or target.parent == folder / "qrels"):
            raise InputError("out", f"a file outside the collection's own files, not one of `{key}`'s", out)


def _path_settings(settings: object, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every string setting (dotted key, value), lists and nested sections included: those that name paths among them."""
    for field in dataclasses.fields(settings):
        value, key = getattr(settings, field.name), prefix + field.name
        if dataclasses.is_dataclass(value):
            yield from _path_settings(value, f"{key}.")
        for item in value if isinstance(value, Sequence) and not isinstance(value, str) else [value]:
            if isinstance(item, (str, os.PathLike)) and str(item):
                yield key, str(item)


def _names_an_open_file(path: Path) -> bool:
    """Whether ``path`` leads through /proc (as /dev/stdout and /dev/fd/N do) to a file some process has open."""
    hop = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on links followed
        if os.path.realpath(os.path.dirname(hop)).startswith("/proc/"):
            return True
        if not os.path.islink(hop):
            return False
        hop = os.path.normpath(os.path.join(os.path.dirname(hop), os.readlink(hop)))
    return False


def _file_type(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "an existing file"
    if stat.S_ISDIR(mode):
        return "an existing folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device node"


def artifact_kind(folder: str | Path) -> str | None:
    """Which of tasb's ``KINDS`` (``tasb.layout``) the folder is, by its contents; None for anything else."""
    folder = Path(folder)
    return next((kind for kind, recognise in KINDS.items() if recognise(folder)), None)


def _contents(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir() if not _LEFTOVER.fullmatch(entry.name))


def _refuse_current_folder(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):  # a deleted working directory holds nothing to protect
        here = Path.cwd().resolve()
        target = path.resolve()
        if target == here or target in here.parents:
            raise InputError(path, "an output folder of its own, not the current folder (or one holding it)", str(path))


def check_folder(path: str | Path, kind: str | None) -> Path:
    """Refuse ``path`` as the place of a ``kind`` folder unless it is free, empty or an earlier ``kind``.

    Returns the folder to write: a symlink's target. ``kind`` None (contents tasb does not recognise) may
    only take a free place or an empty folder."""
    path = Path(path)
    _refuse_current_folder(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    if info is not None and not stat.S_ISDIR(info.st_mode):
        raise InputError(path, f"a folder, got {_file_type(info.st_mode)}")
    contents = _contents(path) if info is not None else []
    if contents and (kind is None or not KINDS[kind](path)):
        shown = ", ".join(contents[:3]) + (", ..." if len(contents) > 3 else "")
        raise InputError(path, f"a new or empty folder, or an earlier {kind or 'output'} tasb wrote", f"a folder holding other files ({shown})")
    return Path(os.path.realpath(path)) if path.is_symlink() else path


@contextlib.contextmanager
def run_folder(path: str | Path, kind: str) -> Iterator[Path]:
    """Hold ``path`` as the run folder of a ``kind`` command for the block, locked (``check_folder`` says which may be).

    The folder is made if missing; folders made here are removed again if the block fails leaving them empty,
    so a refused command leaves nothing behind."""
    path = check_folder(path, kind)
    made = _make_folders(path)
    try:
        with hold_lock(path):
            check_folder(path, kind)  # again, now that no other process can be writing to it
            yield path
    except BaseException:
        _remove_if_empty(made)
        raise


def _make_folders(path: Path) -> list[Path]:
    """Make ``path`` and its missing parents; those made, deepest first."""
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    path.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_if_empty(folders: list[Path]) -> None:
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


@contextlib.contextmanager
def hold_lock(folder: str | Path) -> Iterator[None]:
    """An exclusive lock on ``folder`` for the block: another process holding it is refused at once, not waited for.

    The lock is ``flock`` on the file ``.tasb-lock`` in ``folder``, which goes away with the lock. A process
    killed while holding it leaves the file but not the lock (the kernel drops it), so a later command goes ahead."""
    folder = Path(folder)
    with locked(folder / LOCK, folder):
        yield


def replacement_lock(path: str | Path) -> contextlib.AbstractContextManager[None]:
    """The lock on building a folder that replaces ``path`` whole: beside it, as a lock inside would be swapped out with it."""
    path = Path(path)
    # a name of tasb's own: the file is deleted when the lock is let go
    return locked(path.parent / f".{path.name}{LOCK}", path)


@contextlib.contextmanager
def locked(lock_file: Path, owner: Path) -> Iterator[None]:
    """``flock`` on ``lock_file`` for the block, on behalf of ``owner``: the folder refusals and errors name."""
    handle = _acquire(lock_file, owner)
    try:
        yield
    finally:
        # removed while still held: a process that opened it meanwhile sees it gone and opens a new one
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_file)
        os.close(handle)


def _acquire(path: Path, owner: Path) -> int:
    while True:
        try:
            handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as err:
            # a read-only or full file system: the user named the folder, not the lock file
            raise OSError(err.errno, err.strerror, str(owner)) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(handle)
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            raise InputError(owner, "a folder no other tasb command is writing to", f"locked by {_holder(path)}") from None
        if _same_file(handle, path):
            os.ftruncate(handle, 0)
            os.write(handle, f"{os.getpid()}\n".encode())
            return handle
        os.close(handle)  # its holder removed it between our open and our lock: take the new one


def _same_file(handle: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(handle).st_ino
    except FileNotFoundError:
        return False


def _holder(path: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        return f"process {int(path.read_text(encoding='utf-8'))}"
    return "another process"
