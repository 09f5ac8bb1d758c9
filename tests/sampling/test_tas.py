import itertools
import json
from collections import Counter

import numpy as np
import pytest
from scipy.stats import chisquare

from tasb.data.records import ScoredPair
from tasb.sampling import PairArrays, RandomSampler, TASBalancedSampler, TASSampler, margin_bins


def _clustered(sizes: list[int], pairs_per_query: int = 3) -> tuple[list[ScoredPair], dict[str, str]]:
    """Cluster ``c`` holds ``sizes[c]`` queries ``c{c}q{i}``, each with ``pairs_per_query`` pairs."""
    pairs, clusters = [], {}
    for c, size in enumerate(sizes):
        for i in range(size):
            qid = f"c{c}q{i}"
            clusters[qid] = f"topic-{c}"
            pairs += [ScoredPair(float(j), 0.0, qid, f"{qid}-p{j}", f"{qid}-n{j}") for j in range(pairs_per_query)]
    return pairs, clusters


def _take(sampler, n: int) -> list[list[ScoredPair]]:
    return list(itertools.islice(sampler, n))


def _cluster_counts(batch: list[ScoredPair], clusters: dict[str, str]) -> list[int]:
    return sorted(Counter(clusters[pair.qid] for pair in batch).values())


@pytest.mark.parametrize("sampler", [TASSampler, TASBalancedSampler])
def test_one_cluster_fills_the_batch_when_it_is_big_enough(sampler):
    pairs, clusters = _clustered([10] * 5)
    for batch in _take(sampler(pairs, clusters, 8, seed=0), 300):
        assert _cluster_counts(batch, clusters) == [8]
        assert len({pair.qid for pair in batch}) == 8


def test_two_clusters_give_half_a_batch_each():
    pairs, clusters = _clustered([10] * 5)
    for batch in _take(TASSampler(pairs, clusters, 8, clusters_per_batch=2, seed=0), 300):
        assert _cluster_counts(batch, clusters) == [4, 4]


def test_the_remainder_of_b_over_n_comes_from_a_further_cluster():
    pairs, clusters = _clustered([10] * 5)
    for batch in _take(TASSampler(pairs, clusters, 7, clusters_per_batch=2, seed=0), 300):
        assert _cluster_counts(batch, clusters) == [1, 3, 3]


def test_small_clusters_are_topped_up_from_further_clusters():
    pairs, clusters = _clustered([2, 3, 1, 12, 2])
    seen = Counter()
    for batch in _take(TASSampler(pairs, clusters, 6, seed=5), 500):
        assert len({pair.qid for pair in batch}) == 6
        seen[len(_cluster_counts(batch, clusters))] += 1
    assert seen[1] > 0 and max(seen) > 2  # the big cluster alone, or small ones topped up by others


def test_a_batch_is_full_even_when_every_cluster_is_already_in_it():
    pairs, clusters = _clustered([20, 1])
    for batch in _take(TASSampler(pairs, clusters, 10, clusters_per_batch=2, seed=2), 200):
        assert len({pair.qid for pair in batch}) == 10
        assert _cluster_counts(batch, clusters) == [1, 9]


@pytest.mark.parametrize("sampler", [TASSampler, TASBalancedSampler])
def test_no_query_repeats_within_a_batch(sampler):
    pairs, clusters = _clustered([3, 7, 1, 4, 9, 2])
    for batch in _take(sampler(pairs, clusters, 9, clusters_per_batch=3, seed=1), 500):
        assert len(batch) == 9
        assert len({pair.qid for pair in batch}) == 9


def test_clusters_are_drawn_uniformly_whatever_their_size():
    pairs, clusters = _clustered([4 + c for c in range(10)])
    batches = _take(TASSampler(pairs, clusters, 3, seed=3), 3000)
    counts = Counter(clusters[batch[0].qid] for batch in batches)
    assert len(counts) == 10
    assert chisquare(list(counts.values())).pvalue > 0.001


def test_queries_within_a_cluster_are_drawn_uniformly():
    pairs, clusters = _clustered([6, 6])
    counts = Counter(pair.qid for batch in _take(TASSampler(pairs, clusters, 2, seed=4), 3000) for pair in batch)
    topic0 = [n for qid, n in counts.items() if clusters[qid] == "topic-0"]
    assert len(topic0) == 6
    assert chisquare(topic0).pvalue > 0.001


@pytest.mark.slow
def test_tas_draws_a_querys_pair_uniformly():
    pairs, clusters = _clustered([2], pairs_per_query=5)
    picks = Counter(pair.pid_pos for batch in _take(TASSampler(pairs, clusters, 1, seed=6), 4000) for pair in batch)
    assert chisquare([picks[f"c0q0-p{j}"] for j in range(5)]).pvalue > 0.001


def _skewed_query() -> tuple[list[ScoredPair], dict[str, str]]:
    """One query, 99 pairs over margins 0..10: 90 in the lowest of 10 ranges, one in each other."""
    margins = [0.0] * 90 + [k + 0.5 for k in range(1, 9)] + [10.0]
    pairs = [ScoredPair(m, 0.0, "q", f"p{i}", f"n{i}") for i, m in enumerate(margins)]
    return pairs, {"q": "topic"}


def test_balanced_draws_the_margin_ranges_uniformly_where_random_follows_the_skew():
    pairs, clusters = _skewed_query()
    balanced = TASBalancedSampler(pairs, clusters, 1, seed=7)
    bin_of = balanced.pair_bins
    bins = Counter(int(bin_of[balanced.next_indices()[0]]) for _ in range(5000))
    assert sorted(bins) == list(range(10))
    assert chisquare([bins[b] for b in range(10)]).pvalue > 0.001

    random = RandomSampler(pairs, 1, seed=7)
    skewed = Counter(int(bin_of[random.next_indices()[0]]) for _ in range(5000))
    assert skewed[0] > 4000
    assert chisquare([skewed[b] for b in range(10)]).pvalue < 1e-6


def test_balanced_draws_a_pair_uniformly_within_its_range():
    margins = [0.0, 0.1, 0.2, 0.3, 0.4, 10.0]  # 5 pairs in the lowest range, 1 in the highest
    pairs = [ScoredPair(m, 0.0, "q", f"p{i}", f"n{i}") for i, m in enumerate(margins)]
    picks = Counter(pair.pid_pos for batch in _take(TASBalancedSampler(pairs, {"q": 0}, 1, seed=8), 4000) for pair in batch)
    assert chisquare([picks["p5"], sum(picks[f"p{i}"] for i in range(5))]).pvalue > 0.001
    assert chisquare([picks[f"p{i}"] for i in range(5)]).pvalue > 0.001


def test_margin_bins_put_the_minimum_first_the_maximum_last_and_equal_margins_together():
    query_index = np.array([0, 0, 0, 0, 1, 1, 2])
    margins = np.array([-2.0, 8.0, -1.0, 6.0, 3.0, 3.0, 5.0])
    assert margin_bins(query_index, margins, 10).tolist() == [0, 9, 1, 8, 0, 0, 0]
    assert margin_bins(query_index, margins, 1).tolist() == [0] * 7
    with pytest.raises(ValueError, match="margin_bins must be at least 1"):
        margin_bins(query_index, margins, 0)


def test_balanced_bins_are_each_pairs_margin_range():
    pairs, clusters = _clustered([2, 2], pairs_per_query=4)  # margins 0, 1, 2, 3 per query
    sampler = TASBalancedSampler(pairs, clusters, 2, margin_bins=3, seed=0)
    assert sampler.pair_bins.tolist() == [0, 1, 2, 2] * 4
    assert sampler.cluster_of(5) == "topic-0" and sampler.cluster_of(9) == "topic-1"


@pytest.mark.parametrize("sampler", [TASSampler, TASBalancedSampler])
def test_same_seed_gives_same_batches_and_another_seed_differs(sampler):
    pairs, clusters = _clustered([5, 6, 7, 3], pairs_per_query=4)
    assert _take(sampler(pairs, clusters, 4, seed=1), 20) == _take(sampler(pairs, clusters, 4, seed=1), 20)
    assert _take(sampler(pairs, clusters, 4, seed=1), 20) != _take(sampler(pairs, clusters, 4, seed=2), 20)


@pytest.mark.parametrize("sampler", [TASSampler, TASBalancedSampler])
def test_resumed_from_saved_state_continues_the_same_stream(sampler):
    pairs, clusters = _clustered([5, 6, 7, 3], pairs_per_query=4)
    uninterrupted = sampler(pairs, clusters, 6, clusters_per_batch=2, seed=7)
    _take(uninterrupted, 5)
    state = json.loads(json.dumps(uninterrupted.state()))

    resumed = sampler(pairs, clusters, 6, clusters_per_batch=2, seed=999)
    resumed.load_state(state)
    assert resumed.batches == 5
    assert _take(resumed, 20) == _take(uninterrupted, 20)


@pytest.mark.parametrize("sampler", [RandomSampler, TASSampler, TASBalancedSampler])
def test_next_indices_are_the_batch_and_arrays_alone_give_the_same_stream(sampler):
    pairs, clusters = _clustered([5, 6, 7], pairs_per_query=4)
    args = (4,) if sampler is RandomSampler else (clusters, 4)
    from_pairs, twin = sampler(pairs, *args, seed=3), sampler(pairs, *args, seed=3)
    from_arrays = sampler.from_arrays(PairArrays.from_pairs(pairs), *args, seed=3)
    for _ in range(20):
        indices = twin.next_indices()
        assert indices.dtype == np.int64 and len(indices) == 4
        assert next(from_pairs) == [pairs[i] for i in indices]
        assert from_arrays.next_indices().tolist() == indices.tolist()


def test_queries_without_a_cluster_are_named_and_extra_qids_ignored():
    pairs, clusters = _clustered([4, 4])
    del clusters["c1q2"]
    with pytest.raises(ValueError, match="query c1q2 has no cluster"):
        TASSampler(pairs, clusters, 2, seed=0)

    pairs, clusters = _clustered([4, 4])
    sampler = TASSampler(pairs, {**clusters, "unseen": "topic-9"}, 2, seed=0)
    assert sampler.num_clusters == 2
    assert all(pair.qid in clusters for batch in _take(sampler, 100) for pair in batch)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(batch_size=10), "9 distinct queries cannot fill a batch of 10"),
        (dict(batch_size=0), "batch_size must be at least 1"),
        (dict(clusters_per_batch=0), "clusters_per_batch must be between 1"),
        (dict(clusters_per_batch=4), "3 clusters of the pairs' queries"),
        (dict(batch_size=2, clusters_per_batch=3), "min\\(batch_size=2"),
        (dict(margin_bins=0), "margin_bins must be at least 1"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(kwargs, message):
    pairs, clusters = _clustered([3, 3, 3])
    with pytest.raises(ValueError, match=message):
        TASBalancedSampler(pairs, clusters, **{"batch_size": 4, "seed": 0, **kwargs})
