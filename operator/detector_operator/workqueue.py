"""A work queue keyed by object: one run per key at a time, bursts coalesced, failures retried.

Domain-free: it knows keys and a `work(key)` coroutine, nothing of Kubernetes. Ten requests
while a run is going cause one more run, not ten; `request_later` lets a burst of requests
(a rollout's pod events, say) settle into one run a moment later. A run that raises is retried after an
exponential backoff (1 s, 2 s, 4 s ... capped) with jitter, so a failing API server is not
hammered by every object in step. Time enters only through `schedule` and `random`, which tests
replace to check the rules without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import random as _random
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)


class Cancellable(Protocol):
    def cancel(self) -> None: ...


Schedule = Callable[[float, Callable[[], None]], Cancellable]


def _call_later(delay: float, callback: Callable[[], None]) -> Cancellable:
    return asyncio.get_running_loop().call_later(delay, callback)


class WorkQueue(Generic[K]):
    def __init__(
        self,
        work: Callable[[K], Awaitable[None]],
        *,
        max_backoff: float = 60.0,
        jitter: float = 0.2,
        schedule: Schedule = _call_later,
        random: Callable[[], float] = _random.random,
        concurrency: int | None = None,
    ) -> None:
        """concurrency: at most this many runs at once (each run holds the objects it builds and
        the answers it gets, so a burst of a thousand keys would otherwise hold them all at once)."""
        self._work = work
        self._slots = asyncio.Semaphore(concurrency) if concurrency else None
        self.max_backoff = max_backoff
        self.jitter = jitter
        self._schedule = schedule
        self._random = random
        self._running: set[K] = set()
        self._dirty: set[K] = set()
        self._backoff: dict[K, float] = {}
        self._retries: dict[K, Cancellable] = {}
        self._later: dict[K, Cancellable] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def request(self, key: K) -> None:
        """Run work(key) now, or once more right after the run already going for it."""
        later = self._later.pop(key, None)
        if later is not None:  # this run does what the delayed one would have done
            later.cancel()
        if key in self._running:
            self._dirty.add(key)
            return
        self._running.add(key)
        try:
            while True:
                self._dirty.discard(key)
                await self._run(key)
                if key not in self._dirty:
                    break
        finally:
            self._running.discard(key)

    def request_later(self, key: K, delay: float) -> None:
        """Run work(key) in `delay` seconds; further requests until then join that run."""
        if key not in self._later:
            self._later[key] = self._schedule(delay, lambda: self._spawn(key, self._later))

    def backoff(self, key: K) -> float:
        """The current backoff base for key (0 when its last run succeeded)."""
        return self._backoff.get(key, 0.0)

    def retry_pending(self, key: K) -> bool:
        return key in self._retries

    def forget(self, key: K) -> None:
        self._backoff.pop(key, None)
        retry = self._retries.pop(key, None)
        if retry is not None:
            retry.cancel()

    async def drain(self) -> None:
        """Wait for the retries that have started (tests, shutdown)."""
        me = asyncio.current_task()
        while pending := [t for t in self._tasks if t is not me]:
            await asyncio.gather(*pending, return_exceptions=True)

    def close(self) -> None:
        for timers in (self._retries, self._later):
            for timer in timers.values():
                timer.cancel()
            timers.clear()
        for task in self._tasks:
            task.cancel()

    async def _run(self, key: K) -> None:
        try:
            if self._slots is None:
                await self._work(key)
            else:
                async with self._slots:
                    await self._work(key)
        except Exception as error:  # noqa: BLE001 - one object's failure never stops the queue
            self._schedule_retry(key, error)
        else:
            self.forget(key)

    def _schedule_retry(self, key: K, error: Exception) -> None:
        base = min(self.max_backoff, self._backoff.get(key, 0.0) * 2 or 1.0)
        self._backoff[key] = base
        delay = base * (1 + self.jitter * (2 * self._random() - 1))
        log.warning("%s failed (%s); retrying in %.1fs", _describe(key), error, delay)
        previous = self._retries.pop(key, None)
        if previous is not None:
            previous.cancel()
        self._retries[key] = self._schedule(delay, lambda: self._spawn(key, self._retries))

    def _spawn(self, key: K, timers: dict[K, Cancellable]) -> None:
        timers.pop(key, None)
        task = asyncio.get_running_loop().create_task(self.request(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _describe(key: Any) -> str:
    return "/".join(key) if isinstance(key, tuple) and all(isinstance(k, str) for k in key) else repr(key)
