"""The `mxbot` command: one settings object, and a subcommand module imported only when chosen.

`mxbot --help` and `mxbot check` never import Slack or SQLAlchemy: each subcommand lives in its
own module (`bot.cli.check`, `.message`, `.spf`, `.fix`, `.live`, `.dkim`, `.serve`, `.exporter`, `.digest`) with `configure(parser, command)` and
the handler it sets, and only the chosen one is imported.

Exit status: 0 when nothing failed or errored, 1 when something did, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from bot.cli.errors import EXIT_USAGE, UsageError
from checks.settings import (
    Settings,
    SettingsError,
    minimum_check_budget,
    minimum_report_budget,
    parse_nameserver,
)
from checks.target import TargetError

# name -> (one-line help, module under bot.cli); display order.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("run the checks on domains or IP addresses", "check"),
    "message": (
        "why did this message bounce or fail? (a message, its headers, or a bounce)",
        "message",
    ),
    "spf": ("evaluate a domain's SPF policy for a sending IP (RFC 7208 check_host)", "spf"),
    "fix": ("print the DNS records that fix a domain, as one zone-file snippet", "fix"),
    "live": ("is a DNS change live at every name server of the zone and at the resolvers?", "live"),
    "dkim": ("DKIM tools: `dkim keygen` makes a key pair and the record to publish", "dkim"),
    "serve": ("run the Slack app over HTTP (Events API, OAuth, /metrics, /probe)", "serve"),
    "socket": ("run the Slack app over Socket Mode (no public URL needed)", "serve"),
    "exporter": (
        "serve Prometheus probes of any domain (/probe?target=…), no Slack needed",
        "exporter",
    ),
    "digest": ("post the watch-list digests that are due (once, or every minute)", "digest"),
    "db": (
        "bring the database to the newest schema (`db upgrade`), or show it (`db current`)",
        "db",
    ),
    "demo": ("check the lab's broken domains offline, on servers it runs on loopback", "demo"),
}


def _shared_flags() -> argparse.ArgumentParser:
    """Flags every subcommand takes; each also has an environment variable."""
    shared = argparse.ArgumentParser(add_help=False)
    group = shared.add_argument_group("engine settings")
    group.add_argument(
        "--resolver",
        action="append",
        metavar="HOST[:PORT]",
        help="DNS resolver to ask (repeatable; env MXBOT_RESOLVERS, comma-separated; default: /etc/resolv.conf)",
    )
    group.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="per-query/step timeout (env MXBOT_TIMEOUT)",
    )
    group.add_argument(
        "--allow-private",
        action="store_true",
        default=None,
        help="allow connections to private/loopback addresses (env MXBOT_ALLOW_PRIVATE=1)",
    )
    group.add_argument("--ca-file", metavar="PEM", help="extra trusted CAs (env MXBOT_CA_FILE)")
    group.add_argument(
        "--authoritative-port",
        type=int,
        metavar="PORT",
        help="where a zone's name servers are asked directly (default 53; a lab's port; "
        "env MXBOT_AUTHORITATIVE_PORT)",
    )
    shared.add_argument("--debug", action="store_true", help="log debug messages to stderr")
    return shared


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The whole grammar, with the arguments of the command `argv` names (its module imported
    now); the other commands appear by name and help line only."""
    shared = _shared_flags()
    parser = argparse.ArgumentParser(
        prog="mxbot", description="Why is mail to or from a domain failing, and how do I fix it?"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    for name, (summary, module) in COMMANDS.items():
        command = sub.add_parser(name, parents=[shared], help=summary, description=summary)
        if name == chosen:
            _module(module).configure(command, name)
    return parser


class Subcommand(Protocol):
    """A subcommand module: adds its arguments and sets `handler` (async, returns the exit code)."""

    def configure(self, parser: argparse.ArgumentParser, command: str) -> None: ...


def _module(name: str) -> Subcommand:
    """Import one subcommand module (and so its dependencies) on demand."""
    module: Subcommand
    match name:
        case "check":
            from bot.cli import check as module
        case "message":
            from bot.cli import message as module
        case "spf":
            from bot.cli import spf as module
        case "fix":
            from bot.cli import fix as module
        case "live":
            from bot.cli import live as module
        case "dkim":
            from bot.cli import dkim as module
        case "serve":
            from bot.cli import serve as module
        case "exporter":
            from bot.cli import exporter as module
        case "digest":
            from bot.cli import digest as module
        case "db":
            from bot.cli import db as module
        case "demo":
            from bot.cli import demo as module
        case _:
            raise KeyError(name)
    return module


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse a command line: the chosen subcommand's handler is `args.handler`."""
    return build_parser(argv).parse_args(argv)


def settings_from(args: argparse.Namespace, env: os._Environ[str] | dict[str, str]) -> Settings:
    settings = Settings.from_env(env)
    resolvers = tuple(parse_nameserver(r) for r in args.resolver) if args.resolver else None
    timeout = args.timeout
    if timeout is not None and not 0 < timeout <= 600:
        raise SettingsError("--timeout: use a number of seconds between 0 and 600")
    overrides: dict[str, Any] = {
        "resolvers": resolvers,
        "timeout": timeout,
        "allow_private": args.allow_private,
        "ca_file": args.ca_file,
        "authoritative_port": _port(args.authoritative_port),
    }
    if timeout is not None:  # longer steps: the budgets grow to hold them, the greeting wait too
        check = max(settings.check_budget, minimum_check_budget(timeout, settings.greeting_timeout))
        overrides["check_budget"] = check
        overrides["report_budget"] = max(
            settings.report_budget, minimum_report_budget(check, timeout)
        )
    return settings.with_overrides(**overrides)


def _port(port: int | None) -> int | None:
    if port is not None and not 0 < port < 65536:
        raise SettingsError(f"--authoritative-port: {port} is not a port number")
    return port


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        settings = settings_from(args, os.environ)
        handler: Callable[[argparse.Namespace, Settings], Any] = args.handler
        return int(asyncio.run(handler(args, settings)))
    except (UsageError, SettingsError, TargetError) as exc:
        print(f"mxbot {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
