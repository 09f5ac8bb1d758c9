"""tasb serve through FastAPI's test client: answers match the pipeline, switches work, bad input is a 4xx."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient

from tasb.config import PipelineConfig, ServeConfig
from tasb.data import ranked
from tasb.models.student import BertDot
from tasb.retrieval.index import build_index
from tasb.retrieval.pipeline import Components, Pipeline
from tasb.serve.app import SearchService, create_app

CORPUS = {f"p{i}": f"passage {i} about topic {i % 7} and subject {i % 11}" for i in range(90)}


@pytest.fixture(scope="module")
def served(tiny_bert_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    corpus = folder / "corpus.tsv"
    corpus.write_text("".join(f"{pid}\t{text}\n" for pid, text in CORPUS.items()), encoding="utf-8")
    build_index(BertDot.load(str(tiny_bert_dir)), CORPUS, folder / "index", bf16=False, model_name=str(tiny_bert_dir))
    pipeline = PipelineConfig(index=str(folder / "index"), bm25=True, scorers=["bm25"], rerank_depth=8, bf16=False)
    config = ServeConfig(pipeline=pipeline, corpus=str(corpus), max_k=50, max_query_chars=100, max_batch_queries=4, max_body_bytes=2000)
    service = SearchService(config)
    return config, service


@pytest.fixture(scope="module")
def client(served):
    config, service = served
    with TestClient(create_app(config, service)) as test_client:
        yield test_client


def expected(config: ServeConfig, query: str, k: int, **changes) -> list[tuple[str, float]]:
    pipeline = Pipeline(PipelineConfig(**{**config.pipeline.__dict__, **changes}), Components(CORPUS))
    return ranked(pipeline.search({"q": query}, k)["q"], k)


def test_search_returns_the_pipelines_ranking_with_texts(client, served):
    config, _ = served
    response = client.post("/search", json={"query": "topic 3 subject 5", "k": 6})

    assert response.status_code == 200
    body = response.json()
    assert [(h["pid"], pytest.approx(h["score"])) for h in body["hits"]] == expected(config, "topic 3 subject 5", 6)
    assert [h["rank"] for h in body["hits"]] == [1, 2, 3, 4, 5, 6]
    assert all(h["text"] == CORPUS[h["pid"]] for h in body["hits"])
    assert body["fused"] and body["reranked"] and body["batch_size"] >= 1 and body["took_ms"] > 0


def test_requests_can_switch_fusion_and_reranking_off(client, served):
    config, _ = served
    body = client.post("/search", json={"query": "subject 4", "k": 5, "fuse": False, "rerank": False}).json()
    assert [h["pid"] for h in body["hits"]] == [pid for pid, _ in expected(config, "subject 4", 5, bm25=False, scorers=[])]
    assert not body["fused"] and not body["reranked"]


def test_default_k_and_batch_answers_match_single_ones(client, served):
    config, _ = served
    single = [client.post("/search", json={"query": q}).json() for q in ("topic 1", "topic 2 subject 9")]
    batch = client.post("/search/batch", json={"queries": ["topic 1", "topic 2 subject 9"]}).json()

    assert len(single[0]["hits"]) == config.default_k
    # a batch is encoded padded together: scores agree up to rounding, so equal scores may swap places
    for alone, together in zip(single, batch["results"]):
        assert {h["pid"]: pytest.approx(h["score"], abs=1e-4) for h in alone["hits"]} == {h["pid"]: h["score"] for h in together["hits"]}
    assert [r["query"] for r in batch["results"]] == ["topic 1", "topic 2 subject 9"]


def test_health_describes_the_model_index_and_stages(client, served, tiny_bert_dir):
    response = client.get("/health")
    health = response.json()
    assert health["status"] == "ok" and health["passages"] == 90 and health["index_type"] == "flat"
    # folder names only: where the server keeps its files is none of a client's business
    assert health["model"] == tiny_bert_dir.name and health["index"] == "index"
    assert str(tiny_bert_dir.parent) not in response.text and served[0].pipeline.index not in response.text
    assert health["fusion"] is True and health["rerank"] == ["bm25"] and health["rerank_depth"] == 8
    assert health["uptime_s"] >= 0


def test_search_page_and_api_docs_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "<title>tasb search</title>" in page.text and 'fetch("/search"' in page.text
    assert client.get("/docs").status_code == 200
    assert set(client.get("/openapi.json").json()["paths"]) == {"/health", "/search", "/search/batch"}


@pytest.mark.parametrize(
    "path, payload, status, message",
    [
        ("/search", {"query": ""}, 422, "empty"),
        ("/search", {"query": "   \t "}, 422, "empty"),
        ("/search", {"query": "x" * 101}, 422, "limit is 100"),
        ("/search", {"query": "ok", "k": 0}, 422, "between 1 and 50"),
        ("/search", {"query": "ok", "k": 51}, 422, "between 1 and 50"),
        ("/search", {"query": "ok", "k": -3}, 422, "between 1 and 50"),
        ("/search", {"query": "ok", "k": "10"}, 422, "valid integer"),
        ("/search", {"query": "ok", "k": 2.5}, 422, "valid integer"),
        ("/search", {"query": 42}, 422, "valid string"),
        ("/search", {"query": None}, 422, "valid string"),
        ("/search", {"k": 5}, 422, "Field required"),
        ("/search", {"query": "ok", "fuse": "yes"}, 422, "valid boolean"),
        ("/search", {"query": "ok", "limit": 5}, 422, "Extra inputs"),
        ("/search", ["query", "ok"], 422, "valid dictionary"),
        ("/search/batch", {"queries": []}, 422, "1 to 4 queries"),
        ("/search/batch", {"queries": ["a", "b", "c", "d", "e"]}, 422, "1 to 4 queries"),
        ("/search/batch", {"queries": ["fine", " "]}, 422, "empty"),
        ("/search/batch", {"queries": "one string"}, 422, "valid list"),
        ("/search", {"query": "x" * 3000}, 413, "over 2000 bytes"),
    ],
)
def test_bad_input_is_a_4xx_with_a_message(client, path, payload, status, message):
    response = client.post(path, json=payload)
    assert response.status_code == status
    assert message in str(response.json()["detail"])


@pytest.mark.parametrize(
    "body, headers",
    [
        (b'{"query": "unclosed', {"content-type": "application/json"}),
        (b"not json at all", {"content-type": "application/json"}),
        (b"", {"content-type": "application/json"}),
        (b"query=hello", {"content-type": "application/x-www-form-urlencoded"}),
        ("{\"query\": \"caf\u00e9\"}".encode("latin-1"), {"content-type": "application/json"}),
    ],
)
def test_malformed_bodies_are_a_4xx_with_a_message(client, body, headers):
    response = client.post("/search", content=body, headers=headers)
    # 422 for JSON that does not parse or validate; 400 for bytes that are not UTF-8 at all
    assert response.status_code in (400, 422)
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "raw, message",
    [
        ('{"query": "\\ud800"}', "not valid Unicode"),  # a lone surrogate: JSON can spell it, UTF-8 cannot
        ('{"query": "ok", "\\ud800": 1}', "valid string"),
        ('{"query": "ok", "k": 1, "\\ud800x": {"y": NaN}}', "valid string"),
        ('{"query": NaN}', "valid string"),
        ('{"query": "ok", "k": 1e400}', "valid integer"),
        ('{"query": "ok", "k": Infinity}', "valid integer"),
    ],
)
def test_input_json_can_spell_but_not_carry_is_still_a_422(client, raw, message):
    response = client.post("/search", content=raw.encode(), headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert message in str(response.json()["detail"])


def test_a_query_without_bm25_terms_is_answered(client):
    # fusion and BM25 re-ranking on: BM25 finds nothing for stopwords and punctuation, the dense side still answers
    for query in ("the", "???", "of the a"):
        response = client.post("/search", json={"query": query, "k": 3})
        assert response.status_code == 200 and len(response.json()["hits"]) == 3


@pytest.mark.parametrize(
    "change, field",
    [({"default_k": 0}, "default_k"), ({"default_k": 60, "max_k": 50}, "default_k"), ({"batch_size": 0}, "batch_size"),
     ({"max_body_bytes": 0}, "max_body_bytes"), ({"batch_wait_ms": -1.0}, "batch_wait_ms"),
     ({"max_results_per_request": 0}, "max_results_per_request"), ({"default_k": 20, "max_results_per_request": 10}, "default_k")],
)
def test_limits_that_would_refuse_every_request_are_refused_at_start(served, change, field):
    from tasb.config import check_config
    from tasb.errors import InputError

    config, _ = served
    with pytest.raises(InputError, match=field):
        check_config(ServeConfig(**{**config.__dict__, **change}))


def test_results_per_request_are_capped_whatever_the_body_size(served):
    # a few hundred bytes can ask for queries x k hits, each with its passage text
    config, service = served
    capped = dataclasses.replace(config, max_results_per_request=100)
    with TestClient(create_app(capped, service)) as client:
        refused = client.post("/search/batch", json={"queries": ["topic 1", "topic 2", "topic 3"], "k": 34})
        assert refused.status_code == 422
        assert refused.json()["detail"] == "3 queries x k 34 = 102 results; the limit per request is 100: send fewer queries or a smaller k"

        at_limit = client.post("/search/batch", json={"queries": ["topic 1", "topic 2"], "k": 50})
        assert at_limit.status_code == 200 and [len(r["hits"]) for r in at_limit.json()["results"]] == [50, 50]
        assert client.post("/search", json={"query": "topic 1", "k": 50}).status_code == 200

    single = dataclasses.replace(config, max_results_per_request=20)
    with TestClient(create_app(single, service)) as client:
        response = client.post("/search", json={"query": "topic 1", "k": 21})
        assert response.status_code == 422 and "limit per request is 20" in response.json()["detail"]


def test_a_body_streamed_without_length_is_cut_off_at_the_limit(client):
    def chunks():
        for _ in range(10):
            yield b" " * 500

    response = client.post("/search", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_a_switch_the_server_lacks_is_refused(tiny_bert_dir, served):
    config, _ = served
    plain = ServeConfig(pipeline=PipelineConfig(index=config.pipeline.index, bf16=False), corpus=config.corpus)
    with TestClient(create_app(plain)) as client:
        assert client.post("/search", json={"query": "topic", "rerank": True}).status_code == 422
        assert "not configured" in client.post("/search", json={"query": "topic", "fuse": True}).json()["detail"]
        assert client.post("/search", json={"query": "topic", "fuse": False, "rerank": False}).status_code == 200
