"""Query clustering time: faiss k-means of N random D-dim vectors into K clusters (``tasb.sampling.clustering.kmeans``).

Usage: python bench/cluster.py [--n 400000] [--d 768] [--num-clusters 2000] [--niter 20] [--seed 0]

The defaults are the issue's bench and the paper's setting: 400K training queries of a 768-dim BERT_DOT
into 2K clusters, "a one time cost of under 10 minutes" (Sec. 1). faiss always runs all iterations, so
the time depends on the sizes, not on the vectors: random ones stand for real query vectors. Only k-means
is timed (the vectors are drawn before). Prints the time, and as the last line one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import faiss
import numpy as np

from tasb.sampling.clustering import kmeans

TARGET_S = 600


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400_000, help="vectors (queries)")
    parser.add_argument("--d", type=int, default=768, help="dimensions")
    parser.add_argument("--num-clusters", type=int, default=2000, help="clusters (tasb cluster's --num-clusters)")
    parser.add_argument("--niter", type=int, default=20, help="k-means iterations")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    vectors = np.random.default_rng(args.seed).standard_normal((args.n, args.d), dtype=np.float32)
    start = time.perf_counter()
    assignments, _ = kmeans(vectors, args.num_clusters, seed=args.seed, niter=args.niter)
    seconds = time.perf_counter() - start
    sizes = np.bincount(assignments, minlength=args.num_clusters)
    print(f"k-means {args.n} x {args.d} -> {args.num_clusters} clusters, {args.niter} iterations, {faiss.omp_get_max_threads()} threads: {seconds:.1f} s")
    print(f"cluster sizes min {sizes.min()}, median {np.median(sizes):g}, max {sizes.max()}")
    return {
        "n": args.n,
        "d": args.d,
        "num_clusters": args.num_clusters,
        "niter": args.niter,
        "threads": faiss.omp_get_max_threads(),
        "seconds": round(seconds, 2),
        "target_s": TARGET_S,
        "met": seconds < TARGET_S,
    }


if __name__ == "__main__":
    print(json.dumps(main()))
