"""`mxbot fix DOMAIN`: run the checks, then print every record they propose as one zone snippet,
with the MTA-STS policy file to serve and notes on what records cannot fix.

Exit status, as for `mxbot check`: 0 when nothing failed or errored, 1 when something did, 2 on
bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys

from bot.cli.check import Progress
from bot.cli.errors import EXIT_OK, EXIT_PROBLEM, UsageError
from bot.render import fix
from checks import registry
from checks.bundle.assemble import assemble
from checks.engine import make_context, run_report
from checks.model import Report, Status
from checks.net.services import build_services
from checks.settings import Settings
from checks.target import Target, TargetError, normalise


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    """The `fix` arguments (the shared engine flags are already on `parser`)."""
    parser.add_argument("target", metavar="DOMAIN", help="the domain (or an e-mail address)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument(
        "--json", action="store_true", help="print {domain, zone, records, files, notes}"
    )
    out.add_argument(
        "--zone", action="store_true", help="print only the zone snippet (to save to a file)"
    )
    parser.set_defaults(handler=run)


def target_of(raw: str) -> Target:
    try:
        target = normalise(raw)
    except TargetError as exc:
        raise UsageError(f"{raw!r}: {exc}") from None
    if target.is_address:
        raise UsageError(f"{raw!r} is an IP address; fix takes the domain whose records to fix")
    return target


async def run(args: argparse.Namespace, settings: Settings) -> int:
    target = target_of(args.target)
    checks = registry.select(None, is_address=False)
    progress = Progress(len(checks)) if sys.stderr.isatty() and not args.zone else None
    context = make_context(target, settings, services=build_services(settings))
    try:
        report = await run_report(checks, context, progress.done if progress else None)
    finally:
        if progress:
            progress.clear()
    _print(report, args)
    bad = report.status in (Status.FAIL, Status.ERROR)
    return EXIT_PROBLEM if bad else EXIT_OK


def _print(report: Report, args: argparse.Namespace) -> None:
    bundle = assemble(report)
    if args.json:
        print(json.dumps(fix.as_json(bundle), indent=2, ensure_ascii=False))
    elif args.zone:
        print(bundle.zone, end="")
    else:
        print(fix.text(bundle), end="")
