"""The quickstart's teacher weights: fitted on the held-out queries from a small grid, replacing the weights as set
only when choosing the grid's best beats them on queries that did not choose it (leave-one-out)."""

from __future__ import annotations

import math

import pytest

from tasb.apps.quickstart import QuickstartConfig, fit_note, teacher_weights
from tasb.training.validation import ValidationSet, best_weights, ensemble_per_query, leave_one_out, mean, weight_grid

QUERIES = [f"q{i}" for i in range(6)]
QRELS = {qid: {f"{qid}-relevant": 1} for qid in QUERIES}


def _ranking(relevant_first: set[str]) -> dict[str, dict[str, float]]:
    """Each query's relevant passage first where ``relevant_first`` holds the query, else last of three."""
    return {
        qid: {f"{qid}-relevant": 3.0 if qid in relevant_first else 1.0, f"{qid}-b": 2.5, f"{qid}-c": 2.0} for qid in QUERIES
    }


RIGHT = _ranking(set(QUERIES))
WRONG = _ranking(set())
ALL_BUT_ONE = _ranking(set(QUERIES[1:]))
# nDCG@10 with one relevant passage at rank r is 1 / log2(r + 1): rank 1 → 1, rank 3 → .5
LAST = 0.5


def test_the_grid_lists_each_relative_weighting_once():
    found = weight_grid({"x": RIGHT, "y": WRONG}, QRELS, "nDCG@10", 1, grid=[0, 0.5, 1])
    # the largest weight is 1: (0, 1), (1, 0), (.5, 1), (1, .5), (1, 1); (.5, .5) is (1, 1) again
    listed = [frozenset(weights.items()) for weights, _ in found]
    expected = [{"x": 1}, {"y": 1}, {"x": 0.5, "y": 1}, {"x": 1, "y": 0.5}, {"x": 1, "y": 1}]
    assert sorted(listed, key=sorted) == sorted((frozenset(w.items()) for w in expected), key=sorted)
    values = {tuple(sorted(weights.items())): mean(per_query) for weights, per_query in found}
    assert values[(("x", 1),)] == pytest.approx(1.0)
    assert values[(("y", 1),)] == pytest.approx(LAST)


def test_a_weighting_better_on_every_held_out_query_replaces_the_weights_as_set():
    fit = best_weights({"x": WRONG, "y": RIGHT}, QRELS, "nDCG@10", 1, prior={"x": 1.0, "y": 0.0})
    assert fit.replaced and fit.weights == {"y": 1.0} and fit.value == pytest.approx(1.0)
    assert fit.prior == {"x": 1.0} and fit.prior_value == pytest.approx(LAST) and fit.p < 0.05
    assert fit_note(fit) == "; weights fitted on the held-out queries (1.000 by leave-one-out, as set 0.500: p 0)"


def test_a_weighting_better_on_one_query_of_six_does_not():
    # y is right on all six, x on five: the mean is higher, but a paired t-test cannot tell them apart (p .36)
    scores = {"x": ALL_BUT_ONE, "y": RIGHT}
    assert mean(ensemble_per_query(scores, {"y": 1.0}, QRELS, "nDCG@10", 1)) == pytest.approx(1.0)
    fit = best_weights(scores, QRELS, "nDCG@10", 1, prior={"x": 1.0})
    assert not fit.replaced and fit.weights == {"x": 1.0} and fit.value == pytest.approx((5 + LAST) / 6)
    assert fit.best_value == pytest.approx(1.0) and fit.p == pytest.approx(0.363, abs=1e-3)
    assert fit_note(fit) == (
        "; weights as set (the held-out queries' best, 1.000, 1.000 by leave-one-out, not apart from their 0.917: p 0.36)"
    )


def test_a_best_that_only_the_queries_which_chose_it_favour_keeps_the_weights_as_set():
    # y is right on q0-q2 and last on q3-q5, x the other way round, and z, the weights as set, is second on all six.
    # Left out, each query is judged by the weighting the other five chose, which puts it last: the best's .75 on
    # the six queries is their own choice, and on queries that did not choose it it scores .5, below z's .63
    second = {qid: {f"{qid}-relevant": 2.5, f"{qid}-b": 3.0, f"{qid}-c": 2.0} for qid in QUERIES}
    scores = {"x": _ranking(set(QUERIES[3:])), "y": _ranking(set(QUERIES[:3])), "z": second}
    fit = best_weights(scores, QRELS, "nDCG@10", 1, prior={"z": 1.0}, grid=[0, 1])
    assert fit.best_value == pytest.approx(0.75) and fit.cross_validated == pytest.approx(LAST)
    assert fit.prior_value == pytest.approx(1 / math.log2(3))
    assert not fit.replaced and fit.value == pytest.approx(fit.prior_value)
    assert fit_note(fit).endswith("0.500 by leave-one-out, not above their 0.631: p 0)")


def test_weights_as_set_that_are_the_grids_best_are_named_so():
    # y right on all six queries and the weights as set (2 x y is the grid's 1 x y): nothing to weigh them against
    fit = best_weights({"x": WRONG, "y": RIGHT}, QRELS, "nDCG@10", 1, prior={"y": 2.0})
    assert not fit.replaced and fit.best == {"y": 1.0} and fit.value == pytest.approx(1.0)
    assert fit_note(fit) == "; weights as set, the held-out queries' best (1.000)"


def test_leave_one_out_judges_each_query_by_the_others_choice():
    # the first weighting leads on q0 by 1 and trails on each other query by .1: best over all six (3.5 against 3.0),
    # but without q0 the second leads, and without any other query the first still does
    first = {qid: 1.0 if qid == "q0" else 0.5 for qid in QUERIES}
    second = {qid: 0.0 if qid == "q0" else 0.6 for qid in QUERIES}
    assert leave_one_out([({"a": 1.0}, first), ({"b": 1.0}, second)]) == {"q0": 0.0, **{qid: 0.5 for qid in QUERIES[1:]}}


def test_a_tie_on_the_other_queries_goes_to_the_weighting_listed_first_whatever_the_left_out_query_scores():
    # equal on q1-q5, the second better on q0 alone: left out, q0 cannot see that, so the first is chosen for it.
    # Subtracting q0 from all-query totals would not tie here: (sum of first) - 0.1 is 2.11 and (sum of second) - 0.9
    # is 2.1100000000000003, which would hand q0 the second's 0.9
    shared = {qid: value for qid, value in zip(QUERIES[1:], [0.03, 0.54, 0.94, 0.38, 0.22])}
    first, second = {"q0": 0.1, **shared}, {"q0": 0.9, **shared}
    assert sum(second.values()) - 0.9 > sum(first.values()) - 0.1
    assert leave_one_out([({"a": 1.0}, first), ({"b": 1.0}, second)])["q0"] == 0.1


class _Member:
    def __init__(self, scores):
        self.scores = scores

    def score(self, candidates, queries, corpus):
        return {qid: self.scores[qid] for qid in candidates}


@pytest.fixture
def validation():
    candidates = {qid: list(by_pid) for qid, by_pid in RIGHT.items()}
    return ValidationSet(queries={qid: qid for qid in QUERIES}, qrels=QRELS, candidates=candidates, corpus={})


def _members():
    # a collection the initial student already knows: the labels' members rank wrongly, the initial student rightly
    return {"colbert": _Member(WRONG), "bm25": _Member(WRONG), "baseline": _Member(WRONG), "bi-encoder": _Member(RIGHT)}


def test_fitted_weights_let_the_initial_student_into_the_teacher_where_it_validates_higher(validation):
    weights, held_out, fit = teacher_weights(QuickstartConfig(), _members(), validation)
    assert weights == {"bi-encoder": 1.0} and held_out == pytest.approx(1.0)
    assert fit.prior == {"colbert": 0.25, "bm25": 0.5, "baseline": 1.0} and fit.prior_value == pytest.approx(LAST)


def test_without_held_out_queries_the_weights_as_set_teach():
    assert teacher_weights(QuickstartConfig(), _members(), None) == ({"colbert": 0.25, "bm25": 0.5, "baseline": 1.0}, None, None)
    # without a baseline, its weight goes with it
    no_baseline = {name: member for name, member in _members().items() if name != "baseline"}
    assert teacher_weights(QuickstartConfig(), no_baseline, None) == ({"colbert": 0.25, "bm25": 0.5}, None, None)


def test_unfitted_weights_are_kept_as_set_and_scored_on_the_held_out_queries(validation):
    config = QuickstartConfig(teacher_ensemble={"colbert": 1.0, "bm25": 0.0}, fit_teacher_ensemble=False)
    assert teacher_weights(config, _members(), validation) == ({"colbert": 1.0}, pytest.approx(LAST), None)
