"""Topic-aware batch samplers: TAS (eq. 11) and TAS-Balanced (eq. 12-13).

Random batches (eq. 9) mix unrelated topics, so in-batch negatives teach little. TAS fills a batch from
``n`` random query clusters (k-means over query vectors, eq. 10, computed beforehand), so the other
queries' passages are topically close negatives. TAS-Balanced also draws each query's pair from a random
margin range, so the few close (informative) pairs come up as often as the many distant (easy) ones.
"""

from __future__ import annotations

from typing import Hashable, Mapping, Sequence

import numpy as np

from tasb.data.records import ScoredPair
from tasb.sampling.random_sampler import PairArrays, RandomSampler, _group


def margin_bins(query_index: np.ndarray, margins: np.ndarray, h: int) -> np.ndarray:
    """Each pair's margin range (eq. 12): ``h`` equal-width bins from its query's minimum to maximum margin.

    Bin ``i`` holds margins in ``[m_min + i*m, m_min + (i+1)*m)`` with ``m = (m_max - m_min) / h``; the
    maximum goes in bin ``h - 1`` (the paper's half-open ranges would leave it out), and a query whose
    margins are all equal has all its pairs in bin 0.
    """
    if h < 1:
        raise ValueError(f"margin_bins must be at least 1, got {h}")
    query_index = np.asarray(query_index, dtype=np.int64)
    margins = np.asarray(margins, dtype=np.float64)
    if query_index.shape != margins.shape:
        raise ValueError(f"{len(query_index)} query indices but {len(margins)} margins")
    if not len(margins):
        return np.zeros(0, dtype=np.int64)
    num_queries = int(query_index.max()) + 1
    low = np.full(num_queries, np.inf)
    high = np.full(num_queries, -np.inf)
    np.minimum.at(low, query_index, margins)
    np.maximum.at(high, query_index, margins)
    span = (high - low)[query_index]
    offset = margins - low[query_index]
    bins = np.zeros(len(margins), dtype=np.int64)
    spread = span > 0
    bins[spread] = np.minimum(np.floor(offset[spread] / span[spread] * h), h - 1).astype(np.int64)
    return bins


class TASSampler(RandomSampler):
    """Topic Aware Sampling (eq. 11): ``b // n`` queries from each of ``n`` random clusters, a random pair each.

    ``clusters`` maps each qid to its cluster label (ids it has beyond the pairs' queries are ignored).
    Clusters are drawn uniformly among those holding at least one of the pairs' queries, queries uniformly
    within a cluster. A cluster smaller than its share, or the remainder of ``b / n``, is topped up from
    further random clusters not yet in the batch, so a batch always holds ``b`` distinct queries.
    """

    def __init__(
        self,
        pairs: Sequence[ScoredPair],
        clusters: Mapping[str, Hashable],
        batch_size: int,
        clusters_per_batch: int = 1,
        *,
        seed: int,
    ):
        self.pairs = list(pairs)
        self._setup(PairArrays.from_pairs(self.pairs), clusters, batch_size, clusters_per_batch, seed=seed)

    def _setup(
        self,
        arrays: PairArrays,
        clusters: Mapping[str, Hashable],
        batch_size: int,
        clusters_per_batch: int = 1,
        *,
        seed: int,
    ) -> None:
        super()._setup(arrays, batch_size, seed)
        missing = [qid for qid in self.qids if qid not in clusters]
        if missing:
            raise ValueError(f"query {missing[0]} has no cluster ({len(missing)} of {self.num_queries} queries lack one)")
        numbers: dict[Hashable, int] = {}
        # labels numbered in the queries' first-seen order, not a set's: the stream must not depend on hashing
        self.query_cluster = np.fromiter(
            (numbers.setdefault(clusters[qid], len(numbers)) for qid in self.qids), dtype=np.int64, count=self.num_queries
        )
        self.cluster_labels = list(numbers)
        if not 1 <= clusters_per_batch <= min(batch_size, len(numbers)):
            raise ValueError(
                f"clusters_per_batch must be between 1 and min(batch_size={batch_size}, "
                f"{len(numbers)} clusters of the pairs' queries), got {clusters_per_batch}"
            )
        self.clusters_per_batch = clusters_per_batch
        self._cluster_order, self._cluster_offsets, self._cluster_sizes = _group(self.query_cluster, len(numbers))

    @property
    def num_clusters(self) -> int:
        return len(self.cluster_labels)

    def cluster_of(self, pair_index: int) -> Hashable:
        """The cluster label of pair ``pair_index``'s query."""
        return self.cluster_labels[self.query_cluster[self.query_index[pair_index]]]

    def _queries(self) -> np.ndarray:
        share = self.batch_size // self.clusters_per_batch
        chosen = self._rng.choice(self.num_clusters, size=self.clusters_per_batch, replace=False)
        parts = [self._members(cluster, min(share, self._cluster_sizes[cluster])) for cluster in chosen]
        need = self.batch_size - sum(len(part) for part in parts)
        used = set(chosen.tolist())
        # rejection rather than a permutation of all clusters: top-ups are rare, and this costs O(1) per batch
        while need and len(used) < self.num_clusters:
            cluster = int(self._rng.integers(self.num_clusters))
            if cluster not in used:
                used.add(cluster)
                parts.append(self._members(cluster, min(need, self._cluster_sizes[cluster])))
                need -= len(parts[-1])
        if need:
            # every cluster is in the batch yet short of b: the chosen clusters' other queries make up the rest
            pool = np.concatenate([self._members(cluster, self._cluster_sizes[cluster]) for cluster in chosen])
            pool = pool[~np.isin(pool, np.concatenate(parts))]
            parts.append(self._rng.choice(pool, size=need, replace=False))
        return np.concatenate(parts)

    def _members(self, cluster: int, count: int) -> np.ndarray:
        """``count`` distinct random queries of ``cluster``."""
        picks = self._rng.choice(self._cluster_sizes[cluster], size=count, replace=False)
        return self._cluster_order[self._cluster_offsets[cluster] + picks]


class TASBalancedSampler(TASSampler):
    """TAS-Balanced (eq. 13): TAS's queries; each query's pair from a random non-empty margin range (eq. 12).

    Eq. 13 writes ``rand(rand(C, n), b)`` where eq. 11 has ``b // n``: the two agree at the paper's n = 1,
    and only ``b // n`` per cluster mixes n clusters, so the queries are drawn exactly as TAS draws them.

    Most of a query's pairs have a wide margin (an easy negative); drawing the range first, uniformly
    among the ``margin_bins`` ranges that hold a pair, then a pair uniformly within it, un-skews that.
    ``pair_bins[i]`` is pair ``i``'s range.
    """

    def __init__(
        self,
        pairs: Sequence[ScoredPair],
        clusters: Mapping[str, Hashable],
        batch_size: int,
        clusters_per_batch: int = 1,
        margin_bins: int = 10,
        *,
        seed: int,
    ):
        self.pairs = list(pairs)
        self._setup(PairArrays.from_pairs(self.pairs), clusters, batch_size, clusters_per_batch, margin_bins, seed=seed)

    def _setup(
        self,
        arrays: PairArrays,
        clusters: Mapping[str, Hashable],
        batch_size: int,
        clusters_per_batch: int = 1,
        margin_bins: int = 10,
        *,
        seed: int,
    ) -> None:
        super()._setup(arrays, clusters, batch_size, clusters_per_batch, seed=seed)
        self.num_bins = margin_bins
        self._index_bins(arrays.margins)

    def _index_bins(self, margins: np.ndarray) -> None:
        """The non-empty (query, range) groups: per query the first group and how many; per group its pairs."""
        self.pair_bins = margin_bins(self.query_index, margins, self.num_bins)
        keys = self.query_index * self.num_bins + self.pair_bins
        self._bin_order = np.argsort(keys, kind="stable").astype(np.int64)
        sorted_keys = keys[self._bin_order]
        self._bin_offsets = np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1])))
        self._bin_sizes = np.diff(np.append(self._bin_offsets, len(keys)))
        self._bins_per_query = np.bincount(sorted_keys[self._bin_offsets] // self.num_bins, minlength=self.num_queries)
        self._first_bin = np.concatenate(([0], np.cumsum(self._bins_per_query)[:-1])).astype(np.int64)

    def _pairs_of(self, queries: np.ndarray) -> np.ndarray:
        groups = self._first_bin[queries] + self._rng.integers(0, self._bins_per_query[queries])
        picks = self._rng.integers(0, self._bin_sizes[groups])
        return self._bin_order[self._bin_offsets[groups] + picks]
