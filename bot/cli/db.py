"""`mxbot db upgrade` and `mxbot db current`: the database's schema, under Alembic.

`upgrade` brings `MXBOT_DATABASE_URL` to the newest revision (a database an older mxbot made is
adopted, its rows kept); `serve`, `socket` and `digest` do the same at start, so this is for
upgrading ahead of a deploy. `current` says which revision the database is at.

Exit status: 0 done (`current`: the database is at the newest revision), 1 it is not (or the
database cannot be reached), 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError

from bot.cli.errors import EXIT_OK, EXIT_PROBLEM
from bot.settings import AppSettings
from bot.store.migrate import Revision, current, upgrade
from checks.settings import Settings


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    """`db upgrade` and `db current` (the shared engine flags are on `parser`, unused here)."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser("upgrade", help="bring the database to the newest schema")
    up.set_defaults(handler=run)
    now = actions.add_parser("current", help="show the database's schema revision")
    now.set_defaults(handler=run)


async def run(args: argparse.Namespace, settings: AppSettings | Settings) -> int:
    url = (
        settings.database_url
        if isinstance(settings, AppSettings)
        else AppSettings.from_env(os.environ).database_url
    )
    engine = create_engine(url, pool_pre_ping=True)
    try:
        if args.action == "upgrade":
            before = await asyncio.to_thread(current, engine)
            after = await asyncio.to_thread(upgrade, engine)
            print(_upgraded(before, after))
            return EXIT_OK
        revision = await asyncio.to_thread(current, engine)
        print(_describe(revision))
        return EXIT_OK if revision.is_current else EXIT_PROBLEM
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        print(f"mxbot db: database error: {type(cause).__name__}: {cause}", file=sys.stderr)
        return EXIT_PROBLEM
    finally:
        engine.dispose()


def _upgraded(before: Revision, after: Revision) -> str:
    if before.current == after.current:
        return f"mxbot db: already at {after.current} (the newest)"
    was = before.current or "no revision (tables made by create_all, or none)"
    return f"mxbot db: upgraded from {was} to {after.current}"


def _describe(revision: Revision) -> str:
    if revision.current is None:
        return f"none: not under migrations yet (`mxbot db upgrade` brings it to {revision.head})"
    if revision.is_current:
        return f"{revision.current} (the newest)"
    return f"{revision.current} (the newest is {revision.head}: run `mxbot db upgrade`)"
