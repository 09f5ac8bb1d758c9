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


def test_concurrent_queries_share_one_batch():
    run = Recorder()

    async def body(batcher):
        return await asyncio.gather(*(batcher.submit("dense", f"q{i}", k=3) for i in range(6)))

    answers = asyncio.run(with_batcher(run, max_size=32, wait_ms=50, body=body))

    assert run.batches == [("dense", [f"q{i}" for i in range(6)], 3)]
    for i, answer in enumerate(answers):
        assert [pid for pid, _ in answer.hits] == [f"q{i}-{j}" for j in range(3)]
        assert answer.batch_size == 6
    assert len(run.threads) == 1 and next(iter(run.threads)).startswith("tasb-batch")


def test_queries_asking_for_different_k_are_searched_apart():
    # fusion and re-ranking depend on the first stage's depth: a query's answer must not depend on its neighbours' k
    run = Recorder()

    async def body(batcher):
        return await asyncio.gather(*(batcher.submit("dense", f"q{i}", k=5 if i % 2 else 50) for i in range(6)))

    answers = asyncio.run(with_batcher(run, max_size=32, wait_ms=50, body=body))

    assert sorted((k, queries) for _, queries, k in run.batches) == [(5, ["q1", "q3", "q5"]), (50, ["q0", "q2", "q4"])]
    assert [len(a.hits) for a in answers] == [50, 5, 50, 5, 50, 5]


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


def test_an_error_reaches_only_the_query_that_caused_it_and_the_batcher_keeps_serving():
    batches = []

    def fails_on_bad(variant, queries, k):
        batches.append(list(queries))
        if "bad" in queries:
            raise RuntimeError("cannot encode 'bad'")
        return [[(q, 1.0)] for q in queries]

    async def body(batcher):
        answers = await asyncio.gather(*(batcher.submit("v", q, 1) for q in ("q0", "bad", "q2")), return_exceptions=True)
        return answers, await batcher.submit("v", "again", 1)

    (first, bad, third), again = asyncio.run(with_batcher(fails_on_bad, max_size=8, wait_ms=30, body=body))

    assert isinstance(bad, RuntimeError) and "bad" in str(bad)
    assert first.hits == [("q0", 1.0)] and third.hits == [("q2", 1.0)]
    assert batches[0] == ["q0", "bad", "q2"]  # tried together first, then one by one
    assert again.hits == [("again", 1.0)]


def test_a_search_returning_too_few_rankings_fails_its_queries_instead_of_hanging():
    async def body(batcher):
        return await asyncio.gather(*(batcher.submit("v", f"q{i}", 1) for i in range(3)), return_exceptions=True)

    answers = asyncio.run(with_batcher(lambda variant, queries, k: [], max_size=8, wait_ms=30, body=body))
    assert all(isinstance(a, RuntimeError) and "rankings" in str(a) for a in answers)


def test_stopping_answers_queries_in_flight_and_waiting_then_refuses_new_ones():
    release = threading.Event()

    def slow(variant, queries, k):
        release.wait(5)
        return [[("p", 1.0)] for _ in queries]

    async def scenario():
        batcher = MicroBatcher(slow, max_size=1, wait_ms=0)
        await batcher.start()
        pending = [asyncio.create_task(batcher.submit("v", f"q{i}", 1)) for i in range(3)]
        await asyncio.sleep(0.1)  # q0 is being searched, q1 and q2 wait
        await batcher.stop()
        release.set()
        outcomes = await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 5)
        with pytest.raises(RuntimeError, match="not running"):
            await batcher.submit("v", "late", 1)
        return outcomes

    outcomes = asyncio.run(scenario())
    assert all(isinstance(o, RuntimeError) and "shutting down" in str(o) for o in outcomes)


def test_settings_are_checked():
    with pytest.raises(ValueError):
        MicroBatcher(Recorder(), max_size=0)
    with pytest.raises(ValueError):
        MicroBatcher(Recorder(), wait_ms=-1)
