"""Re-ranking: the top-depth reordered by the score function, the rest kept below in their old order."""

from __future__ import annotations

import numpy as np
import pytest

from tasb.data.writers import ranked
from tasb.errors import InputError
from tasb.retrieval.rerank import keep_tail, rerank
from tasb.retrieval.scorers import TextPairScorer, score_query_passages

QUERIES = {"q1": "query one", "q2": "query two"}
CORPUS = {f"p{i}": f"passage {i}" for i in range(6)}
RUN = {
    "q1": {"p0": 6.0, "p1": 5.0, "p2": 4.0, "p3": 3.0, "p4": 2.0, "p5": 1.0},
    "q2": {"p5": 0.9, "p4": 0.8},
}


def by_passage_number(queries: list[str], passages: list[str]) -> np.ndarray:
    """A score function preferring higher passage numbers: "passage 5" beats "passage 0"."""
    return np.array([float(p.split()[-1]) for p in passages])


def test_top_depth_follow_the_score_function_and_the_rest_keep_their_order():
    reranked = rerank(RUN, QUERIES, CORPUS, TextPairScorer(by_passage_number), depth=3)

    assert [pid for pid, _ in ranked(reranked["q1"])] == ["p2", "p1", "p0", "p3", "p4", "p5"]
    assert [pid for pid, _ in ranked(reranked["q2"])] == ["p5", "p4"]
    assert {qid: set(scores) for qid, scores in reranked.items()} == {qid: set(scores) for qid, scores in RUN.items()}
    assert reranked["q1"]["p2"] == 2.0


def test_only_the_top_depth_is_scored():
    seen = []

    def counting(queries, passages):
        seen.extend(passages)
        return by_passage_number(queries, passages)

    rerank(RUN, QUERIES, CORPUS, TextPairScorer(counting), depth=2)
    assert sorted(seen) == ["passage 0", "passage 1", "passage 4", "passage 5"]


def test_missing_passage_text_is_refused_naming_the_id():
    with pytest.raises(InputError, match="p3"):
        rerank(RUN, QUERIES, {k: v for k, v in CORPUS.items() if k != "p3"}, TextPairScorer(by_passage_number), depth=4)


def test_missing_query_text_is_refused_naming_the_id():
    with pytest.raises(InputError, match="q2"):
        rerank(RUN, {"q1": "query one"}, CORPUS, TextPairScorer(by_passage_number), depth=1)


def test_score_query_passages_scores_duplicates_once():
    calls = []

    def counting(queries, passages):
        calls.append(len(passages))
        return by_passage_number(queries, passages)

    scores = score_query_passages(counting, {"q1": ["p1", "p3", "p1"], "q2": ["p1"]}, QUERIES, CORPUS)
    assert scores == {"q1": {"p1": 1.0, "p3": 3.0}, "q2": {"p1": 1.0}}
    assert calls == [3]


def test_keep_tail_puts_unscored_candidates_below_in_their_old_order():
    merged = keep_tail({"p4": -0.5, "p5": 0.3}, RUN["q1"])

    assert [pid for pid, _ in ranked(merged)] == ["p5", "p4", "p0", "p1", "p2", "p3"]
    assert merged["p5"] == 0.3


@pytest.mark.slow
def test_rerank_command_reorders_the_head_and_keeps_the_candidate_set(tmp_path, tiny_bert_dir):
    from typer.testing import CliRunner

    from tasb.cli import app
    from tasb.data import read_run, write_run

    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("a\tcats and dogs\nb\tthe cat sat\nc\tcars and roads\nd\tcat cat cat\ne\tnothing here\n")
    queries = tmp_path / "queries.tsv"
    queries.write_text("q1\tcat\n")
    first_stage = {"q1": {"e": 5.0, "c": 4.0, "a": 3.0, "b": 2.0, "d": 1.0}}
    write_run(first_stage, tmp_path / "first.trec")
    runner = CliRunner()
    for spec, name in (("bm25", "bm25.trec"), (f"ce:{tiny_bert_dir}", "ce.trec")):
        result = runner.invoke(app, [
            "rerank", "--scorer", spec, "--run", str(tmp_path / "first.trec"), "--corpus", str(corpus),
            "--queries", str(queries), "--rerank-depth", "3", "--out", str(tmp_path / name), "--no-bf16",
        ])
        assert result.exit_code == 0, result.output
        reranked = read_run(tmp_path / name)
        assert set(reranked["q1"]) == set(first_stage["q1"])
        assert list(reranked["q1"])[3:] == ["b", "d"]  # below the depth: old order, below the head
    # BM25 puts the only top-3 passage mentioning a cat first
    assert list(read_run(tmp_path / "bm25.trec")["q1"])[0] == "a"
