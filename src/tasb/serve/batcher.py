"""Micro-batching: queries that arrive close together share one forward pass and one faiss search.

A single worker takes the first waiting query, waits up to ``wait_ms`` for company (at most ``max_size``
queries), and runs the batch (one per pipeline variant and k) in a worker thread, so the event loop keeps
accepting requests meanwhile; those form the next batch. Under load, batches grow by themselves and
throughput with them; alone, a query waits ``wait_ms`` at most. A batch that fails is retried query by
query, so an error reaches only the query that caused it.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Hashable

Hits = list[tuple[str, float]]
# (variant, query texts, k) -> each query's ranked (pid, score) list, in order
RunBatch = Callable[[Hashable, list[str], int], list[Hits]]


@dataclass
class Answer:
    hits: Hits
    # how many queries shared the forward pass: 1 means no company arrived in time
    batch_size: int


@dataclass
class _Job:
    variant: Hashable
    query: str
    k: int
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    def __init__(self, run_batch: RunBatch, max_size: int = 32, wait_ms: float = 3.0):
        if max_size < 1 or wait_ms < 0:
            raise ValueError(f"max_size >= 1 and wait_ms >= 0, got {max_size}, {wait_ms}")
        self._run_batch = run_batch
        self._max_size = max_size
        self._wait = wait_ms / 1000
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task | None = None
        self._current: list[_Job] = []
        # one thread: batches run one after another, each with all the cores torch and faiss use
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tasb-batch")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._serve())

    async def stop(self) -> None:
        """Stop taking queries; those waiting or being searched are told so instead of hanging."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        stopped = RuntimeError("the search service is shutting down")
        waiting = [self._queue.get_nowait() for _ in range(self._queue.qsize())] if self._queue is not None else []
        _fail([*self._current, *waiting], stopped)
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, variant: Hashable, query: str, k: int) -> Answer:
        if self._worker is None or self._worker.done():
            raise RuntimeError("the search service is not running")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(variant, query, k, future))
        return await future

    async def _serve(self) -> None:
        while True:
            self._current = await self._collect()
            try:
                for group in _by_variant_and_k(self._current):
                    await self._run(group)
            except Exception as err:  # noqa: BLE001 - the worker must outlive any one batch
                _fail(self._current, err)
            self._current = []

    async def _collect(self) -> list[_Job]:
        jobs = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait
        while len(jobs) < self._max_size:
            if not self._queue.empty():
                jobs.append(self._queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                jobs.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return jobs

    async def _run(self, group: list[_Job]) -> None:
        try:
            rankings = await self._search(group)
        except Exception as err:  # noqa: BLE001 - sorted out below
            if len(group) == 1:
                _fail(group, err)
                return
            # one bad query must not fail the others that happened to share its batch
            for job in group:
                await self._run([job])
            return
        for job, ranking in zip(group, rankings, strict=True):
            if not job.future.done():  # a client that went away cancelled its future
                job.future.set_result(Answer(ranking[: job.k], len(group)))

    async def _search(self, group: list[_Job]) -> list[Hits]:
        queries = [job.query for job in group]
        loop = asyncio.get_running_loop()
        rankings = await loop.run_in_executor(self._executor, self._run_batch, group[0].variant, queries, group[0].k)
        if len(rankings) != len(group):
            raise RuntimeError(f"the search returned {len(rankings)} rankings for {len(group)} queries")
        return rankings


def _fail(jobs: list[_Job], err: BaseException) -> None:
    for job in jobs:
        if not job.future.done():
            job.future.set_exception(err)


def _by_variant_and_k(jobs: list[_Job]) -> list[list[_Job]]:
    # one k per batch: fusion and re-ranking depend on how deep the first stage goes, so a query's answer
    # must not depend on the k other queries asked for
    groups: dict[tuple[Hashable, int], list[_Job]] = {}
    for job in jobs:
        groups.setdefault((job.variant, job.k), []).append(job)
    return list(groups.values())
