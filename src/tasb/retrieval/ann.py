"""Approximate nearest-neighbour indexes (faiss HNSW and IVF-PQ, inner product) and their recall against exact search.

The exact embeddings stay in the index folder next to ``faiss.index``: an approximate index can always be
checked against, or replaced by, exact search over the same vectors.
"""

from __future__ import annotations

import math

import faiss
import numpy as np

from tasb.config import IndexConfig
from tasb.errors import InputError

__all__ = ["build_ann", "configure", "recall_against_exact", "resolved_settings"]


def resolved_settings(config: IndexConfig, count: int, dim: int) -> dict:
    """The parameters the index is built with, automatic values filled in; recorded in meta.json."""
    if config.type == "hnsw":
        for key in ("hnsw_m", "hnsw_ef_construction", "hnsw_ef_search"):
            _at_least(key, getattr(config, key), 1)
        return {"hnsw_m": config.hnsw_m, "hnsw_ef_construction": config.hnsw_ef_construction, "hnsw_ef_search": config.hnsw_ef_search}
    lists = config.ivf_lists or max(1, min(int(4 * math.sqrt(count)), count // 39 or 1))
    subquantizers = config.pq_subquantizers or max(1, dim // 4)
    _at_least("ivf_lists", lists, 1)
    _at_least("nprobe", config.nprobe, 1)
    if dim % subquantizers:
        raise InputError("config", f"pq_subquantizers dividing the vector size {dim}", str(subquantizers))
    if not 1 <= config.pq_bits <= 16 or 2**config.pq_bits > count:
        raise InputError("config", f"pq_bits from 1 to 16 with 2^pq_bits <= {count} passages to train on", str(config.pq_bits))
    if lists > count:
        raise InputError("config", f"ivf_lists at most the {count} passages", str(lists))
    return {"ivf_lists": lists, "nprobe": config.nprobe, "pq_subquantizers": subquantizers, "pq_bits": config.pq_bits}


def build_ann(vectors: np.ndarray, index_type: str, settings: dict) -> faiss.Index:
    dim = vectors.shape[1]
    if index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, settings["hnsw_m"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = settings["hnsw_ef_construction"]
    else:
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(
            quantizer, dim, settings["ivf_lists"], settings["pq_subquantizers"], settings["pq_bits"], faiss.METRIC_INNER_PRODUCT
        )
        index.train(vectors)
    index.add(vectors)
    configure(index, index_type, settings)
    return index


def configure(index: faiss.Index, index_type: str, settings: dict) -> None:
    """Search-time parameters, which faiss does not save with the index."""
    if index_type == "hnsw":
        index.hnsw.efSearch = settings["hnsw_ef_search"]
    else:
        index.nprobe = settings["nprobe"]


def recall_against_exact(embeddings: np.ndarray, approximate_rows: np.ndarray, query_vectors: np.ndarray, k: int) -> float:
    """Mean share of the exact top-``k`` (by inner product) that the approximate search found."""
    exact = faiss.IndexFlatIP(embeddings.shape[1])
    exact.add(np.ascontiguousarray(embeddings, dtype=np.float32))
    _, exact_rows = exact.search(np.ascontiguousarray(query_vectors, dtype=np.float32), k)
    found = [len(set(a.tolist()) & set(e.tolist())) / k for a, e in zip(approximate_rows, exact_rows)]
    return float(np.mean(found))


def _at_least(key: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise InputError("config", f"{key} to be at least {minimum}", str(value))
