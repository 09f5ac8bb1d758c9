"""The quickstart sizes its teacher-scored pairs from the data: enough that the student meets each about once."""

from __future__ import annotations

import pytest

from tasb.apps.quickstart import QuickstartConfig, negatives_per_query


def _qrels(queries: int, positives: int = 1) -> dict[str, dict[str, int]]:
    # a judged-irrelevant passage (grade 0) is no positive
    return {f"q{i}": {**{f"p{i}-{j}": 1 for j in range(positives)}, f"n{i}": 0} for i in range(queries)}


@pytest.mark.parametrize(
    "queries, positives, expected",
    [
        (80, 1, 30),  # a ~100-query collection: 4,000 pair visits over 80 positives want 50, capped at the depth
        (200, 1, 20),  # ceil(4000 / 200)
        (250, 2, 8),  # ceil(4000 / 500): graded collections with several positives need fewer negatives each
        (728, 1, 6),  # SciFact's teaching queries: ceil(4000 / 728)
        (5000, 3, 6),  # never fewer than 6
    ],
)
def test_null_negatives_per_query_meets_each_pair_about_once(queries, positives, expected):
    config = QuickstartConfig(train_steps=250, batch_size=16, negatives_depth=30)
    assert negatives_per_query(config, _qrels(queries, positives)) == expected


def test_a_set_negatives_per_query_is_kept_and_the_depth_bounds_the_null_one():
    assert negatives_per_query(QuickstartConfig(negatives_per_query=3), _qrels(10)) == 3
    assert negatives_per_query(QuickstartConfig(negatives_depth=12), _qrels(10)) == 12
    assert QuickstartConfig().negatives_per_query is None
