"""The `mxbot` command: `check` (and `spf`, `serve`, `socket`) over one settings object.

Exit status: 0 when nothing failed or errored, 1 when something did, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from bot.render import jsonout, text
from checks import registry
from checks.context import Options
from checks.engine import make_context, run_report
from checks.model import CheckResult, Report, Status
from checks.net.services import build_services
from checks.settings import Settings, SettingsError, parse_nameserver
from checks.target import Target, TargetError, normalise

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad command-line input; the message is shown to the user as is."""


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
        "-v", "--verbose", action="store_true", help="show every finding and debug logs"
    )
    return shared


def build_parser() -> argparse.ArgumentParser:
    shared = _shared_flags()
    parser = argparse.ArgumentParser(
        prog="mxbot", description="Why is mail to or from a domain failing, and how do I fix it?"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    check = sub.add_parser(
        "check",
        parents=[shared],
        help="run the checks on domains or IP addresses",
        description="Run the checks.",
    )
    check.add_argument(
        "targets", nargs="+", metavar="TARGET", help="domain, e-mail address, URL or IP"
    )
    check.add_argument(
        "--only", metavar="IDS", help=f"comma-separated check ids: {', '.join(registry.all_ids())}"
    )
    out = check.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the report as JSON")
    out.add_argument(
        "--blocks", action="store_true", help="print the Slack Block Kit message as JSON"
    )
    check.add_argument(
        "--selector", action="append", metavar="SEL", help="DKIM selector to check (repeatable)"
    )
    check.add_argument(
        "--ip", metavar="ADDR", help="sending IP to evaluate against the domain's SPF"
    )
    for extension in _extensions():
        extension(sub, shared)
    return parser


def _extensions() -> list[Callable[[Any, argparse.ArgumentParser], None]]:
    """Subcommands that live in their own modules (spf, serve, socket)."""
    from bot import subcommands

    return subcommands.registrations()


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
    }
    if timeout is not None:
        overrides["check_budget"] = max(settings.check_budget, timeout * 4)
        overrides["report_budget"] = max(settings.report_budget, timeout * 6)
    return settings.with_overrides(**overrides)


def _targets(raw: Sequence[str]) -> list[Target]:
    targets = []
    for item in raw:
        try:
            targets.append(normalise(item))
        except TargetError as exc:
            raise UsageError(f"{item!r}: {exc}") from None
    return targets


def _sending_ip(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        target = normalise(raw)
    except TargetError:
        target = None
    if target is None or not target.is_address:
        raise UsageError("--ip takes an IPv4 or IPv6 address")
    return target.name


def _only(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    ids = [part.strip().lower() for part in raw.split(",") if part.strip()]
    unknown = [i for i in ids if i not in registry.all_ids()]
    if unknown:
        raise UsageError(
            f"unknown check {', '.join(unknown)}; known checks: {', '.join(registry.all_ids())}"
        )
    return ids


async def _check(args: argparse.Namespace, settings: Settings) -> int:
    targets = _targets(args.targets)
    only = _only(args.only)
    options = Options(selectors=tuple(args.selector or ()), sending_ip=_sending_ip(args.ip))
    services = build_services(settings)
    plans = [registry.select(only, is_address=t.is_address) for t in targets]
    live = sys.stderr.isatty() and not (args.json or args.blocks)
    progress = Progress(sum(len(p) for p in plans)) if live else None
    try:
        reports = await asyncio.gather(
            *(
                run_report(
                    plan,
                    make_context(t, settings, options=options, services=services),
                    progress.done if progress else None,
                )
                for t, plan in zip(targets, plans, strict=True)
            )
        )
    finally:
        if progress:
            progress.clear()
    _print(reports, args)
    bad = any(r.status in (Status.FAIL, Status.ERROR) for r in reports)
    return EXIT_PROBLEM if bad else EXIT_OK


class Progress:
    """One self-rewriting line on a terminal's stderr while checks run (slow SMTP hosts)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.finished = 0
        self._write(f"checking… 0/{total}")

    def done(self, result: CheckResult) -> None:
        self.finished += 1
        self._write(f"checking… {self.finished}/{self.total} ({result.title}: {result.status})")

    def clear(self) -> None:
        self._write("")

    @staticmethod
    def _write(line: str) -> None:
        sys.stderr.write("\r\x1b[K" + line[:100])
        sys.stderr.flush()


def _print(reports: Sequence[Report], args: argparse.Namespace) -> None:
    if args.json:
        data: Any = [jsonout.render(r) for r in reports]
        print(json.dumps(data[0] if len(data) == 1 else data, indent=2, ensure_ascii=False))
    elif args.blocks:
        from bot.render import blocks

        messages = [blocks.render_report(r) for r in reports]
        print(
            json.dumps(
                messages[0] if len(messages) == 1 else messages, indent=2, ensure_ascii=False
            )
        )
    else:
        colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        print(
            "\n".join(text.render(r, colour=colour, verbose=args.verbose) for r in reports), end=""
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        settings = settings_from(args, os.environ)
        if args.command == "check":
            return asyncio.run(_check(args, settings))
        handler: Callable[[argparse.Namespace, Settings], Any] = args.handler
        return int(asyncio.run(handler(args, settings)))
    except (UsageError, SettingsError, TargetError) as exc:
        print(f"mxbot {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
