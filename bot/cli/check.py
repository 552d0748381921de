"""`mxbot check TARGET...`: run the checks on domains or IP addresses and print the report.

Exit status: 0 when nothing failed or errored, 1 when something did, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from bot.cli.errors import EXIT_OK, EXIT_PROBLEM, UsageError
from bot.render import jsonout, text
from checks import registry
from checks.context import Options
from checks.engine import make_context, run_report
from checks.model import CheckResult, Report, Status
from checks.net.services import build_services
from checks.settings import Settings
from checks.target import Target, TargetError, normalise

DESCRIPTION = "Run the checks."


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    """The `check` arguments (the shared engine flags are already on `parser`)."""
    parser.add_argument(
        "targets", nargs="+", metavar="TARGET", help="domain, e-mail address, URL or IP"
    )
    parser.add_argument(
        "--only", metavar="IDS", help=f"comma-separated check ids: {', '.join(registry.all_ids())}"
    )
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the report as JSON")
    out.add_argument(
        "--blocks", action="store_true", help="print the Slack Block Kit message as JSON"
    )
    parser.add_argument(
        "--selector", action="append", metavar="SEL", help="DKIM selector to check (repeatable)"
    )
    parser.add_argument(
        "--ip", metavar="ADDR", help="sending IP to evaluate against the domain's SPF"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show every check in full, evidence and all"
    )
    parser.set_defaults(handler=run)


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


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run every target's report at once; print them in order."""
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
        self.width = columns(sys.stderr)
        self._write(f"checking… 0/{total}")

    def done(self, result: CheckResult) -> None:
        self.finished += 1
        self._write(f"checking… {self.finished}/{self.total} ({result.title}: {result.status})")

    def clear(self) -> None:
        self._write("")

    def _write(self, line: str) -> None:
        if len(line) >= self.width:  # one line, or "\r" cannot take it back
            line = line[: max(self.width - 2, 0)] + "…"
        sys.stderr.write("\r\x1b[K" + line)
        sys.stderr.flush()


def columns(stream: TextIO) -> int:
    """The width of the terminal `stream` is (COLUMNS first, as `shutil` reads it; 80 if none,
    or if the terminal says 0, as a pseudo-terminal without a size does)."""
    if "COLUMNS" in os.environ or not stream.isatty():
        return shutil.get_terminal_size().columns
    try:
        width = os.get_terminal_size(stream.fileno()).columns
    except OSError:
        width = shutil.get_terminal_size().columns
    return width or 80


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
        width = columns(sys.stdout)
        rendered = [
            text.render(r, colour=colour, width=width, verbose=args.verbose) for r in reports
        ]
        print("\n".join(rendered), end="")
