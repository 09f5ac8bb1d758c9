import itertools
import json
from collections import Counter

import pytest
from scipy.stats import chisquare

from tasb.data.records import ScoredPair
from tasb.sampling import RandomSampler


def _pairs(num_queries: int = 20, pairs_per_query: int = 3) -> list[ScoredPair]:
    return [
        ScoredPair(float(j), 0.0, f"q{q}", f"p{q}-{j}", f"n{q}-{j}")
        for q in range(num_queries)
        for j in range(pairs_per_query)
    ]


def _take(sampler: RandomSampler, n: int) -> list[list[ScoredPair]]:
    return list(itertools.islice(sampler, n))


def test_same_seed_gives_same_batches_and_another_seed_differs():
    assert _take(RandomSampler(_pairs(), 4, seed=1), 10) == _take(RandomSampler(_pairs(), 4, seed=1), 10)
    assert _take(RandomSampler(_pairs(), 4, seed=1), 10) != _take(RandomSampler(_pairs(), 4, seed=2), 10)


def test_resumed_from_saved_state_continues_the_same_stream():
    uninterrupted = RandomSampler(_pairs(), 4, seed=7)
    _take(uninterrupted, 5)
    state = json.loads(json.dumps(uninterrupted.state()))  # as it travels through state.json

    resumed = RandomSampler(_pairs(), 4, seed=999)
    resumed.load_state(state)
    assert resumed.batches == 5
    assert _take(resumed, 10) == _take(uninterrupted, 10)


def test_no_query_repeats_within_a_batch():
    for batch in _take(RandomSampler(_pairs(num_queries=6), 6, seed=0), 200):
        assert len(batch) == 6
        assert len({pair.qid for pair in batch}) == 6


def test_fewer_queries_than_batch_size_is_refused():
    with pytest.raises(ValueError, match="5 distinct queries"):
        RandomSampler(_pairs(num_queries=5), 6, seed=0)


def test_queries_are_drawn_uniformly_however_many_pairs_each_has():
    pairs = [p for p in _pairs(num_queries=20, pairs_per_query=6) if int(p.pid_pos.split("-")[1]) <= int(p.qid[1:]) % 6]
    counts = Counter(pair.qid for batch in _take(RandomSampler(pairs, 5, seed=3), 2000) for pair in batch)
    assert len(counts) == 20
    assert chisquare(list(counts.values())).pvalue > 0.001


def test_a_querys_pair_is_drawn_uniformly():
    pairs = _pairs(num_queries=4, pairs_per_query=5)
    batches = _take(RandomSampler(pairs, 1, seed=4), 5000)
    picks = Counter(pair.pid_pos for batch in batches for pair in batch if pair.qid == "q2")
    assert set(picks) == {f"p2-{j}" for j in range(5)}
    assert chisquare(list(picks.values())).pvalue > 0.001
