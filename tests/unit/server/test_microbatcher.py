"""MicroBatcher with a fake detector: what each caller gets back and how calls are grouped."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from inference_server.batching import MicroBatcher


class FakeDetector:
    """Answers each image with its own mean pixel, and records every batch it was called with."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[int, ...]] = []
        self.threads: set[str] = set()
        self.fail = fail

    def predict(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        self.calls.append(batch.shape)
        self.threads.add(threading.current_thread().name)
        if self.fail:
            raise RuntimeError("model exploded")
        return {"mean": batch.reshape(len(batch), -1).mean(axis=1), "shape": np.tile(batch.shape[1:3], (len(batch), 1))}


def images(value: int, count: int = 1, size: tuple[int, int] = (4, 4)) -> np.ndarray:
    return np.full((count, *size, 3), value, np.uint8)


class GatedDetector(FakeDetector):
    """Holds its first call until released, so that requests can gather behind a running batch."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.release = threading.Event()

    def predict(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        if not self.started.is_set():
            self.started.set()
            self.release.wait(timeout=10)
        return super().predict(batch)


async def until(predicate, timeout: float = 5.0) -> None:
    """Yield to the loop until predicate() holds: the batcher's state, not a guessed sleep."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.001)


async def busy_batcher(max_batch_size: int,
                       max_latency_ms: float) -> tuple[MicroBatcher, GatedDetector, asyncio.Future]:
    """A batcher whose model is busy with a first request (value 99) until `fake.release` is set."""
    fake = GatedDetector()
    batcher = MicroBatcher(fake.predict, max_batch_size=max_batch_size, max_latency_ms=max_latency_ms)
    first = asyncio.ensure_future(batcher.submit(images(99)))
    await asyncio.wait_for(asyncio.to_thread(fake.started.wait), timeout=5)
    return batcher, fake, first


async def test_a_lone_request_does_not_wait_for_the_timeout():
    fake = FakeDetector()
    batcher = MicroBatcher(fake.predict, max_batch_size=8, max_latency_ms=60_000)  # a minute, if it waited
    result = await asyncio.wait_for(batcher.submit(images(3)), timeout=5)
    assert float(result["mean"][0]) == 3 and fake.calls == [(1, 4, 4, 3)]
    await batcher.close()


async def test_requests_arriving_while_the_model_is_busy_share_the_next_call():
    batcher, fake, first = await busy_batcher(max_batch_size=8, max_latency_ms=60_000)
    waiting = [asyncio.ensure_future(batcher.submit(images(v))) for v in range(5)]
    await until(lambda: batcher.queued == 5)
    assert not any(w.done() for w in waiting)  # gathered behind the running batch, not sent one by one
    fake.release.set()
    results = await asyncio.wait_for(asyncio.gather(*waiting), timeout=5)  # sent when it ended, not after a minute
    assert [float(r["mean"][0]) for r in results] == [0, 1, 2, 3, 4]
    assert float((await first)["mean"][0]) == 99
    assert fake.calls == [(1, 4, 4, 3), (5, 4, 4, 3)]
    await batcher.close()


async def test_the_timeout_bounds_the_wait_behind_a_long_batch():
    batcher, fake, first = await busy_batcher(max_batch_size=8, max_latency_ms=20)
    early = asyncio.ensure_future(batcher.submit(images(5)))
    # Past the 20 ms bound `early` is sent on its own, queued behind the busy model.
    await until(lambda: batcher.queued == 0 and batcher.batches_in_flight == 2)
    late = asyncio.ensure_future(batcher.submit(images(6)))
    await until(lambda: batcher.queued == 1)
    fake.release.set()
    results = await asyncio.wait_for(asyncio.gather(first, early, late), timeout=5)
    assert [float(r["mean"][0]) for r in results] == [99, 5, 6]
    assert fake.calls == [(1, 4, 4, 3)] * 3  # without the bound, early and late would have shared a call
    await batcher.close()


async def test_images_of_different_sizes_never_share_a_call():
    batcher, fake, first = await busy_batcher(max_batch_size=8, max_latency_ms=60_000)
    sizes = [(4, 4), (8, 6), (4, 4), (8, 6), (2, 2)]
    waiting = [asyncio.ensure_future(batcher.submit(images(i, size=s))) for i, s in enumerate(sizes)]
    await until(lambda: batcher.queued == 5)
    fake.release.set()
    results = await asyncio.wait_for(asyncio.gather(*waiting), timeout=5)
    for i, (result, size) in enumerate(zip(results, sizes, strict=True)):
        assert float(result["mean"][0]) == i
        assert tuple(result["shape"][0]) == size
    await first
    assert sorted(fake.calls[1:]) == sorted([(2, 4, 4, 3), (2, 8, 6, 3), (1, 2, 2, 3)])
    await batcher.close()


async def test_a_full_batch_goes_at_once_and_never_exceeds_the_limit():
    batcher, fake, first = await busy_batcher(max_batch_size=3, max_latency_ms=60_000)
    waiting = [asyncio.ensure_future(batcher.submit(images(v))) for v in range(7)]
    await until(lambda: batcher.queued + 3 * (batcher.batches_in_flight - 1) == 7)  # full ones already sent
    fake.release.set()
    results = await asyncio.wait_for(asyncio.gather(*waiting), timeout=5)
    assert [float(r["mean"][0]) for r in results] == list(range(7))
    await first
    assert fake.calls == [(1, 4, 4, 3), (3, 4, 4, 3), (3, 4, 4, 3), (1, 4, 4, 3)]
    await batcher.close()


async def test_multi_image_requests_keep_their_rows_together():
    batcher, fake, _ = await busy_batcher(max_batch_size=4, max_latency_ms=60_000)
    waiting = [asyncio.ensure_future(batcher.submit(images(v, count=n))) for v, n in ((1, 3), (2, 2), (3, 1))]
    await until(lambda: batcher.queued == 3 and batcher.batches_in_flight == 2)  # (1,3) sent on overflow
    fake.release.set()
    first, second, third = await asyncio.wait_for(asyncio.gather(*waiting), timeout=5)
    assert first["mean"].tolist() == [1, 1, 1]
    assert second["mean"].tolist() == [2, 2]
    assert third["mean"].tolist() == [3]
    assert all(shape[0] <= 4 for shape in fake.calls)
    await batcher.close()


async def test_model_failure_reaches_every_caller_in_the_batch():
    batcher = MicroBatcher(FakeDetector(fail=True).predict, max_batch_size=8, max_latency_ms=20)
    results = await asyncio.gather(*(batcher.submit(images(v)) for v in range(3)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) and "exploded" in str(r) for r in results)
    await batcher.close()


async def test_model_runs_on_a_worker_thread_not_the_event_loop():
    fake = FakeDetector()
    batcher = MicroBatcher(fake.predict, max_batch_size=2, max_latency_ms=0)
    await batcher.submit(images(1))
    assert fake.threads and threading.current_thread().name not in fake.threads
    await batcher.close()


async def test_drain_finishes_waiting_requests_before_close():
    batcher, fake, first = await busy_batcher(max_batch_size=8, max_latency_ms=60_000)  # would wait a minute
    pending = asyncio.ensure_future(batcher.submit(images(7)))
    await until(lambda: batcher.queued == 1)  # enqueued behind the busy model
    fake.release.set()
    await asyncio.wait_for(batcher.close(), timeout=5)
    assert float((await pending)["mean"][0]) == 7 and float((await first)["mean"][0]) == 99


def test_batch_size_below_one_is_refused():
    with pytest.raises(ValueError):
        MicroBatcher(FakeDetector().predict, max_batch_size=0, max_latency_ms=1)
