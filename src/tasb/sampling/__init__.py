"""Batch samplers: endless streams of scored pairs whose position is saved with each checkpoint.

Random (eq. 9), TAS (eq. 11) and TAS-Balanced (eq. 13) differ only in how a batch's queries and each
query's pair are drawn; all of them hand out ``pairs`` indices (``next_indices``) or the pairs themselves.
``build_sampler`` makes the one a config names.
"""

from __future__ import annotations

from typing import Any, Iterator, Protocol

import numpy as np

from tasb.data.records import ScoredPair
from tasb.sampling.factory import SAMPLERS, build_sampler
from tasb.sampling.random_sampler import PairArrays, RandomSampler
from tasb.sampling.tas import TASBalancedSampler, TASSampler, margin_bins


class BatchSampler(Protocol):
    """What the trainer needs from a sampler: batches without end, and a restorable position."""

    pairs: list[ScoredPair]
    batch_size: int

    def __iter__(self) -> Iterator[list[ScoredPair]]: ...

    def __next__(self) -> list[ScoredPair]: ...

    def next_indices(self) -> np.ndarray: ...

    def state(self) -> dict[str, Any]: ...

    def load_state(self, state: dict[str, Any]) -> None: ...


__all__ = [
    "SAMPLERS", "BatchSampler", "PairArrays", "RandomSampler", "TASBalancedSampler", "TASSampler", "build_sampler", "margin_bins",
]
