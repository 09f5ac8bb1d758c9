"""Where a training run stands and how it reports it: the progress a checkpoint saves, the steps-per-second
rate, the lines of ``train_log.jsonl`` and the step the progress bar counts to."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import TYPE_CHECKING, TextIO

from tasb.layout import TRAIN_LOG
from tasb.sampling.background import BackgroundSampler

if TYPE_CHECKING:  # the run holds a Progress: imported for the annotations only
    from tasb.training.state import Run

__all__ = ["Progress", "Rate", "expected_steps", "log_line", "open_train_log"]


@dataclasses.dataclass
class Progress:
    """Where training stands; saved in every checkpoint's ``state.json``."""

    step: int = 0
    elapsed_s: float = 0.0
    # losses since the last log line, so a resumed run logs the same means as an uninterrupted one
    window_loss: float = 0.0
    window_parts: dict[str, float] = dataclasses.field(default_factory=dict)
    window_steps: int = 0
    last_logged_loss: float | None = None

    def final_loss(self) -> float | None:
        return self.window_loss / self.window_steps if self.window_steps else self.last_logged_loss



class Rate:
    """Steps per second since the last log line, measured in this process only (a resume restarts it)."""

    def __init__(self) -> None:
        self._since = time.monotonic()
        self._steps = 0

    def tick(self) -> None:
        self._steps += 1

    def take(self) -> float:
        now = time.monotonic()
        rate = self._steps / max(now - self._since, 1e-9)
        self._since, self._steps = now, 0
        return rate


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


def expected_steps(steps: int, done: int, done_here: int, seconds_here: float, elapsed_s: float, budget_s: float) -> int:
    """The step a run will end at: ``steps``, or fewer when the time budget binds first, at this process's pace
    so far (``done_here`` steps in ``seconds_here``); what the progress bar counts to, so its ETA is honest."""
    if done_here == 0 or math.isinf(budget_s):
        return steps
    pace = seconds_here / done_here
    return max(done, min(steps, done + int(max(0.0, budget_s - elapsed_s) / pace)))


def open_train_log(run: Run) -> TextIO:
    # ranks other than 0 compute the same losses; only rank 0 writes them
    return (run.folder / TRAIN_LOG).open("a", encoding="utf-8") if run.world.is_main else open(os.devnull, "w")

