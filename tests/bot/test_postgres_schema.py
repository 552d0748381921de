"""Schema creation on a real PostgreSQL server: instances starting together on a new database."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bot.store.db import Store
from bot.store.watch import WatchStore
from tests.bot.postgres_support import race


def test_instances_starting_together_on_a_new_database_all_come_up(pg_url: str) -> None:
    stores = {f"i{n}": Store(pg_url, client_id="111.222") for n in range(4)}

    def start(db: Store) -> Callable[[], None]:
        def body() -> None:  # what `mxbot serve` does at start
            db.create_all()
            WatchStore(db.engine).create_all()

        return body

    race({name: start(db) for name, db in stores.items()})  # raised DuplicateTable before

    with Session(stores["i0"].engine) as session:
        tables = set(session.scalars(select(text("tablename")).select_from(text("pg_tables"))))
    assert {
        "mxbot_reports",
        "mxbot_processed_events",
        "slack_bots",
        "slack_installations",
    } <= tables
    assert {"slack_oauth_states", "mxbot_watch", "mxbot_schedule", "mxbot_digest_run"} <= tables
    for db in stores.values():
        db.close()
