"""Batch composition in a background process, so the trainer never waits for its next batch.

``BackgroundSampler`` wraps any sampler that has ``pairs``, ``batch_size``, ``next_indices()``,
``state()`` and ``load_state()`` and follows that same contract, so the trainer uses it wherever it
uses a sampler. A worker process owns a copy of the wrapped sampler and fills a queue ahead of the
trainer. Why it is built this way:

- The queue is bounded (``queue_size``): the worker stays at most that many batches ahead, so memory
  stays flat, and stopping or restoring throws away little prefetched work.
- Only index arrays and small state dicts cross the process boundary, never ``ScoredPair``s: with
  millions of pairs, pickling the pairs of every batch would cost more than composing it. The pairs
  travel once, with the sampler, when the worker starts; the trainer maps indices to its own copy.
- Every batch travels with the sampler state *after* producing it, and ``state()`` returns the state
  of the last batch the trainer consumed, not the worker's prefetched position. A checkpoint therefore
  resumes exactly after the last batch trained on, and the stream is the same batch for batch as the
  plain sampler's, with or without the wrapper, across save and restore.
- A worker exception comes back as a message carrying its formatted traceback and is raised in the
  trainer; a worker that dies without a message (killed, crashed) is noticed by polling it, so the
  trainer fails instead of waiting forever.
- The worker is a daemon, is stopped by ``close()``, by leaving a ``with`` block (also on an
  exception) and by a finalizer when the wrapper is garbage collected or the interpreter exits; a trainer
  killed outright runs none of those, so the worker also exits once it finds the trainer gone. No orphan
  process outlives the trainer.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import signal
import time
import traceback
import weakref
from typing import Any

import numpy as np

from tasb.data.records import ScoredPair

# How often a waiting trainer checks that the worker is still alive, and how long a stop may take
# before the worker is terminated.
_POLL_S = 0.2
_STOP_TIMEOUT_S = 5.0

_BATCH = "batch"
_FAILED = "failed"


class BackgroundSampler:
    """A sampler whose batches are composed ahead of time in a worker process.

    ``start_method`` defaults to "spawn": the trainer holds torch (and its OpenMP/CUDA threads), and a
    forked child inherits their locks in whatever state they were, which can deadlock it; a spawned
    child starts a fresh interpreter that imports only what the sampler needs.

    The wrapper owns ``sampler``: the worker gets a copy of it, and the trainer's copy serves ``pairs``
    and restarts. The worker starts on the first ``next_indices()``, so constructing the wrapper and loading a
    checkpoint's state before training cost no process start. ``waited_s`` is the total time
    ``next_indices()`` spent waiting for the worker (worker start-up included): near zero means the
    worker keeps ahead of the trainer.
    """

    def __init__(self, sampler: Any, queue_size: int = 8, start_method: str = "spawn"):
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        self._sampler = sampler
        self._queue_size = queue_size
        self._context = multiprocessing.get_context(start_method)
        self._state = sampler.state()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._queue: Any = None
        self._finalizer: weakref.finalize | None = None
        self.waited_s = 0.0

    @property
    def pairs(self) -> list[ScoredPair]:
        return self._sampler.pairs

    @property
    def batch_size(self) -> int:
        return self._sampler.batch_size

    @property
    def process(self) -> multiprocessing.process.BaseProcess | None:
        """The running worker, if any."""
        return self._process

    def __iter__(self) -> "BackgroundSampler":
        return self

    def __next__(self) -> list[ScoredPair]:
        pairs = self.pairs
        return [pairs[i] for i in self.next_indices()]

    def next_indices(self) -> np.ndarray:
        if self._process is None:
            self._start()
        started = time.perf_counter()
        try:
            item = self._take()
        finally:
            self.waited_s += time.perf_counter() - started
        if item[0] == _FAILED:
            self.close()
            raise RuntimeError("batch sampler worker failed:\n" + item[1])
        _, indices, state_json = item
        self._state = json.loads(state_json)
        return indices

    def state(self) -> dict[str, Any]:
        """The position after the last batch consumed; prefetched batches are not part of it."""
        return self._state

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue the stream from ``state``; prefetched batches are dropped, a new worker starts on demand."""
        self.close()
        self._sampler.load_state(state)
        self._state = self._sampler.state()

    def close(self) -> None:
        """Stop the worker. Safe to call twice; using the sampler again starts a new worker where it stopped."""
        if self._finalizer is not None:
            self._finalizer()
        self._process = self._queue = self._finalizer = None

    def __enter__(self) -> "BackgroundSampler":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _start(self) -> None:
        # Consumed batches advance only ``_state``, not the local copy; the worker must go on from them.
        self._sampler.load_state(self._state)
        self._queue = self._context.Queue(self._queue_size)
        stop = self._context.Event()
        self._process = self._context.Process(
            target=_produce, args=(self._sampler, self._queue, stop), name="tasb-batch-sampler", daemon=True
        )
        self._process.start()
        # Holds no reference to self, so a forgotten wrapper is collected and its worker stopped.
        self._finalizer = weakref.finalize(self, _stop_worker, self._process, self._queue, stop)

    def _take(self) -> tuple:
        while True:
            try:
                return self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                if self._process.is_alive():
                    continue
            # A worker that sent its last message and then exited has flushed it into the pipe by now.
            try:
                return self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                exitcode = self._process.exitcode
                self.close()
                raise RuntimeError(f"batch sampler worker died without a message (exit code {exitcode})") from None


def _produce(sampler: Any, batches: Any, stop: Any) -> None:
    """The worker's loop: compose batches until told to stop; report an exception instead of dying silently."""
    # Ctrl-C reaches the whole process group; the trainer decides when its worker stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    trainer = multiprocessing.parent_process()
    try:
        while not stop.is_set():
            indices = np.asarray(sampler.next_indices(), dtype=np.int64)
            # Serialised here, not in the queue's feeder thread: there a failure is only printed and the
            # batch lost, leaving the trainer waiting; here it is reported. JSON, as checkpoints store it.
            state_json = json.dumps(sampler.state())
            if not _put_while_trainer_lives(batches, (_BATCH, indices, state_json), stop, trainer):
                # batches nobody will read would keep this process from exiting until they were flushed
                batches.cancel_join_thread()
                return
    except Exception:
        batches.put((_FAILED, traceback.format_exc()))


def _put_while_trainer_lives(batches: Any, item: tuple, stop: Any, trainer: Any) -> bool:
    """Queue ``item``; False once the trainer is gone: a trainer killed outright (kill -9, OOM) runs no
    finalizer, and a worker blocked on a full queue would wait for it forever."""
    while not stop.is_set():
        try:
            batches.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            if trainer is not None and not trainer.is_alive():
                return False
    return False


def _stop_worker(process: Any, batches: Any, stop: Any) -> None:
    stop.set()
    deadline = time.monotonic() + _STOP_TIMEOUT_S
    while process.is_alive() and time.monotonic() < deadline:
        # Draining frees a worker blocked in put() and lets its queue flush, which it must do to exit.
        _drain(batches)
        process.join(0.05)
    if process.is_alive():
        process.terminate()
        process.join(_STOP_TIMEOUT_S)
    if process.is_alive():
        process.kill()
        process.join()
    batches.close()


def _drain(batches: Any) -> None:
    try:
        while True:
            batches.get_nowait()
    except queue.Empty:
        pass
