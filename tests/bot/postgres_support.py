"""What the test_postgres_* modules share: a fixed clock and ids, and `race`.

`tests/fakes/postgres.py` starts a private cluster (session-wide); every test gets a fresh database
(`pg_url` in tests/bot/conftest.py). Each "instance" is its own store object with its own engine and
connection pool, as separate bot processes would have, and races run on real threads against the
one server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

NOW = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)  # a Wednesday, as in watch_support/test_scheduler
TEAM, CHANNEL, USER = "T1", "C1", "U1"


def race(instances: dict[str, Callable[[], None]], timeout: float = 30) -> None:
    """Run each callable on its own thread, released together; re-raise the first failure."""
    start = threading.Barrier(len(instances))
    errors: list[BaseException] = []

    def run(body: Callable[[], None]) -> None:
        try:
            start.wait(timeout=5)
            body()
        except BaseException as exc:  # noqa: BLE001 -- re-raised in the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(body,)) for body in instances.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a racer hung"
    if errors:
        raise errors[0]
