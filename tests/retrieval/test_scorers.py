"""Teachers as scorers: pairs scored once, ensembles of z-scores, teacher specs."""

from __future__ import annotations

import numpy as np
import pytest

from tasb.data.records import Pair, ScoredPair
from tasb.errors import InputError
from tasb.models.colbert import ColBERT, PassageTokenCache
from tasb.models.student import BertDot
from tasb.retrieval.bm25 import BM25
from tasb.retrieval.scorers import (
    BM25Scorer,
    ColbertScorer,
    DotScorer,
    EnsembleScorer,
    TextPairScorer,
    parse_teacher_spec,
    score_pairs,
)

QUERIES = {"q1": "how do bacteria resist antibiotics", "q2": "does coffee raise blood pressure"}
CORPUS = {
    "d1": "Bacteria resist antibiotics through efflux pumps and enzymes.",
    "d2": "Caffeine raises blood pressure briefly.",
    "n1": "Penguins live in the southern hemisphere.",
    "n2": "Coffee is grown in Brazil and Vietnam, mostly.",
}


def _length(queries, passages):
    return np.array([float(len(p)) for p in passages])


def test_score_pairs_scores_each_distinct_pair_once_and_keeps_pair_order():
    scored = []

    def length_score(queries, passages):
        scored.extend(zip(queries, passages))
        return _length(queries, passages)

    pairs = [Pair("q1", "d1", "n1"), Pair("q1", "d1", "n2"), Pair("q2", "d2", "n1"), Pair("q1", "d1", "n1")]
    rows = score_pairs(TextPairScorer(length_score), pairs, QUERIES, CORPUS)

    assert len(scored) == len(set(scored)) == 5
    assert [(r.qid, r.pid_pos, r.pid_neg) for r in rows] == [tuple(p) for p in pairs]
    assert rows[0] == ScoredPair(len(CORPUS["d1"]), len(CORPUS["n1"]), "q1", "d1", "n1")
    assert rows[1].margin == len(CORPUS["d1"]) - len(CORPUS["n2"])


def test_ensemble_averages_per_query_z_scores_of_its_members():
    wanted = {"q1": ["d1", "n1", "n2"]}
    length = TextPairScorer(_length)
    negated = TextPairScorer(lambda q, p: -_length(q, p))
    # opposite teachers with equal weight cancel out; with 3:1 the first one's order wins
    assert EnsembleScorer([length, negated], [1.0, 1.0]).score(wanted, QUERIES, CORPUS)["q1"] == pytest.approx(
        {"d1": 0.0, "n1": 0.0, "n2": 0.0}
    )
    mixed = EnsembleScorer([length, negated], [3.0, 1.0]).score(wanted, QUERIES, CORPUS)["q1"]
    assert sorted(mixed, key=mixed.get) == sorted(wanted["q1"], key=lambda p: len(CORPUS[p]))


def test_bm25_scorer_prefers_term_matches():
    scores = BM25Scorer(BM25(CORPUS)).score({"q1": ["d1", "n1"]}, QUERIES, CORPUS)["q1"]
    assert scores["d1"] > scores["n1"] == 0.0


@pytest.mark.slow
def test_dot_scorer_equals_the_dot_product_of_encoded_vectors(tiny_bert_dir):
    model = BertDot.load(str(tiny_bert_dir))
    scores = DotScorer(model, bf16=False).score({"q1": ["d1", "n2"]}, QUERIES, CORPUS)["q1"]
    query = model.encode_queries([QUERIES["q1"]])[0]
    passages = model.encode_passages([CORPUS["d1"], CORPUS["n2"]])
    assert [scores["d1"], scores["n2"]] == pytest.approx((passages @ query).tolist(), rel=1e-5)


def test_colbert_scorer_equals_maxsim_and_encodes_each_passage_once(tiny_bert_dir):
    model = ColBERT.load(str(tiny_bert_dir), dim=8)
    cache = PassageTokenCache(model, bf16=False)
    scorer = ColbertScorer(model, cache)
    wanted = {"q1": ["d1", "n2", "d1"], "q2": ["n2", "d2"]}
    scores = scorer.score(wanted, QUERIES, CORPUS)
    for qid, pids in wanted.items():
        expected = model.score([QUERIES[qid]] * len(pids), [CORPUS[p] for p in pids], bf16=False)
        assert [scores[qid][p] for p in pids] == pytest.approx(expected.tolist(), abs=1e-3)
    assert len(cache) == 3
    # a second call reuses the cached passages, so only the one new passage is encoded
    scorer.score({"q1": ["n1"]}, QUERIES, CORPUS)
    assert len(cache) == 4


def test_colbert_scorer_names_a_passage_without_text(tiny_bert_dir):
    model = ColBERT.load(str(tiny_bert_dir), dim=8)
    with pytest.raises(InputError, match="passage id gone"):
        ColbertScorer(model, PassageTokenCache(model)).score({"q1": ["gone"]}, QUERIES, CORPUS)


@pytest.mark.parametrize(
    "spec, parsed",
    [("bm25", ("bm25", "")), ("dot:all-MiniLM-L6-v2", ("dot", "all-MiniLM-L6-v2")), ("runs/teacher/model", ("ce", "runs/teacher/model")),
     ("ce:cross-encoder/ms-marco-MiniLM-L-6-v2", ("ce", "cross-encoder/ms-marco-MiniLM-L-6-v2")),
     ("colbert:runs/colbert/model", ("colbert", "runs/colbert/model"))],
)
def test_teacher_specs(spec, parsed):
    assert parse_teacher_spec(spec) == parsed


def test_teacher_spec_without_model_is_refused():
    with pytest.raises(InputError, match="a model after 'dot:'"):
        parse_teacher_spec("dot:")
