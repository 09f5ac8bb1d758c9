"""The quickstart's student starts from whichever of the initial model and the baseline validates higher."""

from __future__ import annotations

import pytest

from tasb.apps.quickstart import QuickstartConfig, choose_start


@pytest.fixture
def held_out_scores(monkeypatch):
    scores = {"initial": 0.70, "baseline": 0.60}
    monkeypatch.setattr("tasb.training.validation.validation_score", lambda model, *args: scores[model])
    return scores


def test_an_overfitted_baseline_loses_the_start_to_the_initial_model(held_out_scores):
    # trained on a few queries, the baseline can validate below the model it started from
    assert choose_start(QuickstartConfig(), "initial", "baseline", validation=object()) == (
        "initial", {"initial": 0.70, "baseline": 0.60}
    )


def test_the_baseline_keeps_the_start_when_it_validates_as_high(held_out_scores):
    held_out_scores["baseline"] = 0.70
    assert choose_start(QuickstartConfig(), "initial", "baseline", validation=object())[0] == "baseline"


def test_without_held_out_queries_or_with_a_set_start_nothing_is_validated(held_out_scores):
    assert choose_start(QuickstartConfig(), "initial", "baseline", validation=None) == ("baseline", {})
    for start in ("initial", "baseline"):
        assert choose_start(QuickstartConfig(student_start=start), "initial", "baseline", object()) == (start, {})
