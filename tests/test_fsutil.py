"""Outputs other users can read: files and folders get the modes the user's umask gives, not tempfile's 0600/0700;
and outputs that survive a power cut: what a folder or file holds is on disk before it takes its name."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from tasb import layout
from tasb.fsutil import atomic_dir, atomic_write
from tasb.models.student import BertDot


@pytest.fixture(params=[0o022, 0o077], ids=["umask-022", "umask-077"])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_write_gives_a_file_the_umask_mode(tmp_path, umask):
    with atomic_write(tmp_path / "out" / "run.trec") as handle:
        handle.write("q1 Q0 p1 1 1.0 x\n")
    assert _mode(tmp_path / "out" / "run.trec") == 0o666 & ~umask


def test_a_saved_model_folder_and_its_weights_get_the_umask_mode(tmp_path, umask, tiny_bert_dir):
    # safetensors writes model.safetensors through a private temp file: 0600 whatever the umask
    BertDot.load(str(tiny_bert_dir)).save(tmp_path / "student")
    folder = tmp_path / "student"
    weights = list(folder.rglob("model.safetensors"))
    assert weights
    assert _mode(folder) == 0o777 & ~umask
    for path in folder.rglob("*"):
        assert _mode(path) == (0o777 if path.is_dir() else 0o666) & ~umask, path


def test_atomic_dir_keeps_executables_executable_and_never_narrows_a_mode(tmp_path, umask):
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "sub").mkdir(mode=0o700)
        (tmp / "sub" / "private").write_text("x")
        os.chmod(tmp / "sub" / "private", 0o600)
        (tmp / "run.sh").write_text("#!/bin/sh\n")
        os.chmod(tmp / "run.sh", 0o700)
        (tmp / "shared").write_text("x")
        os.chmod(tmp / "shared", 0o644)
    out = tmp_path / "out"
    assert _mode(out / "sub") == 0o777 & ~umask
    assert _mode(out / "sub" / "private") == 0o666 & ~umask
    assert _mode(out / "run.sh") == 0o777 & ~umask
    # a hard link's other name may expect this mode: a stricter umask adds no bits and takes none away
    assert _mode(out / "shared") == 0o644 | (0o666 & ~umask)


@pytest.fixture
def disk_events(monkeypatch):
    """What was synced and renamed, in order: ("sync", path) and ("rename", source, destination)."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("sync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(source, destination):
        events.append(("rename", str(source), str(destination)))
        real_replace(source, destination)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


def test_a_built_folders_files_are_on_disk_before_it_takes_its_name(tmp_path, disk_events):
    with atomic_dir(tmp_path / "index") as building:
        (building / "sub").mkdir()
        # as np.save or faiss.write_index write: no fsync of their own
        (building / "vectors.npy").write_bytes(b"v" * 100)
        (building / "sub" / "meta.json").write_text("{}")
    renamed = next(i for i, event in enumerate(disk_events) if event[0] == "rename" and event[2] == str(tmp_path / "index"))
    synced = {event[1] for event in disk_events[:renamed] if event[0] == "sync"}
    assert {str(building / "vectors.npy"), str(building / "sub" / "meta.json"), str(building / "sub"), str(building)} <= synced
    # and the rename itself is synced into the parent
    assert ("sync", str(tmp_path)) in disk_events[renamed:]


def test_a_file_and_a_marker_are_synced_into_their_folder(tmp_path, disk_events):
    with atomic_write(tmp_path / "run.trec") as handle:
        handle.write("q Q0 p 1 1.0 t\n")
    layout.mark(tmp_path, layout.DONE)
    kinds = [event[0] for event in disk_events]
    # the temp file's bytes, its rename, the folder holding the new name; then the marker's folder
    assert kinds == ["sync", "rename", "sync", "sync"] and disk_events[2] == disk_events[3] == ("sync", str(tmp_path))


def test_a_folder_the_file_system_will_not_sync_still_gets_its_output(tmp_path, monkeypatch):
    real_fsync = os.fsync

    def fsync(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "Invalid argument")  # as some network and WSL mounts answer
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with atomic_write(tmp_path / "run.trec") as handle:
        handle.write("q Q0 p 1 1.0 t\n")
    layout.mark(tmp_path, layout.DONE)
    assert (tmp_path / "run.trec").read_text() == "q Q0 p 1 1.0 t\n" and layout.is_marked(tmp_path, layout.DONE)


def test_rebuilding_a_folder_leaves_the_users_own_dot_old_and_dot_lock_names_alone(tmp_path):
    # a user's backup and lock file beside an output: tasb's own names for the folder set aside and its lock differ
    (tmp_path / ".out.old").mkdir()
    (tmp_path / ".out.old" / "backup.txt").write_text("mine")
    (tmp_path / ".out.lock").write_text("mine too")
    with atomic_dir(tmp_path / "out") as building:
        (building / "part.txt").write_text("built")

    assert (tmp_path / "out" / "part.txt").read_text() == "built"
    assert (tmp_path / ".out.old" / "backup.txt").read_text() == "mine"
    assert (tmp_path / ".out.lock").read_text() == "mine too"
    assert sorted(os.listdir(tmp_path)) == [".out.lock", ".out.old", "out"]
