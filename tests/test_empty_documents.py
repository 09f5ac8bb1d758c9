"""Real collections as they come (issue 17): an empty document, judged relevant, goes through index, search,
BM25 and evaluation like any other, through the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tasb.cli import app

DOCS = [
    {"_id": "d1", "title": "Cats", "text": "Cats purr when they are content."},
    {"_id": "d2", "title": "", "text": ""},
    {"_id": "d3", "title": "Dogs", "text": "Dogs bark at strangers."},
    {"_id": "d4", "title": "", "text": "the of and"},
]
QUERIES = [{"_id": "q1", "text": "why do cats purr"}, {"_id": "q2", "text": "barking dogs"}]
# the empty document is q2's only relevant one, as happens in public qrels
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n"


@pytest.fixture
def beir(tmp_path):
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUERIES), encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text(QRELS, encoding="utf-8")
    return folder


def _run(argv: list[str]):
    result = CliRunner().invoke(app, [str(arg) for arg in argv])
    assert result.exit_code == 0, result.output
    return result


def _pids(run_file) -> dict[str, list[str]]:
    ranking: dict[str, list[str]] = {}
    for line in run_file.read_text(encoding="utf-8").splitlines():
        qid, _, pid, *_ = line.split()
        ranking.setdefault(qid, []).append(pid)
    return ranking


@pytest.mark.slow
def test_a_judged_empty_document_is_indexed_searched_and_evaluated(beir, tmp_path, tiny_bert_dir):
    index = tmp_path / "index"
    _run(["index", "--data", beir, "--model", tiny_bert_dir, "--out", index, "--no-bf16"])
    assert (index / "ids.txt").read_text(encoding="utf-8").split() == ["d1", "d2", "d3", "d4"]

    _run(["search", "--index", index, "--data", beir, "--out", tmp_path / "dense.trec", "--k", 10])
    dense = _pids(tmp_path / "dense.trec")
    assert all(sorted(pids) == ["d1", "d2", "d3", "d4"] for pids in dense.values())

    result = _run(["evaluate", "--run", tmp_path / "dense.trec", "--qrels", beir / "qrels" / "test.tsv", "--json"])
    metrics = json.loads(result.stdout)
    # every document is ranked, the empty one too: each query finds its relevant document within 100
    assert metrics["R@100"] == 1.0 and 0 < metrics["nDCG@10"] <= 1


def test_bm25_runs_over_empty_documents_without_retrieving_them(beir, tmp_path):
    _run(["bm25", "--data", beir, "--out", tmp_path / "bm25.trec", "--k", 10])
    bm25 = _pids(tmp_path / "bm25.trec")
    assert bm25["q1"][0] == "d1" and bm25["q2"] == ["d3"]
    assert all("d2" not in pids and "d4" not in pids for pids in bm25.values())


def test_bm25_over_a_corpus_without_a_single_term_writes_an_empty_run(beir, tmp_path):
    (beir / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in (DOCS[1], DOCS[3])), encoding="utf-8")
    _run(["bm25", "--data", beir, "--out", tmp_path / "bm25.trec", "--k", 10])
    assert (tmp_path / "bm25.trec").read_text(encoding="utf-8") == ""
