import contextlib
import gc
import itertools
import json
import multiprocessing
import os
import signal
import time

import numpy as np
import pytest

from tasb.data.records import ScoredPair
from tasb.sampling.background import BackgroundSampler

QUEUE_SIZE = 4


class FakeSampler:
    """The sampler contract in a few lines; at module level so a spawned worker can import it.

    ``fail_at`` makes the ``fail_at``-th batch (0-based) raise; ``produced`` (a shared counter) counts
    the batches composed, wherever that happens.
    """

    def __init__(self, seed, batch_size=4, fail_at=None, produced=None):
        self.pairs = [ScoredPair(float(i), 0.0, f"q{i}", f"p{i}", f"n{i}") for i in range(50)]
        self.batch_size = batch_size
        self._rng = np.random.default_rng(seed)
        self._batches = 0
        self._fail_at = fail_at
        self._produced = produced

    def next_indices(self):
        if self._batches == self._fail_at:
            _explode(self._batches)
        indices = self._rng.choice(len(self.pairs), size=self.batch_size, replace=False).astype(np.int64)
        self._batches += 1
        if self._produced is not None:
            with self._produced.get_lock():
                self._produced.value += 1
        return indices

    def __iter__(self):
        return self

    def __next__(self):
        return [self.pairs[i] for i in self.next_indices()]

    def state(self):
        return {"bit_generator": self._rng.bit_generator.state, "batches": self._batches}

    def load_state(self, state):
        self._rng.bit_generator.state = state["bit_generator"]
        self._batches = int(state["batches"])


def _explode(batch):
    raise ValueError(f"fake sampler exploded at batch {batch}")


def _take(sampler, n):
    return list(itertools.islice(sampler, n))


def _plain_after(k, seed=1):
    plain = FakeSampler(seed)
    _take(plain, k)
    return plain


def _counter():
    return multiprocessing.get_context("spawn").Value("i", 0)


def _wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _assert_stops(process):
    process.join(3.0)
    assert not process.is_alive()
    assert process.exitcode is not None


@contextlib.contextmanager
def _deadline(seconds):
    """Fail instead of hanging the suite if the code under test blocks."""

    def expire(*_):
        raise TimeoutError(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.slow
def test_same_stream_as_the_plain_sampler_and_the_worker_starts_lazily():
    with BackgroundSampler(FakeSampler(seed=1), queue_size=QUEUE_SIZE) as background:
        assert background.process is None
        assert background.state() == FakeSampler(seed=1).state()
        assert background.batch_size == 4 and background.pairs == FakeSampler(seed=1).pairs
        assert _take(background, 50) == _take(FakeSampler(seed=1), 50)
        assert background.state() == json.loads(json.dumps(_plain_after(50).state()))


@pytest.mark.slow
def test_saved_state_resumes_in_a_new_wrapper_and_rewinds_a_running_one():
    produced = _counter()
    with BackgroundSampler(FakeSampler(seed=1, produced=produced), queue_size=QUEUE_SIZE) as background:
        _take(background, 7)
        # Let the worker run ahead, so a leak of its prefetched position into state() would show.
        _wait_for(lambda: produced.value == 7 + QUEUE_SIZE + 1)
        saved = json.loads(json.dumps(background.state()))  # as it travels through state.json
        assert saved["batches"] == 7

        with BackgroundSampler(FakeSampler(seed=999), queue_size=QUEUE_SIZE) as resumed:
            resumed.load_state(saved)
            assert resumed.process is None  # loading before the first batch starts no worker
            assert _take(resumed, 20) == _take(_plain_after(7), 20)

        first_worker = background.process
        background.load_state(json.loads(json.dumps(_plain_after(3).state())))
        _assert_stops(first_worker)
        assert _take(background, 10) == _take(_plain_after(3), 10)


@pytest.mark.slow
def test_worker_exception_is_raised_in_the_trainer_with_its_traceback():
    with BackgroundSampler(FakeSampler(seed=1, fail_at=3), queue_size=QUEUE_SIZE) as background:
        assert _take(background, 3) == _take(FakeSampler(seed=1), 3)
        process = background.process
        with _deadline(10), pytest.raises(RuntimeError, match="batch sampler worker failed") as raised:
            next(background)
    message = str(raised.value)
    assert "Traceback" in message and "in _explode" in message
    assert "ValueError: fake sampler exploded at batch 3" in message
    assert raised.value.__cause__ is None
    _assert_stops(process)


def test_killed_worker_raises_instead_of_hanging():
    with BackgroundSampler(FakeSampler(seed=1), queue_size=QUEUE_SIZE) as background:
        next(background)
        process = background.process
        os.kill(process.pid, signal.SIGKILL)
        # Batches already queued may still arrive; then the death must surface.
        with _deadline(10), pytest.raises(RuntimeError, match=r"died without a message \(exit code -9\)"):
            _take(background, QUEUE_SIZE + 2)
    _assert_stops(process)


@pytest.mark.slow
def test_close_stops_the_worker_twice_safely_and_keeps_the_position():
    background = BackgroundSampler(FakeSampler(seed=1), queue_size=QUEUE_SIZE)
    _take(background, 5)
    process = background.process
    background.close()
    _assert_stops(process)
    background.close()
    assert background.process is None
    with background:
        assert _take(background, 5) == _take(_plain_after(5), 5)


@pytest.mark.slow
def test_exception_leaving_the_with_block_stops_the_worker():
    with pytest.raises(KeyboardInterrupt):
        with BackgroundSampler(FakeSampler(seed=1), queue_size=QUEUE_SIZE) as background:
            next(background)
            process = background.process
            raise KeyboardInterrupt
    _assert_stops(process)


@pytest.mark.slow
def test_forgotten_wrapper_stops_its_worker():
    background = BackgroundSampler(FakeSampler(seed=1), queue_size=QUEUE_SIZE)
    next(background)
    process = background.process
    del background
    gc.collect()
    _assert_stops(process)


@pytest.mark.slow
def test_queue_is_bounded_and_prefetched_batches_cost_no_wait():
    produced = _counter()
    with BackgroundSampler(FakeSampler(seed=1, produced=produced), queue_size=QUEUE_SIZE) as background:
        _take(background, 3)
        # Full queue plus the one batch the worker holds while blocked in put().
        _wait_for(lambda: produced.value == 3 + QUEUE_SIZE + 1)
        time.sleep(0.3)
        assert produced.value == 3 + QUEUE_SIZE + 1

        waited = background.waited_s
        _take(background, QUEUE_SIZE)
        assert background.waited_s - waited < 0.1


def test_queue_size_must_be_positive():
    with pytest.raises(ValueError, match="queue_size"):
        BackgroundSampler(FakeSampler(seed=1), queue_size=0)
