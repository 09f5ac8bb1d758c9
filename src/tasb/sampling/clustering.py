"""Topic clusters for TAS (paper Sec. 3, eq. 10): k-means over query vectors with faiss.

Plain L2 k-means as eq. 10 states, not faiss's spherical option, also for normalised vectors (the default
all-MiniLM-L6-v2 normalises): on unit vectors the two differ only in how they weigh the centroids' norms.
"""

from __future__ import annotations

import faiss
import numpy as np

from tasb.errors import InputError

QUERIES_PER_CLUSTER = 200  # the paper's 2K clusters for 400K training queries


def default_k(n: int) -> int:
    """About 200 queries per cluster, as in the paper."""
    return max(1, round(n / QUERIES_PER_CLUSTER))


def check_k(k: int, n: int) -> None:
    """Refuse a cluster count outside 1..n."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise InputError("k", f"a number of clusters between 1 and the number of vectors ({n})", repr(k))


def kmeans(vectors: np.ndarray, k: int, seed: int, niter: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Cluster the rows of ``vectors``: (cluster of each row int64[n], centroids float32[k, d]); same seed, same result."""
    if vectors.ndim != 2 or not len(vectors):
        raise InputError(None, "at least one vector to cluster (a 2-d array)", f"shape {vectors.shape}")
    n, dim = vectors.shape
    check_k(k, n)
    if niter < 1:
        raise InputError("niter", "at least 1 k-means iteration", repr(niter))
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    # faiss subsamples to max_points_per_centroid * k points by default; every query should shape its topic
    clustering = faiss.Kmeans(dim, int(k), niter=niter, seed=seed, max_points_per_centroid=n, verbose=False)
    clustering.train(data)
    _, nearest = clustering.index.search(data, 1)
    return nearest[:, 0].astype(np.int64), np.ascontiguousarray(clustering.centroids, dtype=np.float32)
