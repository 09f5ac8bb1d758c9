"""What tasb's folders hold, by name: run, experiment, index, shard, cluster and model folders.

Every file name and marker below is spelled here only; code that writes or reads one of these folders takes
the name (or the path) from this module. A marker is an empty file written last: its presence means every
other file of the folder is whole. ``KINDS`` recognises each folder tasb writes by what only tasb puts in it,
never by a file name alone (``tasb.outputs`` decides from it what may be replaced).
"""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path
from typing import Callable

import yaml

# markers
DONE = "DONE"  # a run folder (training run, quickstart, experiment, baseline) is finished
EVALUATED = "EVALUATED"  # a system folder of an experiment has its test run, metrics and system.json

# a run folder: `tasb train` (and each run of an experiment), the quickstart, a teacher
CONFIG = "config.yaml"  # the resolved config, stamped with VERSION_KEY
VERSION_KEY = "tasb_version"
METRICS = "metrics.json"
TRAIN_LOG = "train_log.jsonl"
TENSORBOARD = "tensorboard"  # the logged losses, rates and validation metrics, when the run asked for them
TEACHER_LOG = "teacher_log.jsonl"
VALIDATION_LOG = "validation.jsonl"
VALIDATION_PLOT = "validation.png"
VALIDATION_QIDS = "validation_qids.txt"  # the training queries held out for validation, one per line
MODEL = "model"  # the trained model (the best validated one, where validated)
PREVIOUS = "previous"  # a quickstart rerun keeps the finished run it replaces here until it is DONE itself
BEST = "best"  # the best validated model so far
CHECKPOINTS = "checkpoints"
CHECKPOINT_STATE = "state.json"  # progress, sampler position, RNGs
TRAINER_STATE = "trainer_state.pt"  # optimizer, schedule, torch's RNG

# an experiment folder: the config, the test judgments, and a system folder per baseline and per grid run
EXPERIMENT_CONFIG = "experiment.yaml"
TEST_QRELS = "test.qrels"
BASELINES = "baselines"
RUNS = "runs"
SYSTEM_GROUPS = (BASELINES, RUNS)
# a system folder
SYSTEM = "system.json"  # what the system is: kind, name, and a student's sampler, teacher mode, loss, seed
TEST_RUN = "test.trec"
TEST_METRICS = "test_metrics.json"
PER_QUERY = "per_query.json"

# a pipelines table folder
PIPELINES_CONFIG = "pipelines.yaml"
RESULTS = "results.md"

# an index folder (shards of DIR live beside it, in DIR.shards/shard-0000i-of-0000N/)
EMBEDDINGS = "embeddings.npy"
IDS = "ids.txt"
META = "meta.json"
FAISS_INDEX = "faiss.index"
# files whose sha256 meta.json records (faiss.index only for approximate indexes)
CHECKSUMMED = (EMBEDDINGS, IDS, FAISS_INDEX)
SHARD_NAME = re.compile(r"shard-(\d+)-of-(\d+)")

# a cluster folder
CLUSTERS = "clusters.tsv"
CENTROIDS = "centroids.npy"
SIZES = "sizes.json"
CLUSTER_PLOT = "clusters.png"

# a model folder tasb wrote: its architecture and lengths, and its card (base model, data, recipe, metrics)
MODEL_META = "tasb.json"
MODEL_CARD = "README.md"


def is_marked(folder: str | Path, marker: str) -> bool:
    return (Path(folder) / marker).exists()


def sync_folder(folder: str | Path) -> None:
    """Make ``folder``'s entries (a rename into it, a new file) survive a power cut, where the file system can.

    Best effort: some file systems (network and WSL mounts) refuse to sync a folder, and a folder may be writable
    but not readable; the output already stands under its name then, so failing the command would misreport it."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except PermissionError:
        return
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES, errno.EPERM):
            raise
    finally:
        os.close(fd)


def mark(folder: str | Path, marker: str) -> None:
    """Set ``marker`` in ``folder``: call it last, once everything else the folder holds is written (and synced:
    tasb.fsutil's writers sync what they write), so it never stands on disk before what it vouches for."""
    (Path(folder) / marker).touch()
    sync_folder(folder)


def unmark(folder: str | Path, marker: str) -> None:
    """Take ``marker`` away before the folder's files are written again."""
    (Path(folder) / marker).unlink(missing_ok=True)


def checkpoint_dir(folder: str | Path, step: int) -> Path:
    return Path(folder) / CHECKPOINTS / f"step-{step}"


def checkpoints(folder: str | Path) -> list[Path]:
    """A run folder's complete checkpoint folders, oldest first (temp folders of an interrupted write start with a dot)."""
    found = [p for p in (Path(folder) / CHECKPOINTS).glob("step-*") if p.is_dir() and p.name[len("step-") :].isdigit()]
    return sorted(found, key=lambda p: int(p.name[len("step-") :]))


def system_dir(experiment: str | Path, group: str, name: str) -> Path:
    """The folder of system ``name`` in an experiment: ``baselines/<name>`` or ``runs/<name>``."""
    return Path(experiment) / group / name


def system_dirs(experiment: str | Path) -> list[tuple[str, Path]]:
    """``(group, folder)`` of every system folder of an experiment, in order (dot-folders are outputs still being written)."""
    return [
        (group, sub)
        for group in SYSTEM_GROUPS
        for sub in sorted(p for p in (Path(experiment) / group).glob("*") if p.is_dir() and not p.name.startswith("."))
    ]


def shards_dir(index: str | Path) -> Path:
    """Where the shards of index folder ``index`` live: beside it, as it is only ever replaced whole."""
    index = Path(index)
    return index.with_name(f"{index.name}.shards")


def shard_dir(index: str | Path, shard: int, n: int) -> Path:
    return shards_dir(index) / f"shard-{shard:05d}-of-{n:05d}"


def json_object(path: Path) -> dict:
    """The JSON object in ``path``, or ``{}`` for a missing or unreadable file or one holding something else."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def saved_config(path: Path) -> dict:
    """A config tasb saved (stamped with ``VERSION_KEY``), else nothing."""
    try:
        value = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return {}
    return value if isinstance(value, dict) and VERSION_KEY in value else {}


# each kind by what only tasb writes in it: a user's folder that merely holds a meta.json is none of them
KINDS: dict[str, Callable[[Path], bool]] = {
    "model": lambda folder: "architecture" in json_object(folder / MODEL_META),
    "index": lambda folder: {"format", "model_fingerprint", "checksums"} <= json_object(folder / META).keys(),
    "cluster folder": lambda folder: "sizes" in json_object(folder / SIZES) and (folder / CLUSTERS).is_file(),
    "checkpoint": lambda folder: "progress" in json_object(folder / CHECKPOINT_STATE),
    "training run": lambda folder: {"teacher_mode", "checkpoint_every"} <= saved_config(folder / CONFIG).keys(),
    "quickstart": lambda folder: "teacher_ensemble" in saved_config(folder / CONFIG),
    "experiment": lambda folder: "grids" in saved_config(folder / EXPERIMENT_CONFIG),
    "pipelines table": lambda folder: "pipelines" in saved_config(folder / PIPELINES_CONFIG),
    "teacher": lambda folder: (folder / TEACHER_LOG).is_file() or KINDS["model"](folder / MODEL),
}


# a BEIR folder's own text files, each plain or gzipped (its qrels are the files of qrels/)
BEIR_TEXT_FILES = ("corpus.jsonl", "queries.jsonl")


def beir_file_names(name: str) -> tuple[str, str]:
    """The names a BEIR folder's file ``name`` may have: plain or gzipped."""
    return name, f"{name}.gz"
