"""Coalescing progress updates: fifteen checks finishing together make one `chat.update`, not fifteen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress


class Throttle:
    """Calls `flush` soon after `poke`, but never twice within `interval` seconds.

    The first poke flushes at once (the first verdicts matter most); later pokes coalesce.
    """

    def __init__(self, interval: float, flush: Callable[[], Awaitable[None]]) -> None:
        self._interval = interval
        self._flush = flush
        self._dirty = False
        self._last: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._flushing = False

    def poke(self) -> None:
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        """Stop: a flush in flight finishes, a scheduled one is dropped (the final message follows)."""
        self._dirty = False
        task = self._task
        if task is None or task.done():
            return
        if not self._flushing:
            task.cancel()
        with suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while self._dirty:
            if self._last is not None:
                wait = self._last + self._interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)  # close() cancels this sleep
            self._dirty = False
            self._last = time.monotonic()
            self._flushing = True
            try:
                await self._flush()
            finally:
                self._flushing = False
