"""Micro-batching: queries that arrive close together share one forward pass and one faiss search.

A single worker takes the first waiting query, waits up to ``wait_ms`` for company (at most ``max_size``
queries), and runs the batch in a worker thread, so the event loop keeps accepting requests meanwhile;
those form the next batch. Under load, batches grow by themselves and throughput with them; alone, a query
waits ``wait_ms`` at most.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Hashable

Hits = list[tuple[str, float]]
# (variant, query texts, k) -> each query's ranked (pid, score) list
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
        # one thread: batches run one after another, each with all the cores torch and faiss use
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tasb-batch")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._serve())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def submit(self, variant: Hashable, query: str, k: int) -> Answer:
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not awaited")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(variant, query, k, future))
        return await future

    async def _serve(self) -> None:
        while True:
            jobs = await self._collect()
            for group in _by_variant(jobs):
                await self._run(group)

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
        loop = asyncio.get_running_loop()
        try:
            hits = await loop.run_in_executor(
                self._executor, self._run_batch, group[0].variant, [job.query for job in group], max(job.k for job in group)
            )
        except Exception as err:  # noqa: BLE001 - every waiting request must hear of it, not hang
            for job in group:
                if not job.future.done():
                    job.future.set_exception(err)
            return
        for job, ranking in zip(group, hits):
            if not job.future.done():  # a client that went away cancelled its future
                job.future.set_result(Answer(ranking[: job.k], len(group)))


def _by_variant(jobs: list[_Job]) -> list[list[_Job]]:
    groups: dict[Hashable, list[_Job]] = {}
    for job in jobs:
        groups.setdefault(job.variant, []).append(job)
    return list(groups.values())
