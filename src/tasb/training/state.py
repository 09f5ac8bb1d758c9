"""What a training run works on, shared by the trainer's loop and its checkpoints."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from tasb.config import TrainConfig
from tasb.data.records import Dataset
from tasb.models.student import BertDot
from tasb.sampling import BatchSampler
from tasb.training.colbert_teacher import ColbertTeacher
from tasb.training.distributed import World
from tasb.training.dual import DualLoss
from tasb.training.progress import Progress
from tasb.training.tracking import Tracking
from tasb.training.validation import EarlyStopping, ValidationSet

__all__ = ["Run"]


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

