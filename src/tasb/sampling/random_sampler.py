"""The paper's Random sampler (eq. 9): each batch takes ``b`` distinct queries at random and one scored
pair of each query at random. Batches are drawn without end (no epochs): training stops on a step or
time budget, as in the paper.

The pairs are held as numpy arrays (a query index per pair, grouped query by query), so composing a
batch costs the same at MS MARCO's 40M pairs as at SciFact's thousands: no Python loop over pairs after
construction. The topic-aware samplers (``tasb.sampling.tas``) extend this one: they change only how a
batch's queries (``_queries``) or a query's pair (``_pairs_of``) are drawn.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from tasb.data.records import ScoredPair


@dataclasses.dataclass(frozen=True)
class PairArrays:
    """What a sampler needs of the pairs, without the pairs: which query each belongs to, and its margin.

    ``qids[k]`` is the id of query ``k``; ``query_index[i]`` the query of pair ``i`` and ``margins[i]``
    its teacher margin ``score_pos - score_neg``.
    """

    qids: list[str]
    query_index: np.ndarray
    margins: np.ndarray

    @classmethod
    def from_pairs(cls, pairs: Sequence[ScoredPair]) -> "PairArrays":
        """Queries numbered in first-seen order, so the numbering (and every stream) follows the file."""
        numbers: dict[str, int] = {}
        query_index = np.fromiter(
            (numbers.setdefault(pair.qid, len(numbers)) for pair in pairs), dtype=np.int64, count=len(pairs)
        )
        # score_pos - score_neg by position: a third faster than the ``margin`` property, which counts at 40M pairs
        margins = np.fromiter((pair[0] - pair[1] for pair in pairs), dtype=np.float64, count=len(pairs))
        return cls(list(numbers), query_index, margins)


class RandomSampler:
    """An endless iterator of batches (``list[ScoredPair]``) whose position can be saved and restored.

    Queries are drawn uniformly without replacement within a batch and independently across batches;
    a query's pair uniformly among that query's pairs. ``state()`` / ``load_state()`` carry the
    generator state, so a resumed run continues the very same stream of batches.
    """

    pairs: list[ScoredPair]

    def __init__(self, pairs: Sequence[ScoredPair], batch_size: int, seed: int):
        self.pairs = list(pairs)
        self._setup(PairArrays.from_pairs(self.pairs), batch_size, seed)

    @classmethod
    def from_arrays(cls, arrays: PairArrays, *args: Any, **kwargs: Any):
        """The sampler over ``arrays`` alone, with the constructor's other arguments: ``next_indices()``
        works, ``next()`` does not (``pairs`` is empty). For benchmarks at a scale where millions of
        ``ScoredPair`` objects would cost more than the sampler."""
        sampler = cls.__new__(cls)
        sampler.pairs = []
        sampler._setup(arrays, *args, **kwargs)
        return sampler

    def _setup(self, arrays: PairArrays, batch_size: int, seed: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if arrays.query_index.shape != arrays.margins.shape:
            raise ValueError(f"{len(arrays.query_index)} query indices but {len(arrays.margins)} margins")
        if len(arrays.query_index) and not 0 <= arrays.query_index.min() <= arrays.query_index.max() < len(arrays.qids):
            raise ValueError(f"query indices must lie in [0, {len(arrays.qids)}): one per qid")
        self.qids = arrays.qids
        self.query_index = arrays.query_index
        self._pair_order, self._offsets, self._counts = _group(arrays.query_index, len(arrays.qids))
        if not self._counts.all():
            raise ValueError(f"query {arrays.qids[int(np.argmin(self._counts))]} has no pair")
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
        return [self.pairs[i] for i in self.next_indices()]

    def next_indices(self) -> np.ndarray:
        """The next batch as indices into ``pairs``: ``batch_size`` of them, no query twice."""
        indices = self._pairs_of(self._queries())
        self._batches += 1
        return indices

    def _queries(self) -> np.ndarray:
        return self._rng.choice(self.num_queries, size=self.batch_size, replace=False)

    def _pairs_of(self, queries: np.ndarray) -> np.ndarray:
        picks = self._rng.integers(0, self._counts[queries])
        return self._pair_order[self._offsets[queries] + picks]

    def state(self) -> dict[str, Any]:
        """JSON-serialisable position in the stream."""
        return {"bit_generator": self._rng.bit_generator.state, "batches": self._batches}

    def load_state(self, state: dict[str, Any]) -> None:
        self._rng.bit_generator.state = state["bit_generator"]
        self._batches = int(state["batches"])


def _group(keys: np.ndarray, num_keys: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions laid out key by key (in their original order within a key), each key's offset and count."""
    order = np.argsort(keys, kind="stable").astype(np.int64)
    counts = np.bincount(keys, minlength=num_keys).astype(np.int64)
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    return order, offsets, counts
