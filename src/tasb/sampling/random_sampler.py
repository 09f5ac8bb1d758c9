"""The paper's Random sampler (eq. 9): each batch takes ``b`` distinct queries at random and one scored
pair of each query at random. Batches are drawn without end (no epochs): training stops on a step or
time budget, as in the paper."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from tasb.data.records import ScoredPair


class RandomSampler:
    """An endless iterator of batches (``list[ScoredPair]``) whose position can be saved and restored.

    Queries are drawn uniformly without replacement within a batch and independently across batches;
    a query's pair uniformly among that query's pairs. ``state()`` / ``load_state()`` carry the
    generator state, so a resumed run continues the very same stream of batches.
    """

    def __init__(self, pairs: Sequence[ScoredPair], batch_size: int, seed: int):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self._pairs = list(pairs)
        self._pair_order, self._offsets, self._counts = _group_by_query(self._pairs)
        if len(self._counts) < batch_size:
            raise ValueError(
                f"{len(self._counts)} distinct queries cannot fill a batch of {batch_size} without repeating one"
            )
        self.batch_size = batch_size
        self._rng = np.random.default_rng(seed)
        self._batches = 0

    @property
    def num_queries(self) -> int:
        return len(self._counts)

    @property
    def batches(self) -> int:
        """How many batches have been drawn so far."""
        return self._batches

    def __iter__(self) -> "RandomSampler":
        return self

    def __next__(self) -> list[ScoredPair]:
        queries = self._rng.choice(self.num_queries, size=self.batch_size, replace=False)
        picks = self._rng.integers(0, self._counts[queries])
        self._batches += 1
        return [self._pairs[i] for i in self._pair_order[self._offsets[queries] + picks]]

    def state(self) -> dict[str, Any]:
        """JSON-serialisable position in the stream."""
        return {"bit_generator": self._rng.bit_generator.state, "batches": self._batches}

    def load_state(self, state: dict[str, Any]) -> None:
        self._rng.bit_generator.state = state["bit_generator"]
        self._batches = int(state["batches"])


def _group_by_query(pairs: Sequence[ScoredPair]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair indices laid out query by query (first-seen order), with each query's offset and count."""
    by_query: dict[str, list[int]] = {}
    for index, pair in enumerate(pairs):
        by_query.setdefault(pair.qid, []).append(index)
    counts = np.fromiter((len(ids) for ids in by_query.values()), dtype=np.int64, count=len(by_query))
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    order = np.fromiter((i for ids in by_query.values() for i in ids), dtype=np.int64, count=len(pairs))
    return order, offsets, counts
