"""Retrieval pipelines: each stage does what its standalone command does, and every stage is timed."""

from __future__ import annotations

import pytest

from tasb.config import PipelineConfig, check_config
from tasb.data.writers import ranked
from tasb.errors import InputError
from tasb.models.student import BertDot
from tasb.retrieval.bm25 import BM25
from tasb.retrieval.fusion import interpolate, reciprocal_rank_fusion
from tasb.retrieval.index import build_index, search
from tasb.retrieval.pipeline import Components, Pipeline, run_in_batches

CORPUS = {f"p{i}": f"passage {i} about topic {i % 7} and subject {i % 11} with words {i % 5}" for i in range(120)}
QUERIES = {f"q{i}": f"topic {i} subject {i + 3}" for i in range(6)}


@pytest.fixture(scope="module")
def dense_folder(tiny_bert_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pipeline") / "index"
    build_index(BertDot.load(str(tiny_bert_dir)), CORPUS, folder, bf16=False, model_name=str(tiny_bert_dir))
    return str(folder)


@pytest.fixture(scope="module")
def components():
    return Components(CORPUS)


def test_bm25_alone_is_the_bm25_run(components):
    pipeline = Pipeline(PipelineConfig(bm25=True, k=20), components)
    assert pipeline.search(QUERIES) == BM25(CORPUS).search(QUERIES, 20)


@pytest.mark.slow
def test_dense_alone_is_the_index_search(components, dense_folder, tiny_bert_dir):
    from tasb.retrieval.index import DenseIndex

    pipeline = Pipeline(PipelineConfig(index=dense_folder, k=15, bf16=False), components)
    expected = search(DenseIndex.load(dense_folder), BertDot.load(str(tiny_bert_dir)), QUERIES, k=15, bf16=False)
    got = pipeline.search(QUERIES)
    assert {q: list(s) for q, s in got.items()} == {q: list(s) for q, s in expected.items()}


@pytest.mark.parametrize("fusion", ["interpolation", "rrf"])
@pytest.mark.slow
def test_both_first_stages_are_fused_dense_first(components, dense_folder, fusion):
    config = PipelineConfig(index=dense_folder, bm25=True, fusion=fusion, fusion_weights=[2.0, 1.0], k=10, bf16=False)
    fused = Pipeline(config, components).search(QUERIES)

    dense = Pipeline(PipelineConfig(index=dense_folder, k=10, bf16=False), components).search(QUERIES)
    sparse = Pipeline(PipelineConfig(bm25=True, k=10), components).search(QUERIES)
    combined = reciprocal_rank_fusion([dense, sparse], [2.0, 1.0]) if fusion == "rrf" else interpolate([dense, sparse], [2.0, 1.0])
    assert fused == {qid: dict(ranked(scores, 10)) for qid, scores in combined.items()}


@pytest.mark.slow
def test_reranking_reorders_the_head_keeps_the_candidates_and_times_every_stage(components, dense_folder):
    config = PipelineConfig(index=dense_folder, bm25=True, scorers=["bm25"], rerank_depth=5, k=10, bf16=False)
    pipeline = Pipeline(config, components)
    # one query at a time on both sides: padding in a batch moves the tiny model's scores by rounding errors
    first = run_in_batches(Pipeline(PipelineConfig(index=dense_folder, bm25=True, k=10, bf16=False), components), QUERIES, 1)

    reranked = run_in_batches(pipeline, QUERIES, batch_size=1)

    bm25_scores = BM25(CORPUS).score(QUERIES, {q: [p for p, _ in ranked(s, 5)] for q, s in first.items()})
    for qid in QUERIES:
        assert set(reranked[qid]) == set(first[qid])
        head = [pid for pid, _ in ranked(reranked[qid], 5)]
        assert head == [pid for pid, _ in ranked(bm25_scores[qid])]
        assert [p for p, _ in ranked(reranked[qid])][5:] == [p for p, _ in ranked(first[qid])][5:]
    # one call per query, and each stage timed on every call
    assert {stage: len(times) for stage, times in pipeline.times.items()} == {stage: 6 for stage in ("dense", "bm25", "fusion", "rerank")}


def _changed(config: PipelineConfig, **fields) -> PipelineConfig:
    """``config`` with fields set after it was built, past the ranges its constructor checks."""
    for name, value in fields.items():
        setattr(config, name, value)
    return config


@pytest.mark.parametrize(
    "config, named",
    [
        (PipelineConfig(name="none"), "first stage"),
        (_changed(PipelineConfig(bm25=True, scorers=["bm25"]), rerank_depth=0), "rerank_depth to be at least 1"),
        (_changed(PipelineConfig(bm25=True), k=0), "k to be at least 1"),
        (PipelineConfig(bm25=True, index="i", fusion_weights=[1.0]), "two fusion_weights"),
        (PipelineConfig(bm25=True, scorers=["bm25"], rerank_depth=3, scorer_weights=[1.0, 2.0]), "one of scorer_weights per scorer"),
    ],
)
def test_pipelines_that_cannot_run_are_refused(config, named):
    with pytest.raises(InputError, match=named):
        check_config(config)


@pytest.mark.slow
def test_an_index_of_another_corpus_is_refused(dense_folder):
    with pytest.raises(InputError, match="corpus lacks"):
        Components({"p1": "only one passage"}).dense(dense_folder)


@pytest.mark.slow
def test_a_small_k_still_lets_the_reranker_see_depth_candidates(components, dense_folder):
    config = PipelineConfig(index=dense_folder, scorers=["bm25"], rerank_depth=20, k=1000, bf16=False)
    top3 = Pipeline(config, components).search(QUERIES, k=3)
    top20 = Pipeline(config, components).search(QUERIES, k=20)
    for qid in QUERIES:
        assert list(top3[qid]) == [pid for pid, _ in ranked(top20[qid], 3)]
