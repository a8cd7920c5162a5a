"""Micro-batching: concurrent requests for same-sized images share one model call.

Opportunistic: when the model is idle a request goes at once (a lone request never waits for
company); while a batch runs, requests gather and go together as soon as it ends. The latency
bound only caps how long a request waits behind a long batch. So batches form under load only,
where they pay.

Pure asyncio + numpy: the model call is any `predict(batch) -> {output: array[N, ...]}` function,
run on one dedicated worker thread so TensorFlow never blocks the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

Outputs = dict[str, np.ndarray]
Predict = Callable[[np.ndarray], Outputs]


@dataclass
class _Pending:
    images: np.ndarray
    future: asyncio.Future[Outputs]


@dataclass
class _Queue:
    items: list[_Pending] = field(default_factory=list)
    size: int = 0
    timer: asyncio.TimerHandle | None = None


class MicroBatcher:
    """Groups `submit()` calls per image size: up to `max_batch_size` images, gathered while the
    model is busy, waiting at most `max_latency_ms`."""

    def __init__(
        self,
        predict: Predict,
        max_batch_size: int,
        max_latency_ms: float,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        self._predict = predict
        self._max = max_batch_size
        self._delay = max_latency_ms / 1000.0
        self._on_batch = on_batch
        self._queues: dict[tuple[int, ...], _Queue] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._busy = 0  # batches sent and not finished yet
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")

    @property
    def queued(self) -> int:
        """Images waiting for a model call (the tests read it; no metric exports it)."""
        return sum(q.size for q in self._queues.values())

    @property
    def batches_in_flight(self) -> int:
        return self._busy

    async def submit(self, images: np.ndarray) -> Outputs:
        """images: [k, H, W, C]; returns this caller's k rows of every output."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outputs] = loop.create_future()
        key = tuple(images.shape[1:])  # never mix image sizes in one call
        queue = self._queues.setdefault(key, _Queue())
        if queue.items and queue.size + len(images) > self._max:
            self._flush(key)  # would overflow: send what is waiting, start afresh
            queue = self._queues.setdefault(key, _Queue())
        queue.items.append(_Pending(images, future))
        queue.size += len(images)
        if queue.size >= self._max or self._delay == 0 or self._busy == 0:
            self._flush(key)
        elif queue.timer is None:
            queue.timer = loop.call_later(self._delay, self._flush, key)
        return await future

    def _flush(self, key: tuple[int, ...]) -> None:
        queue = self._queues.pop(key, None)
        if queue is None or not queue.items:
            return
        if queue.timer is not None:
            queue.timer.cancel()
        self._busy += 1
        task = asyncio.get_running_loop().create_task(self._run(queue.items))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, items: list[_Pending]) -> None:
        try:
            await self._call(items)
        finally:
            self._busy -= 1
            if self._busy == 0:  # idle again: what gathered meanwhile goes next, without waiting
                for key in list(self._queues):
                    self._flush(key)

    async def _call(self, items: list[_Pending]) -> None:
        batch = items[0].images if len(items) == 1 else np.concatenate([p.images for p in items])
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            outputs = await loop.run_in_executor(self._executor, self._predict, batch)
        except Exception as exc:  # noqa: BLE001 (not swallowed: every caller in the batch gets it)
            for p in items:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        if self._on_batch is not None:
            self._on_batch(len(batch), loop.time() - started)
        start = 0
        for p in items:
            end = start + len(p.images)
            if not p.future.done():  # the caller may have gone away (cancelled)
                p.future.set_result({name: value[start:end] for name, value in outputs.items()})
            start = end

    async def drain(self) -> None:
        """Send everything still waiting and wait for every batch in flight (graceful shutdown)."""
        for key in list(self._queues):
            self._flush(key)
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def close(self) -> None:
        await self.drain()
        self._executor.shutdown(wait=True)
