"""Reports in flight, so that a shutdown (a deploy's SIGTERM) finishes them or says so in Slack
instead of leaving "Checking example.com…" up forever."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

log = logging.getLogger(__name__)


class InFlight:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        """Count the current task as a report in flight while the block runs."""
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - always inside a task under asyncio
            yield
            return
        self._tasks.add(task)
        try:
            yield
        finally:
            self._tasks.discard(task)

    async def drain(self, grace: float) -> int:
        """Let running reports finish for up to `grace` seconds, then cancel the rest (each one
        replaces its placeholder with a notice as it goes). Returns how many were cut short."""
        pending = {t for t in self._tasks if not t.done()}
        if not pending:
            return 0
        log.info("waiting up to %g s for %d report(s) to finish", grace, len(pending))
        _, late = await asyncio.wait(pending, timeout=grace)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=5)
        return len(late)
