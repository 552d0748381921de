"""`mxbot exporter [--port 9786]`: the Prometheus exporter alone, with no Slack token and no database.

It serves `/probe?target=…` (`bot.exporter`), its own `/metrics`, `/healthz` and `/` until SIGINT or
SIGTERM; every probe shares one set of services (one SMTP politeness lock and cache).
"""

from __future__ import annotations

import argparse
import logging
import os

from bot.cli.signals import until_signalled
from bot.exporter.exposition import process_registry
from bot.exporter.http import PROBE_TOKEN_ENV, exporter_app, start
from bot.exporter.probe import Prober
from checks.net.services import build_services
from checks.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_PORT = 9786


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"listen port (default: {DEFAULT_PORT})"
    )
    parser.add_argument("--host", default="0.0.0.0", help="listen address (default: all)")  # noqa: S104 -- a server
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until signalled; prints where it listens (port 0 picks a free one)."""
    prober = Prober(settings, build_services(settings))
    token = os.environ.get(PROBE_TOKEN_ENV, "").strip()
    app = exporter_app(prober, process_registry(), token=token)
    runner, bound = await start(app, args.host, args.port)
    if not token:
        log.warning("GET /probe is open to anyone who reaches this port; set %s", PROBE_TOKEN_ENV)
    print(f"mxbot exporter listening on {args.host}:{bound} (/probe?target=…)", flush=True)
    try:
        await until_signalled()
    finally:
        await runner.cleanup()
    return 0
