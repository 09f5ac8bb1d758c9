import numpy as np
import pytest

from tasb.data import Pair, ScoredPair, ensemble, ensemble_files, normalize_per_query, sharing_positives, training_pairs, write_scores
from tasb.errors import InputError


def test_pairs_are_judged_positives_times_unjudged_or_irrelevant_run_passages():
    qrels = {"q": {"p1": 1, "p2": 2, "n0": 0}}
    run = {"q": {"p1": 9.0, "n0": 8.0, "n1": 7.0, "p2": 6.0, "n2": 5.0, "n3": 4.0}}
    pairs = training_pairs(qrels, run, depth=5)
    assert pairs == [Pair("q", p, n) for p in ("p1", "p2") for n in ("n0", "n1", "n2")]


def test_negatives_per_query_are_a_seeded_sample_from_the_depth():
    qrels = {"q": {"p": 1}}
    run = {"q": {f"n{i}": float(-i) for i in range(50)}}
    first = training_pairs(qrels, run, depth=20, per_query=5, seed=3)
    assert first == training_pairs(qrels, run, depth=20, per_query=5, seed=3)
    negs = [p.pid_neg for p in first]
    assert len(set(negs)) == 5 and all(int(n[1:]) < 20 for n in negs)


def test_sharing_positives_are_the_queries_judging_relevant_a_passage_training_judged_relevant():
    training = {"t1": {"d1": 1, "d2": 0}, "t2": {"d3": 2}}
    test = {
        "a": {"d1": 1, "d9": 1},  # shares d1
        "b": {"d2": 1},  # d2 was judged for training, but not relevant
        "c": {"d3": 1},  # shares d3 (graded 2 in training)
        "d": {"d1": 0, "d8": 1},  # d1 judged here, but not relevant
    }
    assert sharing_positives(test, training) == {"a", "c"}
    assert sharing_positives(test, training, min_grade=2) == set()  # no test passage is graded 2
    assert sharing_positives({"c": {"d3": 2}}, training, min_grade=2) == {"c"}


def test_normalize_per_query_gives_zero_mean_unit_std_and_keeps_ties_neutral():
    out = normalize_per_query({"q": {"a": 1.0, "b": 3.0, "c": 5.0}, "flat": {"a": 2.0, "b": 2.0}})
    values = np.array(list(out["q"].values()))
    assert values.mean() == pytest.approx(0) and values.std() == pytest.approx(1)
    assert out["flat"] == {"a": 0.0, "b": 0.0}


def test_ensemble_is_weighted_mean_of_z_scores():
    big = {"q": {"a": 100.0, "b": 0.0}}  # z: +1, -1
    small = {"q": {"a": 0.0, "b": 1.0}}  # z: -1, +1
    assert ensemble([big, small], [3.0, 1.0]) == {"q": {"a": pytest.approx(0.5), "b": pytest.approx(-0.5)}}


def test_ensemble_files_need_the_same_pairs(tmp_path):
    a, b, c = tmp_path / "a.tsv", tmp_path / "b.tsv", tmp_path / "c.tsv"
    write_scores([ScoredPair(2, 0, "q", "p", "n1"), ScoredPair(2, 1, "q", "p", "n2")], a)
    write_scores([ScoredPair(5, 3, "q", "p", "n1"), ScoredPair(5, 4, "q", "p", "n2")], b)
    merged = ensemble_files([a, b])
    assert [r.margin > 0 for r in merged] == [True, True]
    write_scores([ScoredPair(5, 3, "q", "p", "n1")], c)
    with pytest.raises(InputError, match="same"):
        ensemble_files([a, c])


@pytest.mark.parametrize("weights", [[0.0, 0.0], [1.0, -1.0], [1.0]])
def test_ensemble_weights_must_match_and_have_a_positive_sum(weights):
    with pytest.raises(InputError, match="^weights: "):
        ensemble([{"q": {"a": 1.0, "b": 0.0}}, {"q": {"a": 0.0, "b": 1.0}}], weights)
