"""tasb serve as users start it: a real uvicorn process on 127.0.0.1, queried over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tasb.models.student import BertDot
from tasb.retrieval.index import build_index
from tasb.serve.launch import running_server

CORPUS = {f"p{i}": f"passage {i} about topic {i % 7}" for i in range(60)}


def post(url: str, payload: object) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.slow
def test_a_served_index_answers_over_http(tiny_bert_dir, tmp_path):
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("".join(f"{pid}\t{text}\n" for pid, text in CORPUS.items()), encoding="utf-8")
    build_index(BertDot.load(str(tiny_bert_dir)), CORPUS, tmp_path / "index", bf16=False, model_name=str(tiny_bert_dir))

    with running_server(["--index", str(tmp_path / "index"), "--corpus", str(corpus), "--bm25"], timeout=120) as base:
        with urllib.request.urlopen(f"{base}/health", timeout=10) as response:
            health = json.loads(response.read())
        assert health["passages"] == 60 and health["fusion"] is True
        status, body = post(f"{base}/search", {"query": "topic 3", "k": 4})
        assert status == 200 and len(body["hits"]) == 4 and body["fused"]
        assert all(hit["text"] == CORPUS[hit["pid"]] for hit in body["hits"])
        status, body = post(f"{base}/search", {"query": " ", "k": 4})
        assert status == 422 and "empty" in body["detail"]
        status, body = post(f"{base}/search", {"query": "x" * 70_000})
        assert status == 413 and "bytes" in body["detail"]
        status, body = post(f"{base}/search", {"query": "topic 1", "k": 2})  # the server is still fine
        assert status == 200 and len(body["hits"]) == 2
        with urllib.request.urlopen(f"{base}/", timeout=10) as response:
            assert b"tasb search" in response.read()


@pytest.mark.slow
def test_a_server_that_cannot_start_says_why(tmp_path):
    import pytest

    with pytest.raises(RuntimeError, match="c.tsv.*no such file"):
        with running_server(["--index", str(tmp_path / "missing"), "--corpus", str(tmp_path / "c.tsv")], timeout=60):
            pass
