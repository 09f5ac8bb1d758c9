"""Batch samplers: endless streams of scored pairs whose position is saved with each checkpoint."""

from __future__ import annotations

from typing import Any, Iterator, Protocol

from tasb.data.records import ScoredPair
from tasb.sampling.random_sampler import RandomSampler


class BatchSampler(Protocol):
    """What the trainer needs from a sampler: batches without end, and a restorable position."""

    def __iter__(self) -> Iterator[list[ScoredPair]]: ...

    def __next__(self) -> list[ScoredPair]: ...

    def state(self) -> dict[str, Any]: ...

    def load_state(self, state: dict[str, Any]) -> None: ...


__all__ = ["BatchSampler", "RandomSampler"]
