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


async def test_concurrent_callers_share_one_call_and_each_gets_its_own_rows():
    fake = FakeDetector()
    batcher = MicroBatcher(fake.predict, max_batch_size=8, max_latency_ms=50)
    results = await asyncio.gather(*(batcher.submit(images(v)) for v in range(5)))
    assert [float(r["mean"][0]) for r in results] == [0, 1, 2, 3, 4]
    assert fake.calls == [(5, 4, 4, 3)]
    await batcher.close()


async def test_images_of_different_sizes_never_share_a_call():
    fake = FakeDetector()
    batcher = MicroBatcher(fake.predict, max_batch_size=8, max_latency_ms=50)
    sizes = [(4, 4), (8, 6), (4, 4), (8, 6), (2, 2)]
    results = await asyncio.gather(*(batcher.submit(images(i, size=s)) for i, s in enumerate(sizes)))
    for i, (result, size) in enumerate(zip(results, sizes)):
        assert float(result["mean"][0]) == i
        assert tuple(result["shape"][0]) == size
    assert sorted(fake.calls) == sorted([(2, 4, 4, 3), (2, 8, 6, 3), (1, 2, 2, 3)])
    await batcher.close()


async def test_a_full_batch_goes_at_once_and_never_exceeds_the_limit():
    fake = FakeDetector()
    batcher = MicroBatcher(fake.predict, max_batch_size=3, max_latency_ms=10_000)  # only size can flush
    results = await asyncio.wait_for(asyncio.gather(*(batcher.submit(images(v)) for v in range(6))), timeout=5)
    assert [float(r["mean"][0]) for r in results] == list(range(6))
    assert fake.calls == [(3, 4, 4, 3), (3, 4, 4, 3)]
    await batcher.close()


async def test_multi_image_requests_keep_their_rows_together():
    fake = FakeDetector()
    batcher = MicroBatcher(fake.predict, max_batch_size=4, max_latency_ms=20)
    first, second, third = await asyncio.gather(
        batcher.submit(images(1, count=3)), batcher.submit(images(2, count=2)), batcher.submit(images(3, count=1))
    )
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
    fake = FakeDetector()
    batcher = MicroBatcher(fake.predict, max_batch_size=8, max_latency_ms=60_000)  # would wait a minute
    pending = asyncio.ensure_future(batcher.submit(images(7)))
    await asyncio.sleep(0)  # let it enqueue
    await asyncio.wait_for(batcher.close(), timeout=5)
    assert float((await pending)["mean"][0]) == 7


def test_batch_size_below_one_is_refused():
    with pytest.raises(ValueError):
        MicroBatcher(FakeDetector().predict, max_batch_size=0, max_latency_ms=1)
