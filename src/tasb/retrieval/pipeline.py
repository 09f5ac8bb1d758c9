"""Retrieval pipelines: a dense and/or BM25 first stage, fused when both, then optionally re-ranked.

A :class:`Pipeline` takes query texts and returns a ranking, timing each stage, so the same object serves
a table of pipelines (``tasb pipelines``) and a search endpoint. Models and indexes are loaded once by
:class:`Components` and shared by every pipeline that names them.
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from tasb.config import PipelineConfig, check_config
from tasb.data.records import Corpus, Queries, Run
from tasb.data.writers import ranked
from tasb.errors import InputError, named
from tasb.retrieval.fusion import fuse
from tasb.retrieval.rerank import rerank

if TYPE_CHECKING:
    from tasb.models.student import BertDot
    from tasb.retrieval.bm25 import BM25
    from tasb.retrieval.index import DenseIndex
    from tasb.retrieval.scorers import Scorer

STAGES = ("bm25", "dense", "fusion", "rerank")


class Components:
    """The corpus and everything loaded from disk for it, each loaded once however many pipelines use it."""

    def __init__(self, corpus: Corpus, device: str = "cpu"):
        self.corpus = corpus
        self.device = device
        self._bm25: dict[tuple[float, float], BM25] = {}
        self._dense: dict[tuple[str, str | None], tuple[DenseIndex, BertDot]] = {}
        self._rerankers: dict[tuple, Scorer] = {}

    def bm25(self, k1: float, b: float) -> "BM25":
        from tasb.retrieval.bm25 import BM25

        if (k1, b) not in self._bm25:
            self._bm25[(k1, b)] = BM25(self.corpus, k1=k1, b=b)
        return self._bm25[(k1, b)]

    def dense(self, folder: str, model: str | None = None) -> tuple["DenseIndex", "BertDot"]:
        """The index and the model that built it (or ``model``), checked against each other once."""
        from tasb.retrieval.index import DenseIndex, load_index_model

        if (folder, model) not in self._dense:
            index = DenseIndex.load(folder)
            student = load_index_model(index, model, self.device)
            missing = next((pid for pid in index.ids if pid not in self.corpus), None)
            if missing is not None:
                raise InputError(folder, "an index of the pipelines' corpus", f"passage {missing!r}, which the corpus lacks")
            self._dense[(folder, model)] = (index, student)
        return self._dense[(folder, model)]

    def reranker(self, config: PipelineConfig) -> "Scorer":
        from tasb.retrieval.scorers import build_scorer

        key = (tuple(config.scorers), tuple(config.scorer_weights), config.bf16, config.rerank_cache)
        if key not in self._rerankers:
            with named({"weights": "scorer_weights"}):
                self._rerankers[key] = build_scorer(
                    config.scorers, config.scorer_weights or None, self.corpus, bf16=config.bf16, reuse_passages=config.rerank_cache,
                    device=self.device,
                )
        return self._rerankers[key]


class Pipeline:
    """Query texts in, the top-``k`` passages out; ``times`` collects seconds per call and stage."""

    def __init__(self, config: PipelineConfig, components: Components):
        check_config(config)
        self.config = config
        self.corpus = components.corpus
        self._bm25 = components.bm25(config.bm25_k1, config.bm25_b) if config.bm25 else None
        self._dense = components.dense(config.index, config.model) if config.index else None
        self._reranker = components.reranker(config) if config.scorers else None
        self.times: dict[str, list[float]] = defaultdict(list)

    def search(self, queries: Queries, k: int | None = None) -> Run:
        """Each query's top-``k`` (default: the config's ``k``); a re-ranker sees ``rerank_depth`` candidates even if k is smaller."""
        k = k or self.config.k
        if self._reranker is None:
            return self._first_stage(queries, k)
        first = self._first_stage(queries, max(k, self.config.rerank_depth))
        with self._timed("rerank"):
            reranked = rerank(first, queries, self.corpus, self._reranker, self.config.rerank_depth)
        return {qid: dict(ranked(scores, k)) for qid, scores in reranked.items()}

    def _first_stage(self, queries: Queries, k: int) -> Run:
        from tasb.retrieval.index import search

        runs = []
        if self._dense is not None:
            with self._timed("dense"):
                index, model = self._dense
                runs.append(search(index, model, queries, k, max(len(queries), 1), self.config.bf16, progress=None, check_model=False))
        if self._bm25 is not None:
            with self._timed("bm25"):
                runs.append(self._bm25.search(queries, k))
        if len(runs) == 1:
            return runs[0]
        with self._timed("fusion"):
            config = self.config
            fused = fuse(runs, config.fusion, config.fusion_weights, config.normalization, config.rrf_k)
            return {qid: dict(ranked(scores, k)) for qid, scores in fused.items()}

    @contextmanager
    def _timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.times[stage].append(time.perf_counter() - start)


def run_in_batches(pipeline: Pipeline, queries: Queries, batch_size: int) -> Run:
    """The pipeline over ``queries``, ``batch_size`` at a time (1: each query timed alone)."""
    if batch_size < 1:
        raise InputError("batch_size", "at least 1 query per call", str(batch_size))
    qids = list(queries)
    run: Run = {}
    for start in range(0, len(qids), batch_size):
        run.update(pipeline.search({qid: queries[qid] for qid in qids[start : start + batch_size]}))
    return run
