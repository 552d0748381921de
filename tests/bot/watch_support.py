"""What the test_watch_* modules share: a fixed clock and ids, and a watch-list store on a real
SQLite file.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.store.watch import WatchStore

NOW = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)  # a Wednesday
TEAM, CHANNEL, USER = "T1", "C1", "U1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WatchStore]:
    watch_store = WatchStore(f"sqlite:///{tmp_path / 'mxbot.db'}")
    watch_store.create_all()
    yield watch_store
    watch_store.close()
