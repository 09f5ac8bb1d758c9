"""Checkpoints of a training run: ``checkpoints/step-N/`` holds everything the next step depends on (weights,
Adam moments, schedule, the sampler's position, every RNG, the best model so far), so a resumed run ends with
the same weights as one that was never interrupted."""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tasb.fsutil import atomic_dir, atomic_write, link_or_copy, remove_dir
from tasb.layout import BEST, CHECKPOINT_STATE, CHECKPOINTS, MODEL, TRAINER_STATE, checkpoint_dir, checkpoints
from tasb.models.student import BertDot
from tasb.outputs import SET_ASIDE
from tasb.training.progress import Progress
from tasb.training.state import Run
from tasb.training.validation import EarlyStopping

__all__ = ["checkpoint_scales", "copy_folder", "newest_checkpoint", "prune_checkpoints", "restore_checkpoint", "save_checkpoint", "truncate_log"]


def save_checkpoint(run: Run) -> None:
    with atomic_dir(checkpoint_dir(run.folder, run.progress.step)) as tmp:
        run.student.save(tmp / MODEL)
        _save_trainer_state(
            {
                "optimizer": run.optimizer.state_dict(),
                "scheduler": run.scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
            },
            tmp / TRAINER_STATE,
        )
        state = {
            "scales": {"score_scale": run.config.score_scale, "colbert_scale": run.config.colbert_scale},
            "progress": dataclasses.asdict(run.progress),
            "sampler": run.sampler.state(),
            "early_stopping": run.early_stopping.state(),
            **_global_rng_states(),
        }
        (tmp / CHECKPOINT_STATE).write_text(json.dumps(state) + "\n", encoding="utf-8")
        if (run.folder / BEST).is_dir():
            # the best model as of this step: a resume must not keep a best/ saved after the checkpoint
            shutil.copytree(run.folder / BEST, tmp / BEST, copy_function=link_or_copy)
    prune_checkpoints(run.folder, run.config.keep_checkpoints)


def prune_checkpoints(folder: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints. Each is renamed aside before it is deleted: a kill midway
    must not leave a half-deleted ``step-N`` that lists as complete. What such a kill left aside goes next time."""
    # .step-N.old: the name versions before 78fbbdb set checkpoints aside under, in this folder of tasb's own
    for leftover in [*(folder / CHECKPOINTS).glob(f".step-*{SET_ASIDE}"), *(folder / CHECKPOINTS).glob(".step-*.old")]:
        shutil.rmtree(leftover, ignore_errors=True)
    for old in checkpoints(folder)[:-keep]:
        remove_dir(old)


def _save_trainer_state(state: dict, path: Path) -> None:
    try:
        torch.save(state, path)
    except RuntimeError as err:
        # torch reports a failed write (a full disk, a quota) as a RuntimeError; as an OSError the CLI says it in one line
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else "the write failed"
        raise OSError(errno.EIO, f"could not write the checkpoint: {reason}", str(path)) from err


def checkpoint_scales(folder: Path) -> dict[str, float]:
    """The scales the checkpointed run trained with (none recorded before scales could be fitted)."""
    return json.loads((folder / CHECKPOINT_STATE).read_text(encoding="utf-8")).get("scales", {})


def restore_checkpoint(folder: Path, run: Run) -> None:
    """Put the run back where ``folder`` left it; RNGs last, as loading the model may draw from them."""
    trained = BertDot.load(str(folder / MODEL), device=str(run.student.encoder.device))
    run.student.encoder.load_state_dict(trained.encoder.state_dict())
    trainer_state = torch.load(folder / TRAINER_STATE, weights_only=True)
    run.optimizer.load_state_dict(trainer_state["optimizer"])
    run.scheduler.load_state_dict(trainer_state["scheduler"])
    state = json.loads((folder / CHECKPOINT_STATE).read_text(encoding="utf-8"))
    run.sampler.load_state(state["sampler"])
    run.progress = Progress(**state["progress"])
    run.early_stopping = EarlyStopping(run.config.validation.patience, **state.get("early_stopping", {}))
    if run.world.is_main:  # best/ is one folder shared by every rank
        _restore_best(folder, run.folder)
    run.world.barrier()
    _set_global_rng_states(state)
    torch.set_rng_state(trainer_state["torch_rng"])


def _restore_best(checkpoint: Path, folder: Path) -> None:
    if (checkpoint / BEST).is_dir():
        copy_folder(checkpoint / BEST, folder / BEST)
    else:
        shutil.rmtree(folder / BEST, ignore_errors=True)


def copy_folder(source: Path, target: Path) -> None:
    with atomic_dir(target) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True, copy_function=link_or_copy)


def _global_rng_states() -> dict[str, Any]:
    """Python's and numpy's global RNGs as JSON (torch's is a tensor, saved with the optimizer)."""
    numpy_state = np.random.get_state(legacy=False)
    numpy_state["state"] = {**numpy_state["state"], "key": numpy_state["state"]["key"].tolist()}
    return {"python_rng": random.getstate(), "numpy_rng": numpy_state}


def _set_global_rng_states(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python_rng"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy_rng"]
    key = np.asarray(numpy_state["state"]["key"], dtype=np.uint32)
    np.random.set_state({**numpy_state, "state": {**numpy_state["state"], "key": key}})


def newest_checkpoint(folder: Path) -> Path | None:
    found = checkpoints(folder)
    return found[-1] if found else None


def truncate_log(path: Path, step: int) -> None:
    """Drop log lines past ``step``: an interrupted run may have logged steps its checkpoint does not hold."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by the interruption
            continue
        if record.get("step", math.inf) <= step:
            kept.append(line + "\n")
    with atomic_write(path) as handle:
        handle.writelines(kept)
