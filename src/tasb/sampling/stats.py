"""What a sampler's batches hold, for inspecting a sampler (``tasb sample``): its next batches as pair indices, and in
how many of them each cluster appears."""

from __future__ import annotations

import numpy as np

from tasb.sampling.random_sampler import RandomSampler


def draw(sampler: RandomSampler, batches: int) -> np.ndarray:
    """The next ``batches`` batches as pair indices, one row each."""
    return np.stack([sampler.next_indices() for _ in range(batches)])


def cluster_usage(indices: np.ndarray, query_index: np.ndarray, labels: list[str]) -> np.ndarray:
    """In how many of the batches (rows of pair ``indices``) each cluster appears, clusters in first-seen order of ``labels``."""
    numbers: dict[str, int] = {}
    query_cluster = np.fromiter((numbers.setdefault(label, len(numbers)) for label in labels), dtype=np.int64, count=len(labels))
    in_batch = np.sort(query_cluster[query_index[indices]], axis=1)
    # a cluster counts once per batch however many of its queries the batch holds
    first = np.ones(in_batch.shape, dtype=bool)
    first[:, 1:] = in_batch[:, 1:] != in_batch[:, :-1]
    return np.bincount(in_batch[first], minlength=len(numbers))
