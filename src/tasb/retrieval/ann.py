"""The index types (``INDEX_TYPES``): exact (flat) and approximate nearest-neighbour search (faiss HNSW and IVF-PQ), all by
inner product, and an approximate index's recall against exact search.

The exact embeddings stay in the index folder next to ``faiss.index``: an approximate index can always be
checked against, or replaced by, exact search over the same vectors.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import faiss
import numpy as np

from tasb.config import IndexConfig
from tasb.errors import InputError

__all__ = ["INDEX_TYPES", "IndexType", "build_ann", "configure", "recall_against_exact", "resolved_settings"]


@dataclasses.dataclass(frozen=True)
class IndexType:
    """One kind of index: the parameters it is built with, how faiss builds it, and how a search is set up.

    ``faiss_class`` is what an approximate type's ``faiss.index`` holds; a flat index has no such file and is
    searched over the embeddings themselves."""

    name: str
    faiss_class: type | None
    # (config, passages, dim) -> the parameters recorded in meta.json, automatic values filled in
    settings: Callable[[IndexConfig, int, int], dict]
    # (vectors, parameters) -> the index, vectors added
    build: Callable[[np.ndarray, dict], faiss.Index]
    # search-time parameters, which faiss does not save with the index
    configure: Callable[[faiss.Index, dict], None]

    @property
    def approximate(self) -> bool:
        return self.faiss_class is not None


def _flat(vectors: np.ndarray, settings: dict) -> faiss.Index:
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return index


def _hnsw_settings(config: IndexConfig, count: int, dim: int) -> dict:
    return {"hnsw_m": config.hnsw_m, "hnsw_ef_construction": config.hnsw_ef_construction, "hnsw_ef_search": config.hnsw_ef_search}


def _hnsw(vectors: np.ndarray, settings: dict) -> faiss.Index:
    index = faiss.IndexHNSWFlat(vectors.shape[1], settings["hnsw_m"], faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = settings["hnsw_ef_construction"]
    index.add(vectors)
    return index


def _configure_hnsw(index: faiss.Index, settings: dict) -> None:
    index.hnsw.efSearch = settings["hnsw_ef_search"]


def _ivfpq_settings(config: IndexConfig, count: int, dim: int) -> dict:
    lists = config.ivf_lists or max(1, min(int(4 * math.sqrt(count)), count // 39 or 1))
    subquantizers = config.pq_subquantizers or max(1, dim // 4)
    if dim % subquantizers:
        raise InputError("config", f"pq_subquantizers dividing the vector size {dim}", str(subquantizers))
    if 2**config.pq_bits > count:
        raise InputError("config", f"pq_bits from 1 to 16 with 2^pq_bits <= {count} passages to train on", str(config.pq_bits))
    if lists > count:
        raise InputError("config", f"ivf_lists at most the {count} passages", str(lists))
    return {"ivf_lists": lists, "nprobe": config.nprobe, "pq_subquantizers": subquantizers, "pq_bits": config.pq_bits}


def _ivfpq(vectors: np.ndarray, settings: dict) -> faiss.Index:
    quantizer = faiss.IndexFlatIP(vectors.shape[1])
    index = faiss.IndexIVFPQ(
        quantizer, vectors.shape[1], settings["ivf_lists"], settings["pq_subquantizers"], settings["pq_bits"], faiss.METRIC_INNER_PRODUCT
    )
    index.train(vectors)
    index.add(vectors)
    return index


def _configure_ivfpq(index: faiss.Index, settings: dict) -> None:
    index.nprobe = settings["nprobe"]


INDEX_TYPES: dict[str, IndexType] = {
    "flat": IndexType("flat", None, lambda config, count, dim: {}, _flat, lambda index, settings: None),
    "hnsw": IndexType("hnsw", faiss.IndexHNSW, _hnsw_settings, _hnsw, _configure_hnsw),
    "ivfpq": IndexType("ivfpq", faiss.IndexIVFPQ, _ivfpq_settings, _ivfpq, _configure_ivfpq),
}


def resolved_settings(config: IndexConfig, count: int, dim: int) -> dict:
    """The parameters the index is built with, automatic values filled in; recorded in meta.json (none for flat)."""
    return INDEX_TYPES[config.type].settings(config, count, dim)


def build_ann(vectors: np.ndarray, index_type: str, settings: dict) -> faiss.Index:
    """The faiss index of ``index_type`` over ``vectors``, set up for search."""
    kind = INDEX_TYPES[index_type]
    index = kind.build(vectors, settings)
    kind.configure(index, settings)
    return index


def configure(index: faiss.Index, index_type: str, settings: dict) -> None:
    """Search-time parameters, which faiss does not save with the index."""
    INDEX_TYPES[index_type].configure(index, settings)


def recall_against_exact(embeddings: np.ndarray, approximate_rows: np.ndarray, query_vectors: np.ndarray, k: int) -> float:
    """Mean share of the exact top-``k`` (by inner product) that the approximate search found."""
    exact = faiss.IndexFlatIP(embeddings.shape[1])
    exact.add(np.ascontiguousarray(embeddings, dtype=np.float32))
    _, exact_rows = exact.search(np.ascontiguousarray(query_vectors, dtype=np.float32), k)
    found = [len(set(a.tolist()) & set(e.tolist())) / k for a, e in zip(approximate_rows, exact_rows)]
    return float(np.mean(found))
