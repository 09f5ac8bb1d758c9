"""Where a training run stands and how it reports it: the progress a checkpoint saves, the steps-per-second
rate and the step the progress bar counts to."""

from __future__ import annotations

import dataclasses
import math
import time

__all__ = ["Progress", "Rate", "expected_steps"]


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


def expected_steps(steps: int, done: int, done_here: int, seconds_here: float, elapsed_s: float, budget_s: float) -> int:
    """The step a run will end at: ``steps``, or fewer when the time budget binds first, at this process's pace
    so far (``done_here`` steps in ``seconds_here``); what the progress bar counts to, so its ETA is honest."""
    if done_here == 0 or math.isinf(budget_s):
        return steps
    pace = seconds_here / done_here
    return max(done, min(steps, done + int(max(0.0, budget_s - elapsed_s) / pace)))
