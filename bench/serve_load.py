"""Load test of ``tasb serve``: QPS and latency at concurrency 1, 8 and 32 against a server it starts itself.

Usage: python bench/serve_load.py [--index DIR] [--corpus FILE] [--queries FILE] [--requests N] [--concurrency 1 8 32]
       [--warmup 20] [--serve-arg=--bm25 ...]

Defaults: the TREC-DL pool corpus index of docs/pipelines.md (runs/trec-dl/index) and the 6,980 MS MARCO
dev queries. The server runs in its own process on 127.0.0.1 with its defaults (micro-batching window 3 ms,
batches up to 32); each level sends ``--requests`` POST /search (k 10) from that many client threads, each
with a keep-alive connection, after a warm-up. Prints a table, then one JSON object as the last line.
Targets: no errors; QPS at concurrency 8 >= 2x QPS at concurrency 1; p99 <= 3x p50.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import threading
import time
from pathlib import Path

import numpy as np

from tasb.data import read_queries
from tasb.markdown import markdown_table
from tasb.serve.launch import running_server

DATA = Path(os.environ.get("TASB_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
WARMUP = 20


def client(port: int, queries: list[str], latencies: list[float], errors: list[str]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for query in queries:
        body = json.dumps({"query": query, "k": 10})
        start = time.perf_counter()
        try:
            connection.request("POST", "/search", body=body, headers={"content-type": "application/json"})
            response = connection.getresponse()
            payload = response.read()
            if response.status != 200:
                errors.append(f"{response.status}: {payload[:200]!r}")
                continue
        except (OSError, http.client.HTTPException) as err:
            errors.append(repr(err))
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            continue
        latencies.append((time.perf_counter() - start) * 1000)


def load(port: int, queries: list[str], concurrency: int, requests: int) -> dict:
    """``requests`` searches spread over ``concurrency`` clients that each send their next as soon as one returns."""
    shares = [queries[i::concurrency] for i in range(concurrency)]
    latencies: list[float] = []
    errors: list[str] = []
    threads = [threading.Thread(target=client, args=(port, share, latencies, errors)) for share in shares]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    ms = np.array(latencies) if latencies else np.array([float("nan")])
    return {
        "requests": requests,
        "errors": len(errors),
        "qps": len(latencies) / wall,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        **({"first_error": errors[0]} if errors else {}),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="runs/trec-dl/index")
    parser.add_argument("--corpus", default=str(DATA / "msmarco-trec-dl-pool-corpus" / "collection.tsv"))
    parser.add_argument("--queries", default=str(DATA / "msmarco-passage-trec-dl-topics-qrels" / "topics.msmarco-passage.dev-subset.txt"))
    parser.add_argument("--requests", type=int, default=1000, help="searches per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--warmup", type=int, default=WARMUP, help="searches sent before the timed ones")
    parser.add_argument("--serve-arg", action="append", default=[], help="passed on to tasb serve, e.g. --serve-arg=--bm25")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0 or min(args.concurrency) < 1:
        parser.error("--requests and each --concurrency must be at least 1, --warmup at least 0")

    texts = list(read_queries(args.queries).values())
    rng = random.Random(0)
    with running_server(["--index", args.index, "--corpus", args.corpus, *args.serve_arg]) as base:
        port = int(base.rsplit(":", 1)[1])
        # drawn with replacement: a small query file serves any number of searches
        load(port, [rng.choice(texts) for _ in range(args.warmup)], 1, args.warmup)
        levels = {str(c): load(port, [rng.choice(texts) for _ in range(args.requests)], c, args.requests) for c in args.concurrency}

    rows = [
        [concurrency, f"{row['qps']:.1f}", f"{row['p50_ms']:.1f}", f"{row['p99_ms']:.1f}", f"{row['p99_ms'] / row['p50_ms']:.2f}", str(row["errors"])]
        for concurrency, row in levels.items()
    ]
    print("\n".join(markdown_table(["concurrency", "QPS", "p50 ms", "p99 ms", "p99 / p50", "errors"], rows)))
    summary = {"index": args.index, "serve_args": args.serve_arg, "concurrency": levels}
    if "1" in levels and "8" in levels:
        summary["qps_8_over_1"] = levels["8"]["qps"] / levels["1"]["qps"]
    summary["max_p99_over_p50"] = max(row["p99_ms"] / row["p50_ms"] for row in levels.values())
    summary["errors"] = sum(row["errors"] for row in levels.values())
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
