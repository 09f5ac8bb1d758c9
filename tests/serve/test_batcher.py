"""Micro-batching: concurrent queries share a batch, lone ones wait no longer than the window, errors reach everyone."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tasb.serve.batcher import MicroBatcher


class Recorder:
    """A batch function that records each batch and ranks "pid-<query>-<i>" for i < k."""

    def __init__(self, delay: float = 0.0):
        self.batches: list[tuple[object, list[str], int]] = []
        self.delay = delay
        self.threads: set[str] = set()

    def __call__(self, variant, queries, k):
        self.batches.append((variant, list(queries), k))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        return [[(f"{q}-{i}", float(k - i)) for i in range(k)] for q in queries]


async def with_batcher(run, max_size, wait_ms, body):
    batcher = MicroBatcher(run, max_size=max_size, wait_ms=wait_ms)
    await batcher.start()
    try:
        return await body(batcher)
    finally:
        await batcher.stop()


def test_concurrent_queries_share_one_batch_and_each_gets_its_own_k():
    run = Recorder()

    async def body(batcher):
        return await asyncio.gather(*(batcher.submit("dense", f"q{i}", k=i + 1) for i in range(6)))

    answers = asyncio.run(with_batcher(run, max_size=32, wait_ms=50, body=body))

    assert len(run.batches) == 1
    assert run.batches[0] == ("dense", [f"q{i}" for i in range(6)], 6)  # searched once at the largest k
    for i, answer in enumerate(answers):
        assert [pid for pid, _ in answer.hits] == [f"q{i}-{j}" for j in range(i + 1)]
        assert answer.batch_size == 6
    assert run.threads == {next(iter(run.threads))} and next(iter(run.threads)).startswith("tasb-batch")


def test_batches_are_capped_and_split_by_variant():
    run = Recorder()

    async def body(batcher):
        jobs = [batcher.submit("plain" if i % 3 else "fused", f"q{i}", 2) for i in range(10)]
        return await asyncio.gather(*jobs)

    asyncio.run(with_batcher(run, max_size=4, wait_ms=50, body=body))

    assert all(len(queries) <= 4 for _, queries, _ in run.batches)
    for variant, queries, _ in run.batches:
        assert all(("plain" if int(q[1:]) % 3 else "fused") == variant for q in queries)
    assert sorted(q for _, queries, _ in run.batches for q in queries) == sorted(f"q{i}" for i in range(10))
    assert {variant for variant, _, _ in run.batches} == {"plain", "fused"}


def test_queries_arriving_while_a_batch_runs_form_the_next_batch():
    run = Recorder(delay=0.2)

    async def body(batcher):
        first = asyncio.create_task(batcher.submit("v", "early", 1))
        await asyncio.sleep(0.05)  # the first batch (window 0 ms) is running by now
        late = [asyncio.create_task(batcher.submit("v", f"late{i}", 1)) for i in range(5)]
        return await asyncio.gather(first, *late)

    answers = asyncio.run(with_batcher(run, max_size=32, wait_ms=0, body=body))

    assert [queries for _, queries, _ in run.batches] == [["early"], [f"late{i}" for i in range(5)]]
    assert [a.batch_size for a in answers] == [1, 5, 5, 5, 5, 5]


def test_a_lone_query_waits_no_longer_than_the_window():
    run = Recorder()

    async def body(batcher):
        start = time.perf_counter()
        await batcher.submit("v", "alone", 3)
        return time.perf_counter() - start

    waited = asyncio.run(with_batcher(run, max_size=32, wait_ms=30, body=body))
    assert 0.025 <= waited < 0.5


def test_an_error_in_a_batch_reaches_every_query_in_it_and_the_batcher_keeps_serving():
    calls = []

    def flaky(variant, queries, k):
        calls.append(list(queries))
        if len(calls) == 1:
            raise RuntimeError("index unreadable")
        return [[("p", 1.0)] for _ in queries]

    async def body(batcher):
        failed = await asyncio.gather(*(batcher.submit("v", f"q{i}", 1) for i in range(3)), return_exceptions=True)
        recovered = await batcher.submit("v", "again", 1)
        return failed, recovered

    failed, recovered = asyncio.run(with_batcher(flaky, max_size=8, wait_ms=30, body=body))
    assert all(isinstance(err, RuntimeError) and "unreadable" in str(err) for err in failed)
    assert recovered.hits == [("p", 1.0)]


def test_settings_are_checked():
    with pytest.raises(ValueError):
        MicroBatcher(Recorder(), max_size=0)
    with pytest.raises(ValueError):
        MicroBatcher(Recorder(), wait_ms=-1)
