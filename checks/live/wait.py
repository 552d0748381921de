"""`mxbot live --wait`: look again, backing off, until every name server and every resolver give
the new answer, or give up once the longest TTL seen (plus a margin, at most a day) has passed:
by then every cache has dropped the old answer, so what still disagrees will not fix itself.

The clock and the sleep are passed in, so a test drives the wait with its own clock, not sleeps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from checks.live.result import LiveReport

MAX_WAIT_S = 24 * 3600.0
FIRST_PAUSE_S = 2.0
MAX_PAUSE_S = 60.0
MIN_MARGIN_S = 30.0

Look = Callable[[], Awaitable[LiveReport]]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Round:
    """Where a wait stands after one look: for a progress line."""

    report: LiveReport
    looks: int
    elapsed_s: float
    next_in_s: float  # the pause before the next look
    give_up_in_s: float


@dataclass(frozen=True, slots=True)
class Waited:
    """How a wait ended: the last look, and whether it was live."""

    report: LiveReport
    live: bool
    looks: int
    elapsed_s: float
    limit_s: float  # how long it was prepared to wait


def limit_for(report: LiveReport, max_wait_s: float = MAX_WAIT_S) -> float:
    """The longest TTL seen, plus a tenth of it (at least 30 s), at most `max_wait_s`."""
    ttl = float(report.longest_ttl)
    return min(max_wait_s, ttl + max(MIN_MARGIN_S, ttl / 10))


async def wait_until_live(
    look: Look,
    *,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
    on_round: Callable[[Round], None] | None = None,
    max_wait_s: float = MAX_WAIT_S,
) -> Waited:
    """Look until live, pausing 2 s, 4 s, … up to a minute between looks (sooner when the last
    resolver's cache runs out sooner), and give up after `limit_for` the first look."""
    started = clock()
    report = await look()
    limit = limit_for(report, max_wait_s)
    pause, looks = FIRST_PAUSE_S, 1
    while not report.live:
        elapsed = clock() - started
        left = limit - elapsed
        if left <= 0:
            return Waited(report, False, looks, elapsed, limit)
        expiry = report.wait_s + 1.0 if report.wait_s else MAX_PAUSE_S
        now_pause = max(0.0, min(pause, left, expiry))
        if on_round is not None:
            on_round(Round(report, looks, elapsed, now_pause, left))
        await sleep(now_pause)
        pause = min(pause * 2, MAX_PAUSE_S)
        report = await look()
        looks += 1
    return Waited(report, True, looks, clock() - started, limit)
