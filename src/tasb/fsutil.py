"""Atomic outputs: every file or folder the tool writes appears whole or not at all, where ``tasb.outputs`` allows."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import IO, Iterator

from tasb.layout import sync_folder
from tasb.outputs import SET_ASIDE, artifact_kind, check_folder, output_file, replacement_lock


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temp file beside ``path``; rename it over ``path`` only if the block finishes.

    A symlink at ``path`` is written through to its target; a folder, FIFO or device node there is refused. Text
    written to a ``.gz`` path is gzipped, as the readers expect of one."""
    path = output_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would make every output private
    binary = "b" in mode
    gzipped = path.suffix == ".gz" and not binary
    try:
        with os.fdopen(fd, "wb" if gzipped else mode, encoding=None if binary or gzipped else encoding) as raw:
            if gzipped:
                # mtime 0 and no name inside: the same text gives the same bytes, as gzip -n does
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed, io.TextIOWrapper(packed, encoding) as handle:
                    yield handle
            else:
                yield raw
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
        sync_folder(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | Path, values: object) -> None:
    """``values`` as indented JSON with a final newline, atomically."""
    with atomic_write(path) as handle:
        json.dump(values, handle, indent=2)
        handle.write("\n")


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Build a folder under a temp name; swap it in place of ``path`` only if the block finishes.

    What stands at ``path`` is replaced only when it is an empty folder or tasb's own artefact of the kind just
    built (``tasb.outputs.KINDS``): a folder tasb does not recognise is refused before the block runs. Two
    processes never build the same folder at once: the second is refused."""
    path = Path(path)
    path = check_folder(path, artifact_kind(path) if path.is_dir() else None)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacement_lock(path):
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        try:
            yield tmp
            _open_to_umask(tmp)
            # the kind is known once built: an index never replaces a model, nor a model an index
            check_folder(path, artifact_kind(tmp))
            # libraries write without fsync (np.save, faiss, save_pretrained, torch.save): after a power cut the
            # folder could stand under its name with empty files, and the old one deleted
            _sync_tree(tmp)
            swap_dir(tmp, path)
            sync_folder(path.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _sync_tree(root: Path) -> None:
    """Every file and folder under ``root`` written to disk, files first."""
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if stat.S_ISREG(os.lstat(path).st_mode):
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        sync_folder(folder)


def swap_dir(new: Path, path: Path) -> None:
    """Put the folder ``new`` in place of ``path``. What stood there is renamed aside before it is deleted, so a
    kill midway never leaves a half-deleted folder under ``path``'s name."""
    old = _set_aside(path)
    os.replace(new, path)
    shutil.rmtree(old, ignore_errors=True)


def remove_dir(path: Path) -> None:
    """Delete the folder ``path``, renamed aside first (as :func:`swap_dir` does)."""
    shutil.rmtree(_set_aside(path), ignore_errors=True)


def _set_aside(path: Path) -> Path:
    old = path.with_name(f".{path.name}{SET_ASIDE}")
    shutil.rmtree(old, ignore_errors=True)  # left by a kill during an earlier delete
    if path.exists():
        os.replace(path, old)
    return old


def _open_to_umask(root: Path) -> None:
    """Give ``root`` and everything in it at least the permissions the umask allows.

    mkdtemp makes the folder 0700, and libraries write through their own private temp files (safetensors
    leaves model.safetensors 0600): other users could not load a model or read an index. Bits are only
    added, never removed, so a hard-linked file keeps what its other name had.
    """
    umask = _umask()
    _widen(root, 0o777 & ~umask)
    for folder, dirs, names in os.walk(root):
        for name in dirs:
            _widen(Path(folder) / name, 0o777 & ~umask)
        for name in names:
            _widen(Path(folder) / name, 0o666 & ~umask, executable=0o777 & ~umask)


def _widen(path: Path, wanted: int, executable: int | None = None) -> None:
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return  # chmod would follow the link out of the folder
    mode = stat.S_IMODE(info.st_mode)
    if executable is not None and mode & stat.S_IXUSR:
        wanted = executable
    if mode | wanted != mode:
        # a file linked from elsewhere may belong to another user: its mode is then theirs to keep
        with contextlib.suppress(PermissionError):
            os.chmod(path, mode | wanted)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def link_or_copy(source: str | Path, target: str | Path) -> None:
    """A hard link where the file system allows, else a copy.

    Safe because the tool never rewrites a file in place: folders are replaced whole (``atomic_dir``), so the
    two names can never come to differ.
    """
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
