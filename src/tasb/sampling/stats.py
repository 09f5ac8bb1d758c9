"""What a sampler's batches hold, for inspecting a sampler (``tasb sample``): its next batches as pair indices, in
how many of them each cluster appears, and how hard a batch's in-batch negatives are to its teacher."""

from __future__ import annotations

import numpy as np

from tasb.sampling.random_sampler import RandomSampler

HARDNESS_MEASURES = ("above_negative", "above_positive", "margin_to_negative", "judged_relevant", "relevant_among_above_negative")


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


def inbatch_hardness(scores: np.ndarray, relevant: np.ndarray | None = None) -> dict[str, float]:
    """How hard a batch's in-batch negatives are, from a teacher's ``[b, 2b]`` scores over ``passage_ids(batch)``
    (the queries' positives, then their negatives).

    For each query, its ``2b - 2`` passages of other queries: the fraction scored above its own negative (as hard
    as a mined negative: what TAS's topic clusters are meant to give in-batch teaching), the fraction above its own
    positive, and their mean score minus its negative's; each averaged over the batch's queries. With ``relevant``
    (``[b, 2b]``, True where a passage is judged relevant to the row's query), also the fraction of those passages
    judged relevant, and of the ones above the own negative, the fraction judged relevant (over the whole batch;
    NaN when none is above)."""
    b = scores.shape[0]
    rows = np.arange(b)
    own_positive = scores[rows, rows][:, None]
    own_negative = scores[rows, rows + b][:, None]
    others = np.ones(scores.shape, dtype=bool)
    others[rows, rows] = others[rows, rows + b] = False
    other = scores[others].reshape(b, 2 * b - 2)
    above_negative = other > own_negative
    found = {
        "above_negative": float(above_negative.mean()),
        "above_positive": float((other > own_positive).mean()),
        "margin_to_negative": float((other - own_negative).mean()),
    }
    if relevant is not None:
        judged = relevant[others].reshape(b, 2 * b - 2)
        found["judged_relevant"] = float(judged.mean())
        found["relevant_among_above_negative"] = float(judged[above_negative].mean()) if above_negative.any() else float("nan")
    return found
