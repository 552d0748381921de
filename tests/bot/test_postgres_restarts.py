"""Connections the PostgreSQL server dropped (a restart, a failover, an idle-connection reaper) are
replaced by the stores' pools, not failed.
"""

from __future__ import annotations

import psycopg
from sqlalchemy import make_url

from bot.store.db import Store
from bot.store.watch import AddOutcome, WatchStore
from tests.bot.postgres_support import CHANNEL, NOW, TEAM, USER
from tests.fakes.postgres import PostgresCluster


async def test_connections_the_server_dropped_are_replaced_not_failed(
    pg_url: str, postgres_cluster: PostgresCluster
) -> None:
    db = Store(pg_url)
    db.create_all()
    watches = WatchStore(pg_url)
    watches.create_all()
    assert await db.claim_event("Ev1")
    assert await watches.watches(TEAM, CHANNEL) == []
    # What a server restart, a failover or an idle-connection reaper does to the pools.
    with psycopg.connect(postgres_cluster.dsn(), autocommit=True) as admin:
        dropped = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
            (make_url(pg_url).database,),
        ).fetchone()

    claimed = await db.claim_event("Ev2")  # raised AdminShutdown before pre-ping
    added = await watches.add_watch(TEAM, CHANNEL, "a.example", user_id=USER, now=NOW)

    assert dropped is not None
    assert dropped[0] == 2
    assert claimed
    assert added is AddOutcome.ADDED
    db.close()
    watches.close()
