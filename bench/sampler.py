"""Batch composition cost: batches/s of the Random, TAS and TAS-Balanced samplers next to a training step's time.

Usage: python bench/sampler.py [--queries 400000] [--pairs-per-query 40] [--clusters 2000] [--batches 2000]
                               [--batch-sizes 32 96 256] [--step-seconds 8.1] [--background-batches 200] [--seed 0]

The defaults are MS MARCO's scale in the paper: 400K training queries, 40 scored pairs each (16M pairs),
2K query clusters. The set is synthetic and held as arrays (``PairArrays`` + ``from_arrays``), never as 16M
``ScoredPair`` objects: margins skewed towards easy (wide-margin) pairs as in real teacher scores, queries
spread over the clusters at random. For each batch size every sampler is built (timed), warmed up, then the
three take turns in rounds of ``next_indices()`` calls (the lead rotates, so machine noise hits them alike);
the best round counts. The first batch size is the one ``--step-seconds`` was measured at (docs/numbers.md's
MiniLM step at batch 32 with bf16); the target is a batch costing < 1% of a step there.

``BackgroundSampler`` (TAS-Balanced at the first batch size) is timed apart: its worker's start-up (spawn
pickles the sampler, all its arrays, to the worker once), then the trainer's wait per batch while a
simulated step keeps the worker ahead, and the wait back to back, when the worker alone sets the pace
(``next_indices()`` throughout: a sampler built from arrays has no pairs for ``next()`` to hand out).
Prints a table, then as the last line one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any, Callable

import numpy as np

from tasb.sampling import PairArrays, RandomSampler, TASBalancedSampler, TASSampler
from tasb.sampling.background import BackgroundSampler

TARGET_FRACTION = 0.01
MARGIN_BINS = 10
ROUNDS = 5
WARMUP_BATCHES = 20
# long enough for the worker to stay ahead, short enough to keep the bench quick; a real step is ~8 s
SIMULATED_STEP_S = 0.02

Builder = Callable[[PairArrays, dict[str, int], int, int], RandomSampler]
SAMPLERS: dict[str, Builder] = {
    "random": lambda arrays, clusters, batch_size, seed: RandomSampler.from_arrays(arrays, batch_size, seed),
    "tas": lambda arrays, clusters, batch_size, seed: TASSampler.from_arrays(arrays, clusters, batch_size, seed=seed),
    "tas-balanced": lambda arrays, clusters, batch_size, seed: TASBalancedSampler.from_arrays(
        arrays, clusters, batch_size, margin_bins=MARGIN_BINS, seed=seed
    ),
}


def synthetic(queries: int, pairs_per_query: int, clusters: int, seed: int) -> tuple[PairArrays, dict[str, int]]:
    """``queries`` queries with ``pairs_per_query`` pairs each and a random cluster each."""
    rng = np.random.default_rng(seed)
    qids = [f"q{i}" for i in range(queries)]
    query_index = np.repeat(np.arange(queries, dtype=np.int64), pairs_per_query)
    # Beta(4, 1): most of a query's pairs have a wide margin, the few close ones are what TAS-Balanced seeks out
    margins = 20.0 * rng.beta(4.0, 1.0, size=len(query_index))
    labels = rng.integers(0, clusters, size=queries)
    return PairArrays(qids, query_index, margins), dict(zip(qids, labels.tolist()))


def time_batches(samplers: dict[str, RandomSampler], batches: int) -> dict[str, float]:
    """Seconds per ``next_indices()`` of each sampler: best of ``ROUNDS`` rounds, the samplers taking turns."""
    for sampler in samplers.values():
        for _ in range(WARMUP_BATCHES):
            sampler.next_indices()
    per_round = max(1, batches // ROUNDS)
    best = dict.fromkeys(samplers, float("inf"))
    names = list(samplers)
    for round_number in range(ROUNDS):
        for name in names[round_number % len(names) :] + names[: round_number % len(names)]:
            sampler = samplers[name]
            start = time.perf_counter()
            for _ in range(per_round):
                sampler.next_indices()
            best[name] = min(best[name], (time.perf_counter() - start) / per_round)
    return best


def time_background(sampler: RandomSampler, batches: int) -> dict[str, float]:
    """The trainer's side of ``BackgroundSampler``: worker start-up, then its wait per batch."""
    with BackgroundSampler(sampler) as background:
        start = time.perf_counter()
        background.next_indices()  # starts the worker: spawn, unpickle the sampler, compose the first batch
        startup_s = time.perf_counter() - start
        waits = []
        for _ in range(batches):
            time.sleep(SIMULATED_STEP_S)
            start = time.perf_counter()
            background.next_indices()
            waits.append(time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(batches):
            background.next_indices()
        back_to_back_s = (time.perf_counter() - start) / batches
    return {
        "startup_s": startup_s,
        "wait_s": statistics.fmean(waits),
        "wait_median_s": statistics.median(waits),
        "wait_max_s": max(waits),
        "back_to_back_s": back_to_back_s,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=400_000)
    parser.add_argument("--pairs-per-query", type=int, default=40)
    parser.add_argument("--clusters", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=2000, help="timed batches per sampler and batch size")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 96, 256], help="the first is the step's")
    parser.add_argument("--step-seconds", type=float, default=8.1, help="a training step at the first batch size")
    parser.add_argument("--background-batches", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    arrays, clusters = synthetic(args.queries, args.pairs_per_query, args.clusters, args.seed)
    data_s = time.perf_counter() - start
    pairs = len(arrays.margins)
    print(f"synthetic set: {args.queries} queries x {args.pairs_per_query} pairs = {pairs} pairs, {args.clusters} clusters ({data_s:.1f} s)")

    step_batch = args.batch_sizes[0]
    by_size: dict[str, dict[str, dict[str, float]]] = {name: {} for name in SAMPLERS}
    print(f"{'sampler':<14}{'batch':>6}{'build s':>9}{'ms/batch':>10}{'batches/s':>11}  of a {args.step_seconds:g} s step (batch {step_batch})")
    for batch_size in args.batch_sizes:
        samplers, build_s = {}, {}
        for name, build in SAMPLERS.items():
            start = time.perf_counter()
            samplers[name] = build(arrays, clusters, batch_size, args.seed)
            build_s[name] = time.perf_counter() - start
        seconds = time_batches(samplers, args.batches)
        for name in SAMPLERS:
            # larger batches are set against the step at the first size: an upper bound, their steps take longer
            fraction = seconds[name] / args.step_seconds
            row = {
                "build_s": round(build_s[name], 3),
                "ms_per_batch": round(seconds[name] * 1e3, 4),
                "batches_per_s": round(1 / seconds[name], 1),
                "fraction_of_step": float(f"{fraction:.3g}"),
            }
            by_size[name][str(batch_size)] = row
            print(f"{name:<14}{batch_size:>6}{build_s[name]:>9.2f}{seconds[name] * 1e3:>10.3f}{1 / seconds[name]:>11.0f}  {fraction:.5%}")
        del samplers  # the next batch size's samplers take as much memory again
    results = {name: {**rows[str(step_batch)], "by_batch_size": rows} for name, rows in by_size.items()}

    sampler = SAMPLERS["tas-balanced"](arrays, clusters, step_batch, args.seed)
    timed = time_background(sampler, args.background_batches)
    background = {
        "sampler": "tas-balanced",
        "batch_size": step_batch,
        "startup_s": round(timed["startup_s"], 3),
        "wait_ms_per_batch": round(timed["wait_s"] * 1e3, 4),
        "wait_median_ms": round(timed["wait_median_s"] * 1e3, 4),
        "wait_max_ms": round(timed["wait_max_s"] * 1e3, 4),
        "back_to_back_ms_per_batch": round(timed["back_to_back_s"] * 1e3, 4),
        "fraction_of_step": float(f"{timed['wait_s'] / args.step_seconds:.3g}"),
    }
    print(
        f"background (tas-balanced, batch {step_batch}): worker start-up {timed['startup_s']:.2f} s (spawn, the sampler pickled once); "
        f"trainer waits {timed['wait_s'] * 1e3:.3f} ms/batch (median {timed['wait_median_s'] * 1e3:.3f}, max {timed['wait_max_s'] * 1e3:.2f}) "
        f"with the worker ahead, {timed['back_to_back_s'] * 1e3:.3f} ms/batch back to back"
    )

    met = {name: results[name]["fraction_of_step"] < TARGET_FRACTION for name in SAMPLERS}
    met["background"] = background["fraction_of_step"] < TARGET_FRACTION
    print(f"target: a batch < {TARGET_FRACTION:.0%} of a step; met: {', '.join(f'{name} {ok}' for name, ok in met.items())}")
    return {
        "queries": args.queries,
        "pairs_per_query": args.pairs_per_query,
        "clusters": args.clusters,
        "pairs": pairs,
        "step_seconds": args.step_seconds,
        "step_batch_size": step_batch,
        "batches": args.batches,
        "samplers": results,
        "background": background,
        "target_fraction": TARGET_FRACTION,
        "met": met,
    }


if __name__ == "__main__":
    print(json.dumps(main()))
