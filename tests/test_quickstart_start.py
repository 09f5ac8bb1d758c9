"""The quickstart's student starts from whichever of the initial model and the baseline validates higher."""

from __future__ import annotations

import pytest

from tasb.apps.quickstart import QuickstartConfig, choose_start
from tasb.config import ValidationConfig
from tasb.data.records import Dataset
from tasb.models.student import BertDot
from tasb.retrieval.index import build_index
from tasb.retrieval.scorers import DotScorer
from tasb.training.validation import build_validation_set, validation_score

# the quickstart's members: the initial student is "bi-encoder"
MEMBERS = {"bi-encoder": "initial", "baseline": "baseline"}


@pytest.fixture
def held_out_scores(monkeypatch):
    scores = {"initial": 0.70, "baseline": 0.60}
    monkeypatch.setattr("tasb.training.validation.scorer_validation_score", lambda scorer, *args: scores[scorer])
    return scores


def test_an_overfitted_baseline_loses_the_start_to_the_initial_model(held_out_scores):
    # trained on a few queries, the baseline can validate below the model it started from
    assert choose_start(QuickstartConfig(), MEMBERS, validation=object()) == ("initial", {"initial": 0.70, "baseline": 0.60})


def test_the_baseline_keeps_the_start_when_it_validates_as_high(held_out_scores):
    held_out_scores["baseline"] = 0.70
    assert choose_start(QuickstartConfig(), MEMBERS, validation=object())[0] == "baseline"


def test_without_held_out_queries_or_with_a_set_start_nothing_is_validated(held_out_scores):
    assert choose_start(QuickstartConfig(), MEMBERS, validation=None) == ("baseline", {})
    for start in ("initial", "baseline"):
        assert choose_start(QuickstartConfig(student_start=start), MEMBERS, object()) == (start, {})


@pytest.mark.slow
def test_a_start_scored_from_its_index_scores_as_the_trainer_validates_it(tiny_bert_dir, tmp_path):
    # the trainer takes this score as its step 0, so it must be the one its own validation would give
    words = ["protein", "cell", "gene", "virus", "drug", "brain", "heart", "blood", "bone", "skin"]
    corpus = {f"p{i}": f"{words[i]} {words[(i * 3) % 10]} study of {words[(i + 1) % 10]}" for i in range(10)}
    queries = {f"q{i}": f"{words[i]} {words[(i + 1) % 10]}" for i in range(10)}
    qrels = {f"q{i}": {f"p{i}": 1} for i in range(10)}
    dataset = Dataset(corpus, queries, qrels, "synthetic")
    held_out = build_validation_set(ValidationConfig(queries=4, rerank_depth=5), dataset, dataset.judged_queries())
    model = BertDot.load(str(tiny_bert_dir))
    index = build_index(model, corpus, tmp_path / "index", bf16=False)
    scorer = DotScorer(model, bf16=False, passage_vectors=dict(zip(index.ids, index.embeddings)))

    _, scores = choose_start(QuickstartConfig(bf16=False), {"bi-encoder": scorer, "baseline": scorer}, held_out)

    assert scores["initial"] == pytest.approx(validation_score(model, held_out, "nDCG@10", 1, bf16=False), abs=1e-9)
