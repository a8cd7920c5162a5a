"""The work queue's rules, with its clock replaced: coalescing, backoff, jitter, forgetting."""
from __future__ import annotations

import asyncio

import pytest

from detector_operator.workqueue import WorkQueue


class FakeTimers:
    """Stands in for loop.call_later: records what would run and when, fires on demand."""

    def __init__(self) -> None:
        self.pending: list[list] = []  # [delay, callback, cancelled]

    def schedule(self, delay, callback):
        entry = [delay, callback, False]
        self.pending.append(entry)

        class Handle:
            def cancel(self_inner):
                entry[2] = True
        return Handle()

    def fire(self):
        delay, callback, cancelled = self.pending.pop(0)
        assert not cancelled, "fired a cancelled retry"
        callback()
        return delay


async def test_a_burst_during_a_run_coalesces_into_exactly_one_more_run():
    started, release, runs = asyncio.Event(), asyncio.Event(), []

    async def work(key):
        runs.append(key)
        started.set()
        await release.wait()

    queue = WorkQueue(work)
    first = asyncio.create_task(queue.request("a"))
    await started.wait()  # the first run is in progress
    await asyncio.gather(*(queue.request("a") for _ in range(10)))  # return at once: marked dirty
    release.set()
    await first
    assert runs == ["a", "a"]


async def test_different_keys_run_side_by_side():
    both, release = asyncio.Barrier(3), asyncio.Event()

    async def work(key):
        await both.wait()  # deadlocks unless a and b run at the same time
        await release.wait()

    queue = WorkQueue(work)
    tasks = [asyncio.create_task(queue.request(k)) for k in ("a", "b")]
    await asyncio.wait_for(both.wait(), 5)
    release.set()
    await asyncio.gather(*tasks)


@pytest.mark.parametrize("random_value, factor", [(0.5, 1.0), (0.0, 0.8), (1.0, 1.2)])
async def test_failures_back_off_exponentially_to_a_cap_with_bounded_jitter(random_value, factor):
    timers = FakeTimers()

    async def work(key):
        raise RuntimeError("API server unreachable")

    queue = WorkQueue(work, max_backoff=8, jitter=0.2, schedule=timers.schedule, random=lambda: random_value)
    await queue.request("a")
    delays = []
    for _ in range(5):
        delays.append(timers.fire())
        await queue.drain()
    assert delays == pytest.approx([d * factor for d in (1, 2, 4, 8, 8)])
    assert queue.retry_pending("a")


async def test_a_success_resets_the_backoff_and_cancels_the_pending_retry():
    timers, failing = FakeTimers(), [True]

    async def work(key):
        if failing[0]:
            raise RuntimeError("boom")

    queue = WorkQueue(work, schedule=timers.schedule, random=lambda: 0.5)
    await queue.request("a")
    await queue.request("a")  # fails again before the retry fired: backoff 2
    assert queue.backoff("a") == 2.0 and [e[2] for e in timers.pending] == [True, False]
    failing[0] = False
    await queue.request("a")  # e.g. a watch event arrives and this time it works
    assert queue.backoff("a") == 0.0 and not queue.retry_pending("a")
    assert all(cancelled for _, _, cancelled in timers.pending)


async def test_forget_drops_a_pending_retry():
    timers = FakeTimers()

    async def work(key):
        raise RuntimeError("boom")

    queue = WorkQueue(work, schedule=timers.schedule)
    await queue.request("a")
    queue.forget("a")
    assert not queue.retry_pending("a") and timers.pending[0][2] is True


async def test_requests_later_settle_into_one_run_and_an_immediate_request_takes_their_place():
    timers, runs = FakeTimers(), []

    async def work(key):
        runs.append(key)

    queue = WorkQueue(work, schedule=timers.schedule)
    for _ in range(5):  # a burst of child events
        queue.request_later("a", 0.5)
    assert len(timers.pending) == 1 and runs == []
    timers.fire()
    await queue.drain()
    assert runs == ["a"]
    queue.request_later("a", 0.5)
    await queue.request("a")  # the ObjectDetector itself changed: run now, not twice
    assert runs == ["a", "a"] and timers.pending[0][2] is True


async def test_concurrency_bounds_how_many_keys_run_at_once():
    running, peak, release = set(), [0], asyncio.Event()

    async def work(key):
        running.add(key)
        peak[0] = max(peak[0], len(running))
        await release.wait()
        running.discard(key)

    queue = WorkQueue(work, concurrency=3)
    tasks = [asyncio.create_task(queue.request(k)) for k in range(10)]
    await asyncio.sleep(0)
    for _ in range(100):  # let every request reach the semaphore
        await asyncio.sleep(0)
    assert len(running) == 3
    release.set()
    await asyncio.gather(*tasks)
    assert peak[0] == 3 and not running
