"""Approximate indexes: recall against exact search above a floor, the folder they write, what they refuse."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tasb.config import IndexConfig
from tasb.errors import InputError
from tasb.models.student import BertDot
from tasb.retrieval.ann import build_ann, recall_against_exact, resolved_settings
from tasb.retrieval.index import DenseIndex, build_index, search

RNG = np.random.default_rng(0)
VECTORS = RNG.standard_normal((4000, 32)).astype(np.float32)
QUERIES = RNG.standard_normal((100, 32)).astype(np.float32)


@pytest.mark.parametrize(
    ("config", "floor"),
    [
        (IndexConfig(type="hnsw"), 0.95),
        # 8 sub-vectors of 4 dims at 8 bits: codes are 8 bytes for 128 of floats, so recall is lossy by design
        (IndexConfig(type="ivfpq", ivf_lists=16, nprobe=16, pq_subquantizers=8), 0.40),
    ],
)
@pytest.mark.slow
def test_recall_at_10_against_exact_search_is_above_its_floor(config, floor):
    settings = resolved_settings(config, len(VECTORS), 32)
    _, rows = build_ann(VECTORS, config.type, settings).search(QUERIES, 10)
    assert recall_against_exact(VECTORS, rows, QUERIES, 10) >= floor


@pytest.mark.slow
def test_more_probes_find_more_of_the_exact_top_k():
    recalls = []
    for nprobe in (1, 16):
        config = IndexConfig(type="ivfpq", ivf_lists=16, nprobe=nprobe, pq_subquantizers=16)
        _, rows = build_ann(VECTORS, "ivfpq", resolved_settings(config, len(VECTORS), 32)).search(QUERIES, 10)
        recalls.append(recall_against_exact(VECTORS, rows, QUERIES, 10))
    assert recalls[0] < recalls[1]


def test_automatic_settings_and_refusals():
    assert resolved_settings(IndexConfig(type="ivfpq"), 10000, 768) == {
        "ivf_lists": 256, "nprobe": 16, "pq_subquantizers": 192, "pq_bits": 8,
    }
    with pytest.raises(InputError, match="dividing the vector size 32"):
        resolved_settings(IndexConfig(type="ivfpq", pq_subquantizers=5), 4000, 32)
    with pytest.raises(InputError, match="2\\^pq_bits"):
        resolved_settings(IndexConfig(type="ivfpq", pq_bits=8), 100, 32)
    with pytest.raises(InputError, match="hnsw_m"):
        resolved_settings(IndexConfig(type="hnsw", hnsw_m=0), 100, 32)


@pytest.mark.slow
def test_an_hnsw_index_folder_searches_like_the_flat_one(tiny_bert_dir, tmp_path):
    model = BertDot.load(str(tiny_bert_dir))
    corpus = {f"p{i}": f"passage number {i} about topic {i % 7} and subject {i % 11}" for i in range(300)}
    queries = {f"q{i}": f"topic {i} subject {i + 3}" for i in range(7)}
    flat = build_index(model, corpus, tmp_path / "flat", bf16=False)
    hnsw = build_index(model, corpus, tmp_path / "hnsw", bf16=False, ann=IndexConfig(type="hnsw"))

    meta = json.loads((hnsw.path / "meta.json").read_text())
    assert meta["index_type"] == "hnsw" and meta["ann"]["hnsw_ef_search"] == 128
    assert (hnsw.path / "faiss.index").is_file()
    reloaded = DenseIndex.load(hnsw.path)
    exact, approximate = search(flat, model, queries, k=5), search(reloaded, model, queries, k=5)
    overlap = np.mean([len(set(exact[q]) & set(approximate[q])) / 5 for q in queries])
    assert overlap >= 0.9
    vectors = model.encode_queries(list(queries.values()))
    assert flat.recall_against_exact(vectors, 5) == 1.0
    assert reloaded.recall_against_exact(vectors, 5) == pytest.approx(overlap)


@pytest.mark.slow
def test_index_and_ann_recall_commands(tiny_bert_dir, tmp_path):
    from typer.testing import CliRunner

    from tasb.cli import app

    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("".join(f"p{i}\tpassage {i} on topic {i % 5} and theme {i % 13}\n" for i in range(300)))
    queries = tmp_path / "queries.tsv"
    queries.write_text("".join(f"q{i}\ttopic {i} theme {i * 2}\n" for i in range(10)))
    runner = CliRunner()
    built = runner.invoke(app, [
        "index", "--corpus", str(corpus), "--model", str(tiny_bert_dir), "--out", str(tmp_path / "idx"),
        "--type", "ivfpq", "--set", "ann.ivf_lists=4", "--set", "ann.pq_bits=6", "--no-bf16",
    ])
    assert built.exit_code == 0, built.output
    assert json.loads((tmp_path / "idx" / "meta.json").read_text())["ann"] == {
        "ivf_lists": 4, "nprobe": 16, "pq_subquantizers": 8, "pq_bits": 6,
    }
    measured = runner.invoke(app, ["ann-recall", "--index", str(tmp_path / "idx"), "--queries", str(queries), "--recall-depth", "10"])
    assert measured.exit_code == 0, measured.output
    # stderr's progress bars share the captured output: the report is the JSON object in it
    report = json.loads(measured.output[measured.output.index('{"index_type"') :].splitlines()[0])
    assert report["index_type"] == "ivfpq" and report["queries"] == 10 and 0 < report["recall@10"] <= 1
    refused = runner.invoke(app, [
        "index", "--corpus", str(corpus), "--model", str(tiny_bert_dir), "--out", str(tmp_path / "bad"), "--type", "ivfpq",
        "--set", "ann.pq_subquantizers=5",
    ])
    assert refused.exit_code == 2 and "pq_subquantizers" in refused.output and not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_reindex_reuses_the_vectors_of_an_index_under_another_type(tiny_bert_dir, tmp_path):
    from tasb.retrieval.index import reindex

    model = BertDot.load(str(tiny_bert_dir))
    corpus = {f"p{i}": f"passage number {i} about topic {i % 7}" for i in range(200)}
    flat = build_index(model, corpus, tmp_path / "flat", bf16=False, model_name="tiny")

    hnsw = reindex(flat, tmp_path / "hnsw", IndexConfig(type="hnsw"))

    assert hnsw.ids == flat.ids
    np.testing.assert_array_equal(hnsw.embeddings, flat.embeddings)
    assert (tmp_path / "hnsw" / "embeddings.npy").stat().st_ino == (tmp_path / "flat" / "embeddings.npy").stat().st_ino
    assert hnsw.meta["index_type"] == "hnsw" and hnsw.meta["model_fingerprint"] == flat.meta["model_fingerprint"]
    assert hnsw.meta["reindexed_from"] == str((tmp_path / "flat").resolve())
    vectors = model.encode_queries(["topic 3", "topic 5 number 12"])
    assert hnsw.recall_against_exact(vectors, 10) >= 0.9
    # back to flat from the HNSW folder: no ann settings carried over
    assert "ann" not in reindex(hnsw, tmp_path / "flat-again").meta
    with pytest.raises(InputError, match="other than the source"):
        reindex(flat, tmp_path / "flat", IndexConfig(type="hnsw"))


def test_index_from_refuses_passages_as_well(tiny_bert_dir, tmp_path):
    from typer.testing import CliRunner

    from tasb.cli import app

    corpus = tmp_path / "c.tsv"
    corpus.write_text("p1\tone\np2\ttwo\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["index", "--from", str(tmp_path), "--corpus", str(corpus), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "--from: expected either" in result.output


@pytest.mark.slow
def test_hnsw_searches_at_least_k_candidates_when_k_exceeds_ef_search():
    from tasb.retrieval.index import faiss_search

    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((3000, 32), dtype=np.float32)
    queries = rng.standard_normal((20, 32), dtype=np.float32)
    settings = resolved_settings(IndexConfig(type="hnsw", hnsw_ef_search=16), len(vectors), 32)
    index = build_ann(vectors, "hnsw", settings)
    index.hnsw.efSearch = 16

    _, narrow = index.search(queries, 300)
    _, rows = faiss_search(index, queries, 300)

    assert recall_against_exact(vectors, rows, queries, 300) >= 0.95
    assert recall_against_exact(vectors, narrow, queries, 300) < 0.8  # what an efSearch of 16 gives on its own (.61)
    assert index.hnsw.efSearch == 16  # the setting itself is left alone
