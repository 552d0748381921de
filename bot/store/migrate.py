"""The database schema under Alembic: bring any database to the newest revision, once, however
many instances start at the same moment.

    upgrade(engine)   new database: every table; one an older mxbot made with `create_all`:
                      adopted by the baseline (its tables and rows kept), then upgraded
    current(engine)   which revision it is at, and whether that is the newest

The revisions live in `bot/store/migrations/versions/`, one module each, linked by
`down_revision`. Instances take turns: on PostgreSQL under an advisory lock held for the
upgrade's one transaction (DDL is transactional there, so a crash leaves the old schema); on
SQLite under an exclusive lock on a file beside the database. The second instance finds the
schema at the newest revision and does nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

MIGRATIONS: Final = Path(__file__).resolve().parent / "migrations"
# The key `create_all` took before migrations: an older instance starting beside a newer one
# still waits for it.
_LOCK_KEY: Final = 0x6D78626F


@dataclass(frozen=True, slots=True)
class Revision:
    """Where a database stands: its revision (None: not under migrations yet) and the newest."""

    current: str | None
    head: str

    @property
    def is_current(self) -> bool:
        return self.current == self.head


def head() -> str:
    """The newest revision this mxbot knows."""
    found = _scripts().get_current_head()
    if found is None:  # pragma: no cover - the package always ships its revisions
        raise RuntimeError("no migrations found")
    return found


def upgrade(engine: Engine, revision: str = "head") -> Revision:
    """Bring the database to `revision` (the newest by default), under the migration lock."""
    with _locked(engine) as connection:
        config = _config(connection)
        command.upgrade(config, revision)
        return Revision(_revision_of(connection), head())


def current(engine: Engine) -> Revision:
    """The database's revision, read without changing anything."""
    with engine.connect() as connection:
        return Revision(_revision_of(connection), head())


def _revision_of(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@contextlib.contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the migration lock; committed on the way out."""
    with _file_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        yield connection


@contextlib.contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    """SQLite: an exclusive `flock` on `<database>.migrate.lock` (none for a memory database)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    with open(f"{database}.migrate.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)
