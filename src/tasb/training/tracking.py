"""Training curves for TensorBoard: loss parts, learning rate, speed, sampler wait and validation metrics.

``train_log.jsonl`` and ``validation.jsonl`` stay the record; TensorBoard is a view of the same numbers,
switched on with ``tensorboard: true`` and written to ``<run folder>/tensorboard/``
(``tensorboard --logdir runs/`` compares every run under ``runs/``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from tasb.errors import InputError


class Tracking:
    """Scalars by step, under ``train/`` and ``validation/``; does nothing when switched off."""

    def __init__(self, folder: Path | None):
        self._writer = None
        if folder is None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise InputError("tensorboard", "the tensorboard package: pip install 'tasb[tensorboard]'", "not installed") from err
        self._writer = SummaryWriter(str(folder))

    def scalars(self, group: str, step: int, values: Mapping[str, float]) -> None:
        if self._writer is None:
            return
        for name, value in values.items():
            self._writer.add_scalar(f"{group}/{name}", value, step)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
