"""`mxbot live DOMAIN [TYPE [NAME]] [--json] [--wait]`: is a DNS change live at every name server
of the zone and at the resolvers?

Without TYPE: the mail set (MX, the SPF record, the DMARC record, the MTA-STS record). With
`--wait` it looks again, backing off, until everything agrees or the longest TTL (plus a margin, a
day at most) has passed, with a progress line on a terminal.

Exit status: 0 when live everywhere, 1 when not (or, with `--wait`, when it gave up), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from bot.cli.check import columns
from bot.cli.errors import EXIT_OK, EXIT_PROBLEM, UsageError
from bot.render import live as render
from checks.live import records
from checks.live.result import LiveReport, Wanted
from checks.live.survey import survey
from checks.live.wait import Round, Waited, wait_until_live
from checks.settings import Settings
from checks.target import TargetError, normalise


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    """The `live` arguments (the shared engine flags are already on `parser`)."""
    parser.add_argument("target", metavar="DOMAIN", help="the domain whose records changed")
    parser.add_argument(
        "record",
        nargs="*",
        metavar="TYPE [NAME]",
        help="one record set (e.g. TXT s1._domainkey; NAME relative to DOMAIN, @ for DOMAIN "
        "itself); default: MX, SPF, DMARC and MTA-STS",
    )
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    parser.add_argument(
        "--wait",
        action="store_true",
        help="look again until it is live everywhere, or give up after the longest TTL",
    )
    parser.set_defaults(handler=run)


def wanted_of(domain: str, words: Sequence[str]) -> tuple[Wanted, ...]:
    """The records named on the command line: the mail set, or TYPE [NAME]."""
    if not words:
        return records.mail_set(domain)
    if len(words) > 2:
        raise UsageError("give one record: TYPE [NAME], e.g. TXT s1._domainkey")
    try:
        return (records.one(domain, *words),)
    except records.RecordError as exc:
        raise UsageError(str(exc)) from None


def _domain(raw: str) -> str:
    try:
        target = normalise(raw)
    except TargetError as exc:
        raise UsageError(f"{raw!r}: {exc}") from None
    if target.is_address:
        raise UsageError(f"{raw!r} is an IP address; live takes the domain whose records changed")
    return target.name


async def run(args: argparse.Namespace, settings: Settings) -> int:
    domain = _domain(args.target)
    wanted = wanted_of(domain, args.record)

    async def look() -> LiveReport:
        return await survey(domain, wanted, settings)

    if not args.wait:
        report = await look()
        _print(report, args.json)
        return EXIT_OK if report.live else EXIT_PROBLEM
    line = _ProgressLine() if sys.stderr.isatty() and not args.json else None
    try:
        waited = await wait_until_live(look, on_round=line.show if line else None)
    finally:
        if line is not None:
            line.clear()
    _print(waited.report, args.json, waited)
    return EXIT_OK if waited.live else EXIT_PROBLEM


def _print(report: LiveReport, as_json: bool, waited: Waited | None = None) -> None:
    if as_json:
        data = render.as_json(report)
        if waited is not None:
            data["waited"] = {
                "live": waited.live,
                "looks": waited.looks,
                "elapsed_s": round(waited.elapsed_s, 1),
                "limit_s": round(waited.limit_s, 1),
            }
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    print(render.text(report, width=columns(sys.stdout)), end="")
    if waited is not None:
        print(
            render.ending(
                report,
                live=waited.live,
                looks=waited.looks,
                elapsed_s=waited.elapsed_s,
                limit_s=waited.limit_s,
            )
        )


class _ProgressLine:
    """One self-rewriting line on the terminal's stderr while `--wait` waits."""

    def __init__(self) -> None:
        self.width = columns(sys.stderr)

    def show(self, now: Round) -> None:
        line = render.progress(now.report, next_in_s=now.next_in_s, give_up_in_s=now.give_up_in_s)
        if len(line) >= self.width:
            line = line[: max(self.width - 2, 0)] + "…"
        sys.stderr.write("\r\x1b[K" + line)
        sys.stderr.flush()

    def clear(self) -> None:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()
