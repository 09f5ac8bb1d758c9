import numpy as np
import pytest
from scipy.stats import ttest_rel

from tasb.evaluation.significance import better, paired_ttest


def _per_query(values) -> dict[str, float]:
    return {f"q{i}": float(v) for i, v in enumerate(values)}


def test_p_value_is_scipys_paired_t_test():
    a, b = [0.5, 0.7, 0.2, 0.9, 0.4, 0.6], [0.4, 0.6, 0.3, 0.7, 0.4, 0.3]
    assert paired_ttest(_per_query(a), _per_query(b)) == pytest.approx(ttest_rel(a, b).pvalue)


def test_a_clear_improvement_is_better_and_the_reverse_is_not():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.6, size=30)
    improved = base + 0.1 + rng.normal(0, 0.01, size=30)
    assert better(_per_query(improved), _per_query(base))
    assert not better(_per_query(base), _per_query(improved))


def test_per_query_swings_that_cancel_out_are_not_better():
    base = np.random.default_rng(1).uniform(0.2, 0.6, size=30)
    assert not better(_per_query(base + np.tile([0.05, -0.04], 15)), _per_query(base))


def test_identical_systems_have_p_one_not_nan():
    same = _per_query([0.1, 0.5, 0.9])
    assert paired_ttest(same, dict(same)) == 1.0
    assert not better(same, dict(same))


def test_queries_missing_from_one_side_are_ignored():
    a = [0.5, 0.7, 0.2, 0.9, 0.4]
    b = [0.4, 0.6, 0.3, 0.7, 0.1]
    # an unanswered query in b and a huge value only a has: neither may enter the test
    with_extra = {**_per_query(a), "only-in-a": 100.0}
    assert paired_ttest(with_extra, _per_query(b)) == pytest.approx(ttest_rel(a, b).pvalue)


def test_fewer_than_two_shared_queries_give_p_one():
    assert paired_ttest({"q1": 0.9, "q2": 0.8}, {"q1": 0.1, "q3": 0.2}) == 1.0
    assert paired_ttest({}, {}) == 1.0
    assert not better({"q1": 0.9}, {"q1": 0.1})
