"""Sharded encoding: shards cover the corpus once, merge into the index one run would build, resume, refuse to mix."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tasb.apps.index import parse_shard_spec
from tasb.config import IndexConfig
from tasb.errors import InputError
from tasb.layout import shard_dir, shards_dir
from tasb.models.student import BertDot
from tasb.retrieval import index as index_module
from tasb.retrieval import shards
from tasb.retrieval.index import DenseIndex, build_index, search
from tasb.retrieval.shards import (
    build_sharded_index,
    encode_shards,
    merge_shards,
    shard_range,
)

# lengths vary, so length-sorted batches differ between a shard and the whole corpus
CORPUS = {f"p{i}": f"passage {i} about topic {i % 7}" + " and subject" * (i % 13) for i in range(240)}
QUERIES = {f"q{i}": f"topic {i} subject {i + 3}" for i in range(6)}


@pytest.fixture(scope="module")
def model(tiny_bert_dir) -> BertDot:
    return BertDot.load(str(tiny_bert_dir))


def _count_encoded(monkeypatch, model: BertDot) -> list[int]:
    """The number of passages of each ``encode_passages`` call from now on."""
    sizes: list[int] = []
    encode = model.encode_passages

    def counting(texts, **kwargs):
        sizes.append(len(texts))
        return encode(texts, **kwargs)

    monkeypatch.setattr(model, "encode_passages", counting)
    return sizes


def test_shard_ranges_cover_the_corpus_exactly_once_in_order():
    for count in (1, 7, 240, 1001):
        for n in range(1, min(count, 9) + 1):
            ranges = [shard_range(i, n, count) for i in range(n)]
            assert [p for r in ranges for p in r] == list(range(count))
            assert max(map(len, ranges)) - min(map(len, ranges)) <= 1


def test_shard_specs_accepted_and_refused():
    assert parse_shard_spec("0/1") == (0, 1)
    assert parse_shard_spec("2/3") == (2, 3)
    assert parse_shard_spec("all/4") == (None, 4)
    for spec in ("3/2", "2/2", "x/2", "2", "0/0", "all/0", "-1/2", "1/2/3", ""):
        with pytest.raises(InputError, match="^shard: expected i/N"):
            parse_shard_spec(spec)


def test_more_shards_than_passages_are_refused(model, tmp_path):
    with pytest.raises(InputError, match="from 1 to 3 shards"):
        encode_shards(model, {"a": "one", "b": "two", "c": "three"}, tmp_path / "idx", 4)


@pytest.mark.slow
def test_merged_shards_are_the_index_built_in_one_go(model, tmp_path):
    whole = build_index(model, CORPUS, tmp_path / "whole", bf16=False, model_name="tiny")

    encode_shards(model, CORPUS, tmp_path / "idx", 3, bf16=False, model_name="tiny")
    merged = merge_shards(tmp_path / "idx")

    reopened = DenseIndex.load(tmp_path / "idx")
    assert reopened.ids == whole.ids == list(CORPUS)
    np.testing.assert_allclose(reopened.embeddings, whole.embeddings, rtol=0, atol=1e-6)
    assert merged.meta["count"] == len(CORPUS) and merged.meta["shards"] == 3 and merged.meta["index_type"] == "flat"
    assert {key: merged.meta[key] for key in index_module.ENCODER_KEYS} == {key: whole.meta[key] for key in index_module.ENCODER_KEYS}
    one_go, sharded = search(whole, model, QUERIES, k=10), search(reopened, model, QUERIES, k=10)
    for qid in QUERIES:
        assert list(sharded[qid]) == list(one_go[qid])
        np.testing.assert_allclose(list(sharded[qid].values()), list(one_go[qid].values()), rtol=1e-5, atol=1e-5)
    # the shards stay for a later merge, e.g. as another index type
    assert sorted(p.name for p in shards_dir(tmp_path / "idx").iterdir()) == [f"shard-0000{i}-of-00003" for i in range(3)]
    hnsw = merge_shards(tmp_path / "idx", IndexConfig(type="hnsw"))
    assert hnsw.meta["index_type"] == "hnsw" and (hnsw.path / "faiss.index").is_file()


@pytest.mark.slow
def test_a_rerun_skips_the_finished_shards(model, tmp_path, monkeypatch):
    out = tmp_path / "idx"
    encode_shards(model, CORPUS, out, 3, shards=[0], bf16=False)
    first_meta = shard_dir(out, 0, 3) / "meta.json"
    written = (first_meta.stat().st_mtime_ns, json.loads(first_meta.read_text())["created"])
    sizes = _count_encoded(monkeypatch, model)
    heard: dict[int, str] = {}

    build_sharded_index(model, CORPUS, out, 3, bf16=False, on_shard=heard.__setitem__)

    assert heard == {0: "done", 1: "written", 2: "written"}
    assert sum(sizes) == len(shard_range(1, 3, len(CORPUS))) + len(shard_range(2, 3, len(CORPUS)))
    assert (first_meta.stat().st_mtime_ns, json.loads(first_meta.read_text())["created"]) == written
    assert DenseIndex.load(out).ids == list(CORPUS)
    sizes.clear()
    assert encode_shards(model, CORPUS, out, 3, bf16=False) == {0: "done", 1: "done", 2: "done"}
    assert sizes == []
    # another bf16 setting gives other vectors: not done
    assert encode_shards(model, CORPUS, out, 3, shards=[2], bf16=True) == {2: "replaced"}


@pytest.mark.slow
def test_an_interrupted_shard_leaves_no_folder(model, tmp_path, monkeypatch):
    monkeypatch.setattr(shards, "ENCODE_CHUNK", 16)
    sizes = _count_encoded(monkeypatch, model)
    encode = model.encode_passages

    def failing_on_the_third_chunk(texts, **kwargs):
        if len(sizes) == 2:
            raise KeyboardInterrupt
        return encode(texts, **kwargs)

    monkeypatch.setattr(model, "encode_passages", failing_on_the_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        encode_shards(model, CORPUS, tmp_path / "idx", 2, shards=[1], bf16=False)

    assert list(shards_dir(tmp_path / "idx").iterdir()) == []
    monkeypatch.setattr(model, "encode_passages", encode)
    assert encode_shards(model, CORPUS, tmp_path / "idx", 2, shards=[1], bf16=False) == {1: "written"}


@pytest.mark.slow
def test_encoding_holds_one_chunk_of_vectors_at_a_time(model, tmp_path, monkeypatch):
    monkeypatch.setattr(shards, "ENCODE_CHUNK", 16)
    sizes = _count_encoded(monkeypatch, model)

    encode_shards(model, CORPUS, tmp_path / "idx", 2, shards=[0], bf16=False)

    assert max(sizes) == 16 and sum(sizes) == len(CORPUS) // 2
    shard = DenseIndex.load(shard_dir(tmp_path / "idx", 0, 2))
    assert isinstance(shard.embeddings, np.memmap)
    expected = BertDot.encode_passages(model, [CORPUS[pid] for pid in shard.ids])
    np.testing.assert_allclose(shard.embeddings, expected, rtol=0, atol=1e-6)


@pytest.mark.slow
def test_merge_refuses_missing_and_foreign_shards_and_writes_nothing(model, tiny_bert_dir, tmp_path):
    out = tmp_path / "idx"
    encode_shards(model, CORPUS, out, 3, shards=[0, 2], bf16=False)
    with pytest.raises(InputError, match=r"shard-00001-of-00003: expected shard 1/3"):
        merge_shards(out)

    edited = {**CORPUS, "p100": "an edited passage"}
    assert encode_shards(model, edited, out, 3, shards=[1], bf16=False) == {1: "written"}
    with pytest.raises(InputError, match=r"shard-00001-of-00003/meta.json: expected corpus_digest"):
        merge_shards(out)

    other_model = BertDot.load(str(tiny_bert_dir), pooling="mean")
    assert encode_shards(other_model, CORPUS, out, 3, shards=[1], bf16=False) == {1: "replaced"}
    with pytest.raises(InputError, match=r"shard-00001-of-00003/meta.json: expected model_fingerprint"):
        merge_shards(out)

    encode_shards(model, CORPUS, out, 2, shards=[0], bf16=False)
    with pytest.raises(InputError, match="shards of 2 and of 3"):
        merge_shards(out)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx.shards"]


@pytest.mark.slow
def test_merge_does_not_replace_a_folder_other_than_an_index(model, tmp_path):
    out = tmp_path / "idx"
    encode_shards(model, CORPUS, out, 1, bf16=False)
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="a folder holding other files"):
        merge_shards(out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


@pytest.mark.slow
def test_shard_and_merge_commands(tiny_bert_dir, tmp_path):
    from typer.testing import CliRunner

    from tasb.cli import app

    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("".join(f"{pid}\t{text}\n" for pid, text in CORPUS.items()), encoding="utf-8")
    out = tmp_path / "idx"
    runner = CliRunner()

    def tasb_index(*args: str):
        return runner.invoke(app, ["index", "--corpus", str(corpus), "--model", str(tiny_bert_dir), "--out", str(out), "--no-bf16", *args])

    first = tasb_index("--shard", "1/2")
    assert first.exit_code == 0, first.output
    assert "shard 1/2 written" in first.stdout and not out.exists()
    resumed = tasb_index("--shard", "all/2")
    assert resumed.exit_code == 0, resumed.output
    assert "shard 0/2 written" in resumed.stdout and "shard 1/2 already done" in resumed.stdout
    assert f"wrote {out} ({len(CORPUS)} passages" in resumed.stdout
    assert DenseIndex.load(out).ids == list(CORPUS)

    merged = runner.invoke(app, ["index", "merge", str(out), "--type", "ivfpq", "--set", "ann.ivf_lists=4", "--set", "ann.pq_bits=6"])
    assert merged.exit_code == 0, merged.output
    assert "from 2 shards, ivfpq" in merged.stdout
    assert json.loads((out / "meta.json").read_text())["ann"]["ivf_lists"] == 4

    for args, message in [
        (["--shard", "3/2"], "expected i/N"),
        (["--shard", "0/2", "--type", "hnsw"], "a single shard is always flat"),
    ]:
        refused = tasb_index(*args)
        assert refused.exit_code == 2 and message in refused.stderr
    missing = runner.invoke(app, ["index", "merge", str(tmp_path / "other")])
    assert missing.exit_code == 2 and "other.shards" in missing.stderr
    assert runner.invoke(app, ["index", "merge", "--help"]).exit_code == 0
    assert runner.invoke(app, ["index", "--help"]).exit_code == 0


def test_index_options_before_a_subcommand_are_refused_not_dropped(tmp_path):
    from typer.testing import CliRunner

    from tasb.cli import app

    result = CliRunner().invoke(app, ["index", "--type", "hnsw", "merge", str(tmp_path / "idx")])
    assert result.exit_code == 2 and "--type" in result.output and not (tmp_path / "idx").exists()
