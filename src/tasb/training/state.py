"""What a training run works on, shared by the trainer's loop and its checkpoints, and its lines of ``train_log.jsonl``."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TextIO

import torch

from tasb.config import TrainConfig
from tasb.data.records import Dataset
from tasb.layout import TRAIN_LOG
from tasb.models.student import BertDot
from tasb.sampling import BatchSampler
from tasb.sampling.background import BackgroundSampler
from tasb.training.colbert_teacher import ColbertTeacher
from tasb.training.distributed import World
from tasb.training.dual import DualLoss
from tasb.training.progress import Progress
from tasb.training.tracking import Tracking
from tasb.training.validation import EarlyStopping, ValidationSet

__all__ = ["Run", "log_line", "open_train_log"]


@dataclasses.dataclass
class Run:
    """What the loop works on."""

    folder: Path
    config: TrainConfig
    dataset: Dataset
    student: BertDot
    loss_fn: DualLoss
    inbatch_teacher: ColbertTeacher | None
    sampler: BatchSampler
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    progress: Progress
    validation: ValidationSet | None
    early_stopping: EarlyStopping
    world: World
    tracking: Tracking = dataclasses.field(default_factory=lambda: Tracking(None))
    start_validation: float | None = None  # the starting student's held-out score, measured by the caller


def log_line(log: TextIO, run: Run, steps_per_s: float) -> None:
    progress = run.progress
    loss = progress.window_loss / progress.window_steps
    line = {
        "step": progress.step,
        "loss": loss,
        **{name: value / progress.window_steps for name, value in progress.window_parts.items()},
        "lr": run.scheduler.get_last_lr()[0],
        "steps_per_s": round(steps_per_s, 4),
        # total seconds the trainer waited for batches: near zero when the background process keeps up
        **({"sampler_wait_s": round(run.sampler.waited_s, 3)} if isinstance(run.sampler, BackgroundSampler) else {}),
        "elapsed_s": round(progress.elapsed_s, 3),
    }
    log.write(json.dumps(line) + "\n")
    log.flush()
    run.tracking.scalars("train", progress.step, {name: value for name, value in line.items() if name != "step"})
    progress.last_logged_loss = loss
    progress.window_loss, progress.window_steps, progress.window_parts = 0.0, 0, {}


def open_train_log(run: Run) -> TextIO:
    # ranks other than 0 compute the same losses; only rank 0 writes them
    return (run.folder / TRAIN_LOG).open("a", encoding="utf-8") if run.world.is_main else open(os.devnull, "w")
