import pytest

from tasb.retrieval.bm25 import BM25, bm25_search

CORPUS = {
    "cats": "Cats purr when they are content and sometimes when stressed.",
    "dogs": "Dogs bark at strangers and wag their tails.",
    "fish": "Fish swim in schools to avoid predators.",
    "mixed": "Cats and dogs can live together peacefully.",
}


def test_search_ranks_by_term_match_and_drops_non_matching_passages():
    run = bm25_search(CORPUS, {"q": "why do cats purr"}, k=10)
    assert next(iter(sorted(run["q"], key=run["q"].get, reverse=True))) == "cats"
    assert set(run["q"]) == {"cats", "mixed"}


def test_stemming_matches_inflected_forms():
    run = bm25_search(CORPUS, {"q": "barking dog"}, k=10)
    assert "dogs" in run["q"]


def test_score_equals_search_scores_and_covers_unretrieved_passages():
    index = BM25(CORPUS)
    queries = {"q": "cats and dogs"}
    run = index.search(queries, k=2)
    scored = index.score(queries, {"q": list(run["q"]) + ["fish"]})
    for pid, score in run["q"].items():
        assert scored["q"][pid] == pytest.approx(score, rel=1e-6)
    assert scored["q"]["fish"] == 0.0


def test_a_query_without_indexable_terms_matches_nothing():
    bm25 = BM25({"p1": "the cat sat", "p2": "a dog ran"})
    queries = {"stop": "the", "punct": "???"}
    assert bm25.search(queries, 5) == {"stop": {}, "punct": {}}
    assert bm25.score(queries, {"stop": ["p1", "p2"], "punct": ["p2"]}) == {"stop": {"p1": 0.0, "p2": 0.0}, "punct": {"p2": 0.0}}


def test_passages_without_terms_are_never_retrieved_but_can_be_scored():
    # empty documents exist in public collections; stopwords and punctuation leave bm25s nothing to index either
    bm25 = BM25({"empty": "", "stop": "the of and", "cats": "cats purr"})
    run = bm25.search({"q": "cats purr", "stop": "the"}, 10)
    assert set(run["q"]) == {"cats"} and run["stop"] == {}
    assert bm25.score({"q": "cats"}, {"q": ["empty", "stop"]}) == {"q": {"empty": 0.0, "stop": 0.0}}


def test_a_corpus_without_a_single_term_matches_nothing():
    bm25 = BM25({"empty": "", "blank": "   ", "stop": "the of ???"})
    queries = {"q": "cats purr", "stop": "the"}
    assert bm25.search(queries, 10) == {"q": {}, "stop": {}}
    assert bm25.score(queries, {"q": ["empty", "stop"], "stop": ["blank"]}) == {"q": {"empty": 0.0, "stop": 0.0}, "stop": {"blank": 0.0}}


def test_progress_shows_on_large_corpora_only(monkeypatch, capfd):
    corpus = {f"p{i}": f"passage {i} about proteins" for i in range(20)}
    BM25(corpus).search({"q": "proteins"}, k=5)
    assert capfd.readouterr().err == ""
    monkeypatch.setattr("tasb.retrieval.bm25.PROGRESS_FROM", 10)
    BM25(corpus).search({"q": "proteins"}, k=5)
    shown = capfd.readouterr().err
    assert "%|" in shown and "it/s" in shown
