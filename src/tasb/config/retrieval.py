"""What retrieval is configured with: an index's type, a pipeline (first stage, fusion, re-ranking), a search service."""

from __future__ import annotations

import dataclasses
from typing import Literal

from tasb.config.ranges import AT_LEAST_0, AT_LEAST_1, FRACTION, PORT, Checked, Range
from tasb.config.sections import Placement
from tasb.errors import InputError


@dataclasses.dataclass
class IndexConfig(Checked):
    """How ``tasb index`` searches: exact (flat) or approximate (faiss HNSW, IVF-PQ), all by inner product."""

    type: Literal["flat", "hnsw", "ivfpq"] = "flat"
    # HNSW: links per vector, and the candidate lists kept while building / searching (larger: better recall, slower)
    hnsw_m: int = 32
    hnsw_ef_construction: int = 200
    hnsw_ef_search: int = 128
    # IVF-PQ: inverted lists (0: 4 x sqrt(passages)), lists probed per query, and the product quantiser
    ivf_lists: int = 0
    nprobe: int = 16
    # sub-vectors per vector (0: dim / 4, must divide dim) and bits per sub-vector code
    pq_subquantizers: int = 0
    pq_bits: int = 8

    limits = {
        "hnsw_m": Range(2), "hnsw_ef_construction": AT_LEAST_1, "hnsw_ef_search": AT_LEAST_1, "ivf_lists": AT_LEAST_0, "nprobe": AT_LEAST_1,
        "pq_subquantizers": AT_LEAST_0, "pq_bits": Range(1, 16),
    }


@dataclasses.dataclass
class PipelineConfig(Checked):
    """A retrieval pipeline: a dense and/or BM25 first stage, fused when both, then optionally re-ranked."""

    name: str = ""
    # a dense first stage: an index folder from `tasb index`, searched with the model that built it
    index: str | None = None
    # None: the model that built the index (another must match its fingerprint)
    model: str | None = None
    bm25: bool = False
    bm25_k1: float = 1.5
    bm25_b: float = 0.75
    # dense + BM25: interpolation of per-query normalised scores, or reciprocal rank fusion
    fusion: Literal["interpolation", "rrf"] = "interpolation"
    # dense first, then BM25; empty: equal
    fusion_weights: list[float] = dataclasses.field(default_factory=list)
    normalization: Literal["min-max", "z-score"] = "min-max"
    rrf_k: int = 60
    # scorer specs that re-rank the first stage (a cross-encoder folder, colbert:MODEL, dot:MODEL, bm25); several: an
    # ensemble, weighted by scorer_weights (empty: equal); none: no re-ranking
    scorers: list[str] = dataclasses.field(default_factory=list)
    scorer_weights: list[float] = dataclasses.field(default_factory=list)
    # how many of the first stage's top passages the scorers re-rank
    rerank_depth: int = 100
    # a ColBERT re-ranker keeps passage encodings across queries (faster on repeats; memory grows with them)
    rerank_cache: bool = False
    k: int = 1000
    bf16: bool = True

    limits = {
        "bm25_k1": AT_LEAST_0, "bm25_b": FRACTION, "fusion_weights": AT_LEAST_0, "rrf_k": AT_LEAST_0, "scorer_weights": AT_LEAST_0,
        "rerank_depth": AT_LEAST_1, "k": AT_LEAST_1,
    }
    renamed = {"rerank": "scorers", "rerank_weights": "scorer_weights", "depth": "rerank_depth"}

    def validate(self) -> None:
        """A pipeline that cannot run is refused naming it, before anything is loaded."""
        super().validate()
        where = f"pipeline {self.name!r}" if self.name else "pipeline"
        if not self.index and not self.bm25:
            raise InputError(where, "a first stage: index (a dense index folder) and/or bm25: true")
        if self.fusion_weights and len(self.fusion_weights) != 2:
            raise InputError(where, "two fusion_weights: dense, then BM25", str(self.fusion_weights))
        if self.scorer_weights and len(self.scorer_weights) != len(self.scorers):
            raise InputError(where, f"one of scorer_weights per scorer ({len(self.scorers)})", str(self.scorer_weights))


@dataclasses.dataclass
class ServeConfig(Placement):
    """``tasb serve``: an HTTP search endpoint over a pipeline; requests may switch its fusion and re-ranking off."""

    pipeline: PipelineConfig = dataclasses.field(default_factory=PipelineConfig)
    # passage texts, returned with each hit and read by BM25 and the re-ranker: a file, or a BEIR folder (data)
    corpus: str | None = None
    data: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    default_k: int = 10
    max_k: int = 1000
    max_query_chars: int = 1000
    # queries per POST /search/batch
    max_batch_queries: int = 64
    # queries x k per request: the response (every hit with its text) is what costs memory and time, not the body
    max_results_per_request: int = 10000
    max_body_bytes: int = 65536
    # micro-batching: queries arriving within batch_wait_ms of the first are encoded and searched together
    batch_size: int = 32
    batch_wait_ms: float = 3.0

    limits = {
        "port": PORT, "default_k": AT_LEAST_1, "max_k": AT_LEAST_1, "max_query_chars": AT_LEAST_1, "max_batch_queries": AT_LEAST_1,
        "max_results_per_request": AT_LEAST_1, "max_body_bytes": AT_LEAST_1, "batch_size": AT_LEAST_1, "batch_wait_ms": AT_LEAST_0,
    }

    def validate(self) -> None:
        """Limits that would turn every request away are refused, naming the field, before anything is loaded."""
        super().validate()
        if not self.pipeline.index:
            raise InputError("pipeline.index", "a dense index folder to serve")
        if not self.corpus and not self.data:
            raise InputError("corpus", "the passages the index holds (a corpus file or a data folder): hits carry their text")
        if self.default_k > self.max_k:
            raise InputError("default_k", f"a value between 1 and max_k ({self.max_k})", str(self.default_k))
        if self.default_k > self.max_results_per_request:
            # a request leaving k unset would be refused
            limit = f"a value of at most max_results_per_request ({self.max_results_per_request})"
            raise InputError("default_k", limit, str(self.default_k))
