"""`mxbot message FILE|-`: why did this message bounce, fail authentication or land in spam?

Reads a raw message (.eml), its headers, a DSN or a plain-text bounce from a file or standard
input, and prints the diagnosis. Exit status: 0 when nothing failed or errored, 1 when something
did, 2 when the input is not mail (or cannot be read).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from bot.cli.check import columns
from bot.cli.errors import EXIT_OK, EXIT_PROBLEM, UsageError
from checks.message.diagnose import diagnose
from checks.message.parse import MAX_BYTES, MessageSyntaxError
from checks.model import Status
from checks.net.services import build_services
from checks.settings import Settings


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument(
        "source",
        metavar="FILE|-",
        help="a message (.eml), its headers, or a bounce; - reads standard input",
    )
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the diagnosis as JSON")
    out.add_argument(
        "--blocks", action="store_true", help="print the Slack Block Kit message as JSON"
    )
    parser.add_argument(
        "--no-live", action="store_true", help="do not run live checks on what a bounce names"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show every part in full, evidence and all"
    )
    parser.set_defaults(handler=run)


def read_source(source: str) -> bytes:
    """The bytes to diagnose (at most one byte past the limit, so the limit can be reported)."""
    if source == "-":
        return sys.stdin.buffer.read(MAX_BYTES + 1)
    path = Path(source)
    try:
        with path.open("rb") as f:
            return f.read(MAX_BYTES + 1)
    except IsADirectoryError:
        raise UsageError(f"{source} is a directory; give a message file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror or exc}") from None


async def run(args: argparse.Namespace, settings: Settings) -> int:
    data = read_source(args.source)
    try:
        report = await diagnose(
            data, settings, services=build_services(settings), run_live=not args.no_live
        )
    except MessageSyntaxError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        from bot.render import message_json

        print(json.dumps(message_json.render(report), indent=2, ensure_ascii=False))
    elif args.blocks:
        from bot.render import message_blocks

        message: Any = message_blocks.render(report)
        print(json.dumps(message, indent=2, ensure_ascii=False))
    else:
        from bot.render import message_text

        colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        width = columns(sys.stdout)
        print(message_text.render(report, colour=colour, width=width, verbose=args.verbose), end="")
    bad = report.status in (Status.FAIL, Status.ERROR)
    return EXIT_PROBLEM if bad else EXIT_OK
