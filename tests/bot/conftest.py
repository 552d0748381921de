"""Fixtures shared by the bot tests: the Slack app on its real HTTP server with Slack stood in, and
a fresh database on the private PostgreSQL server.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.fakes.postgres import PostgresCluster, postgres_cluster
from tests.fakes.slackharness import MakeHarness, harness_factory

__all__ = ["postgres_cluster"]  # the session fixture, imported so pytest finds it here (once)


@pytest.fixture
async def make_harness(tmp_path: Path) -> AsyncIterator[MakeHarness]:
    async with harness_factory(tmp_path) as make:
        yield make


@pytest.fixture
def pg_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    with postgres_cluster.fresh_database(f"mxbot_{uuid.uuid4().hex[:12]}") as url:
        yield url
