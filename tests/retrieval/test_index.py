"""The dense index: what it writes, that search is exact top-k inner product, and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from tasb.errors import InputError
from tasb.models.student import BertDot
from tasb.retrieval.index import DenseIndex, build_index, search

CORPUS = {
    "p1": "The cat sat on the mat.",
    "p2": "Dense retrieval encodes passages into vectors.",
    "p3": "Topic-aware sampling composes batches from query clusters.",
    "p4": "A balanced margin sampler picks pairs across margin ranges.",
    "p5": "Knowledge distillation from a BERT cross-encoder teacher.",
    "doc 6": "Short.",
}
QUERIES = {"q1": "what is dense retrieval", "q2": "cats on mats", "q3": "margin sampling of pairs"}


@pytest.fixture(scope="module")
def model(tiny_bert_dir) -> BertDot:
    return BertDot.load(str(tiny_bert_dir))


@pytest.fixture(scope="module")
def index(model, tmp_path_factory) -> DenseIndex:
    return build_index(model, CORPUS, tmp_path_factory.mktemp("idx") / "index", bf16=False, model_name="tiny")


def _brute_force(index: DenseIndex, model: BertDot, k: int) -> dict[str, list[tuple[str, float]]]:
    queries = model.encode_queries(list(QUERIES.values()))
    passages = model.encode_passages(list(CORPUS.values()))
    scores = queries @ passages.T
    pids = list(CORPUS)
    return {
        qid: [(pids[j], float(row[j])) for j in np.argsort(-row)[:k]]
        for qid, row in zip(QUERIES, scores)
    }


def test_folder_layout_and_meta(index, model):
    assert sorted(p.name for p in index.path.iterdir()) == ["embeddings.npy", "ids.txt", "meta.json"]
    assert (index.path / "ids.txt").read_text(encoding="utf-8").splitlines() == list(CORPUS)
    meta = json.loads((index.path / "meta.json").read_text(encoding="utf-8"))
    assert meta["format"] == 1
    assert meta["model"] == "tiny"
    assert meta["model_fingerprint"] == model.fingerprint()
    assert (meta["pooling"], meta["normalize"]) == ("cls", False)
    assert (meta["dim"], meta["count"], meta["index_type"]) == (32, len(CORPUS), "flat")
    assert (meta["query_max_length"], meta["passage_max_length"]) == (model.query_max_length, model.passage_max_length)
    assert meta["bf16"] is False


def test_embeddings_are_the_encoded_passages_memory_mapped(index, model):
    reopened = DenseIndex.load(index.path)
    assert isinstance(reopened.embeddings, np.memmap)
    assert reopened.embeddings.dtype == np.float32
    assert reopened.ids == list(CORPUS)
    np.testing.assert_allclose(reopened.embeddings, model.encode_passages(list(CORPUS.values())), rtol=1e-5, atol=1e-6)


def test_search_is_exact_top_k_inner_product(index, model):
    run = search(index, model, QUERIES, k=3, bf16=False)
    expected = _brute_force(index, model, k=3)
    assert list(run) == list(QUERIES)
    for qid, ranking in expected.items():
        got = sorted(run[qid].items(), key=lambda item: -item[1])
        assert [pid for pid, _ in got] == [pid for pid, _ in ranking]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in ranking], rtol=1e-5, atol=1e-5)


def test_k_larger_than_corpus_returns_every_passage_once(index, model):
    run = search(index, model, QUERIES, k=1000)
    assert all(sorted(ranking) == sorted(CORPUS) for ranking in run.values())


@pytest.mark.slow
def test_search_encodes_queries_with_the_index_precision(index, model, monkeypatch):
    seen = []
    original = model.encode_queries

    def spy(texts, batch_size=256, bf16=False, progress=None):
        seen.append(bf16)
        return original(texts, batch_size=batch_size, bf16=bf16)

    monkeypatch.setattr(model, "encode_queries", spy)
    search(index, model, QUERIES, k=2)
    search(index, model, QUERIES, k=2, bf16=True)
    assert seen == [False, True]


def test_another_model_is_refused_naming_the_one_that_built_the_index(index, tiny_bert_dir, tmp_path):
    torch.manual_seed(1)
    config = BertConfig.from_pretrained(tiny_bert_dir)
    BertModel(config).save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(tiny_bert_dir).save_pretrained(tmp_path)
    other = BertDot.load(str(tmp_path))
    with pytest.raises(InputError, match="built with tiny"):
        search(index, other, QUERIES, k=2)


def test_empty_corpus_is_refused(model, tmp_path):
    with pytest.raises(InputError, match="at least one passage"):
        build_index(model, {}, tmp_path / "index")
    assert not (tmp_path / "index").exists()


def test_a_folder_that_is_not_an_index_is_not_replaced(model, tmp_path):
    (tmp_path / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(InputError, match="other files"):
        build_index(model, CORPUS, tmp_path, bf16=False)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "keep me"


@pytest.mark.slow
def test_rebuilding_replaces_an_earlier_index(model, tmp_path):
    build_index(model, CORPUS, tmp_path / "index", bf16=False)
    rebuilt = build_index(model, {"only": "one passage"}, tmp_path / "index", bf16=False)
    assert DenseIndex.load(rebuilt.path).ids == ["only"]
    assert [p.name for p in tmp_path.iterdir()] == ["index"]


def _copy_index(index: DenseIndex, folder: Path) -> Path:
    folder.mkdir()
    for part in index.path.iterdir():
        (folder / part.name).write_bytes(part.read_bytes())
    return folder


def test_missing_ids_file_is_reported(index, tmp_path):
    broken = _copy_index(index, tmp_path / "broken")
    (broken / "ids.txt").unlink()
    with pytest.raises(InputError, match="ids.txt"):
        DenseIndex.load(broken)


def test_ids_disagreeing_with_rows_are_reported(index, tmp_path):
    broken = _copy_index(index, tmp_path / "broken")
    (broken / "ids.txt").write_text("p1\np2\n", encoding="utf-8")
    with pytest.raises(InputError, match="2 ids and 6 embedding rows"):
        DenseIndex.load(broken)


def test_dim_disagreeing_with_meta_is_reported(index, tmp_path):
    broken = _copy_index(index, tmp_path / "broken")
    np.save(broken / "embeddings.npy", np.zeros((len(CORPUS), 8), dtype=np.float32))
    with pytest.raises(InputError, match="32-dimensional"):
        DenseIndex.load(broken)


def test_missing_folder_is_reported(tmp_path):
    with pytest.raises(InputError, match="index folder"):
        DenseIndex.load(tmp_path / "nowhere")


@pytest.mark.parametrize("failing", ["encoding", "writing"])
def test_a_failed_build_leaves_nothing_behind(model, tmp_path, monkeypatch, failing):
    def fail(*args, **kwargs):
        raise RuntimeError(f"{failing} failed")

    if failing == "encoding":
        monkeypatch.setattr(model, "encode_passages", fail)
    else:
        monkeypatch.setattr(np, "save", fail)
    with pytest.raises(RuntimeError, match=failing):
        build_index(model, CORPUS, tmp_path / "index", bf16=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_an_index_records_checksums_and_a_changed_file_is_refused(tiny_bert_dir, tmp_path):
    from typer.testing import CliRunner

    from tasb.cli import app
    from tasb.retrieval.index import verify_folder

    model = BertDot.load(str(tiny_bert_dir))
    folder = build_index(model, {f"p{i}": f"passage {i}" for i in range(30)}, tmp_path / "idx", bf16=False).path
    assert verify_folder(folder) == []
    assert set(json.loads((folder / "meta.json").read_text())["checksums"]) == {"embeddings.npy", "ids.txt"}
    runner = CliRunner()
    assert "intact" in runner.invoke(app, ["index", "verify", str(folder)]).output

    raw = bytearray((folder / "embeddings.npy").read_bytes())
    raw[-1] ^= 0x01  # one flipped bit in the last vector: shapes and counts all still agree
    (folder / "embeddings.npy").write_bytes(bytes(raw))

    assert [p for p in verify_folder(folder) if "embeddings.npy" in p and "sha256 differs" in p]
    with pytest.raises(InputError, match="embeddings.npy: sha256 differs"):
        DenseIndex.load(folder)
    refused = runner.invoke(app, ["index", "verify", str(folder)])
    assert refused.exit_code == 2 and "embeddings.npy" in refused.output
    searched = runner.invoke(app, ["search", "--index", str(folder), "--queries", str(folder / "ids.txt"), "--out", str(tmp_path / "r.trec")])
    assert searched.exit_code == 2 and "intact index folder" in searched.output and not (tmp_path / "r.trec").exists()


@pytest.mark.slow
def test_an_index_without_checksums_still_loads_and_verify_says_so(tiny_bert_dir, tmp_path):
    from tasb.retrieval.index import verify_folder

    folder = build_index(BertDot.load(str(tiny_bert_dir)), {"p1": "one", "p2": "two"}, tmp_path / "old", bf16=False).path
    meta = json.loads((folder / "meta.json").read_text())
    del meta["checksums"]  # as written before checksums existed
    (folder / "meta.json").write_text(json.dumps(meta))

    assert DenseIndex.load(folder).ids == ["p1", "p2"]
    assert "no checksums recorded" in verify_folder(folder)[0]


def test_a_checksum_naming_a_file_outside_the_index_is_refused_unread(tiny_bert_dir, tmp_path, monkeypatch):
    import tasb.retrieval.index as index_module

    folder = build_index(BertDot.load(str(tiny_bert_dir)), {"p1": "one", "p2": "two"}, tmp_path / "idx", bf16=False).path
    secret = tmp_path / "secret.txt"
    secret.write_text("not the index's")
    meta = json.loads((folder / "meta.json").read_text())
    meta["checksums"]["../secret.txt"] = "0" * 64
    (folder / "meta.json").write_text(json.dumps(meta))
    hashed = []
    real = index_module.file_sha256
    monkeypatch.setattr(index_module, "file_sha256", lambda path: hashed.append(Path(path).name) or real(path))

    problems = index_module.verify_folder(folder)
    assert any("'../secret.txt', which is not a file of an index" in p for p in problems)
    assert "secret.txt" not in hashed
    with pytest.raises(InputError, match="secret.txt"):
        DenseIndex.load(folder)
