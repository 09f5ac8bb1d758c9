import numpy as np
import pytest

from tasb.sampling.stats import inbatch_hardness


def test_inbatch_hardness_against_hand_computed_values():
    # columns: positives of queries 0 and 1, then their negatives (passage_ids' layout)
    scores = np.array([
        [5.0, 3.0, 1.0, 0.0],  # others 3 and 0 against own positive 5 and negative 1
        [6.0, 4.0, 1.0, 2.0],  # others 6 and 1 against own positive 4 and negative 2
    ])
    found = inbatch_hardness(scores)
    assert found["above_negative"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert found["above_positive"] == pytest.approx((0 + 1 / 2) / 2)
    assert found["margin_to_negative"] == pytest.approx(((3 - 1 + 0 - 1) / 2 + (6 - 2 + 1 - 2) / 2) / 2)


def test_a_query_is_never_compared_with_its_own_passages():
    scores = np.full((3, 6), -1.0)
    scores[np.arange(3), np.arange(3)] = 100.0  # own positives far above everything
    scores[np.arange(3), np.arange(3) + 3] = -2.0  # own negatives just below the others
    found = inbatch_hardness(scores)
    assert found == {"above_negative": 1.0, "above_positive": 0.0, "margin_to_negative": pytest.approx(1.0)}


def test_judged_relevant_passages_are_counted_among_all_and_among_the_hard_ones():
    scores = np.array([
        [5.0, 3.0, 1.0, 0.0],
        [6.0, 4.0, 1.0, 2.0],
    ])
    relevant = np.array([
        [True, True, False, False],  # query 0's other passages: column 1 (above its negative) judged relevant
        [False, True, False, False],  # query 1's: none (column 0 is above its negative, not judged)
    ])
    found = inbatch_hardness(scores, relevant)
    assert found["judged_relevant"] == pytest.approx(1 / 4)
    assert found["relevant_among_above_negative"] == pytest.approx(1 / 2)
