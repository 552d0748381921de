"""Protecting the service: per-user and per-channel rate limits, and a cap on concurrent reports."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

WINDOW_SECONDS = 60.0
MAX_KEYS = 10_000  # forget the oldest keys beyond this, so memory stays bounded


class RateLimiter:
    """At most `per_minute` events per key in any sliding 60-second window."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may go again (0: it may go now). Does not record anything."""
        now = self._clock()
        times = self._seen.get(key)
        if times is None:
            return 0.0
        while times and times[0] <= now - WINDOW_SECONDS:
            times.popleft()
        if len(times) < self.per_minute:
            return 0.0
        return max(times[0] + WINDOW_SECONDS - now, 0.01)

    def record(self, key: str) -> None:
        times = self._seen.pop(key, None) or deque()
        times.append(self._clock())
        self._seen[key] = times  # re-insert: dict order is least recently used first
        if len(self._seen) > MAX_KEYS:
            del self._seen[next(iter(self._seen))]


class ReportGate:
    """Runs at most `max_running` reports at once; up to `max_queued` more wait their turn."""

    def __init__(self, max_running: int, max_queued: int) -> None:
        self.max_running = max_running
        self.max_queued = max_queued
        self.running = 0
        self.waiting = 0
        self._semaphore = asyncio.Semaphore(max_running)

    def ahead(self) -> int:
        """How many reports would have to finish or start before a new one runs (0: runs now)."""
        free = self.max_running - self.running
        return 0 if free > 0 and self.waiting == 0 else self.waiting + 1

    @property
    def full(self) -> bool:
        return self.running >= self.max_running and self.waiting >= self.max_queued

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        self.waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self._semaphore.release()
