"""Query latency of a dense index, the paper's Table 1: query encoding + search per batch size.

Every batch is timed end to end as a user would see it (texts in, top-k rows out) in two parts: the
student encoding the query texts and faiss searching the vectors. Batches draw random queries from a real
query set; each size runs for a time budget and reports the mean and the 99th percentile. A flat index
scans every vector for every query, so at batch 1 its search cannot beat reading the vectors once from
memory: the bench measures that read in the same run, on the same array, and reports search ÷ read.
"""

from __future__ import annotations

import gc
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

import faiss
import numpy as np
import torch

from tasb.retrieval.index import faiss_search

Encode = Callable[[list[str]], np.ndarray]
SYNTHETIC_CHUNK = 100_000


class TimingBudget(Protocol):
    """How long each batch size is timed: ``warmup`` untimed batches, then at least ``min_repeats`` and
    ``seconds``, at most ``max_repeats``."""

    seconds: float
    min_repeats: int
    max_repeats: int
    warmup: int


class LatencySettings(TimingBudget, Protocol):
    """What a measurement of one index asks: the budget per batch size, the batch sizes, k, the batches' seed."""

    batch_sizes: list[int]
    k: int
    seed: int


@dataclass
class Timings:
    """Milliseconds per timed batch, encoding and search apart."""

    encode_ms: list[float]
    search_ms: list[float]

    def summary(self) -> dict[str, float | int]:
        total = np.add(self.encode_ms, self.search_ms)
        return {
            "avg_ms": float(total.mean()),
            "p99_ms": float(np.percentile(total, 99)),
            "encode_avg_ms": float(np.mean(self.encode_ms)),
            "encode_p99_ms": float(np.percentile(self.encode_ms, 99)),
            "search_avg_ms": float(np.mean(self.search_ms)),
            "search_p99_ms": float(np.percentile(self.search_ms, 99)),
            "repeats": len(total),
        }


def measure(searcher: faiss.Index, index_type: str, encode: Encode, texts: list[str], config: LatencySettings, name: str) -> dict:
    """``searcher`` timed at each batch size, encoding and search apart; a flat index also against its memory bound."""
    rng = np.random.default_rng(config.seed)
    k = min(config.k, searcher.ntotal)
    batches = {str(size): time_batches(encode, searcher, texts, size, k, config, rng).summary() for size in config.batch_sizes}
    if "1" in batches:
        # one query over and over: identical work each time, so its spread is the machine's, not the queries'
        same = time_batches(encode, searcher, texts[:1], 1, k, config, rng).summary()
        batches["1"]["same_query_avg_ms"], batches["1"]["same_query_p99_ms"] = same["avg_ms"], same["p99_ms"]
    system = {"name": name, "type": index_type, "passages": int(searcher.ntotal), "dim": int(searcher.d), "batches": batches}
    if index_type == "flat":
        vectors = flat_vectors(searcher)
        bandwidth = read_bandwidth(vectors)
        system["read_gb_per_s"] = bandwidth / 1e9
        system["bytes_scanned"] = int(vectors.nbytes)
        if "1" in batches:
            bound_ms = vectors.nbytes / bandwidth * 1000
            batches["1"]["bandwidth_bound_ms"] = bound_ms
            batches["1"]["bandwidth_ratio"] = batches["1"]["search_avg_ms"] / bound_ms
    return system


def time_batches(
    encode: Encode, searcher: faiss.Index, texts: list[str], size: int, k: int, config: TimingBudget, rng: np.random.Generator
) -> Timings:
    """Encode and search random batches of ``size`` texts: ``warmup`` untimed, then at least ``min_repeats``
    and ``seconds``, at most ``max_repeats``."""
    timings = Timings([], [])
    started = None
    with _quiet_collector():
        for repeat in range(config.warmup + config.max_repeats):
            batch = [texts[i] for i in rng.choice(len(texts), size, replace=size > len(texts))]
            t0 = time.perf_counter()
            vectors = encode(batch)
            t1 = time.perf_counter()
            faiss_search(searcher, vectors, k)
            t2 = time.perf_counter()
            if repeat < config.warmup:
                continue
            started = started or t0
            timings.encode_ms.append((t1 - t0) * 1000)
            timings.search_ms.append((t2 - t1) * 1000)
            if len(timings.encode_ms) >= config.min_repeats and t2 - started >= config.seconds:
                break
    return timings


@contextmanager
def _quiet_collector() -> Iterator[None]:
    # a garbage-collection pass inside a timed batch is the harness's pause, not the retriever's
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def synthetic_flat_index(count: int, dim: int, seed: int) -> faiss.IndexFlatIP:
    """A flat inner-product index of ``count`` unit-length Gaussian vectors, filled in chunks."""
    index = faiss.IndexFlatIP(dim)
    rng = np.random.default_rng(seed)
    for start in range(0, count, SYNTHETIC_CHUNK):
        chunk = rng.standard_normal((min(SYNTHETIC_CHUNK, count - start), dim), dtype=np.float32)
        faiss.normalize_L2(chunk)
        index.add(chunk)
    return index


def flat_vectors(index: faiss.IndexFlat) -> np.ndarray:
    """The vectors a flat index scans, as a view of faiss's own storage (no copy)."""
    return faiss.rev_swig_ptr(index.get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d)


def read_bandwidth(array: np.ndarray, rounds: int = 5) -> float:
    """Bytes per second one core reads ``array`` at: the best of ``rounds`` vectorised sums over it.

    One core, because a single query scans a flat index on one thread (:func:`faiss_search`); here a second
    core reading the other half at the same time added only ~5% (the cores share the memory bus).
    """
    tensor = torch.from_numpy(array)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        best = float("inf")
        for _ in range(rounds):
            t0 = time.perf_counter()
            tensor.sum()
            best = min(best, time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)
    return array.nbytes / best
