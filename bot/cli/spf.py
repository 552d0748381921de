"""`mxbot spf DOMAIN --ip ADDR [--sender ADDR] [--helo NAME] [--json]`: one RFC 7208 evaluation, traced.

Exit status, so that `mxbot spf ... && deliver` means "SPF passes" and a script can tell what to do
otherwise (the exact result is always printed, and is the JSON `result`):

- 0 `pass`: the domain authorises the address;
- 1 `fail`, `softfail`, `neutral`, `none`: the policy was read and does not authorise it (or there
  is none): change the record or the sending path;
- 2 bad usage (as every `mxbot` command);
- 3 `permerror`: the record itself is broken (RFC 7208 2.6.7): fix it; receivers may reject;
- 4 `temperror`: a DNS lookup failed (2.6.6): try again later; nothing is known yet.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any, TextIO

from checks.net.dns import DnsClient
from checks.settings import Settings
from checks.spf.evaluate import Result, SpfResult, check_host, parse_ip
from checks.target import TargetError, normalise

EXIT_PASS, EXIT_NOT_PASS, EXIT_USAGE, EXIT_PERMERROR, EXIT_TEMPERROR = 0, 1, 2, 3, 4
# The one mapping from an SPF result to the exit status (see the module docstring).
EXIT_STATUS: dict[Result, int] = {
    Result.PASS: EXIT_PASS,
    Result.FAIL: EXIT_NOT_PASS,
    Result.SOFTFAIL: EXIT_NOT_PASS,
    Result.NEUTRAL: EXIT_NOT_PASS,
    Result.NONE: EXIT_NOT_PASS,
    Result.PERMERROR: EXIT_PERMERROR,
    Result.TEMPERROR: EXIT_TEMPERROR,
}


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    """The `spf` arguments (the shared engine flags are already on `parser`)."""
    parser.description = (
        "Evaluate the SPF policy of DOMAIN for mail from --ip, and show every step."
    )
    parser.add_argument("domain", metavar="DOMAIN", help="the domain (or an e-mail address)")
    parser.add_argument("--ip", required=True, metavar="ADDR", help="the sending client's IP")
    parser.add_argument(
        "--sender", metavar="ADDR", help="MAIL FROM address (default: postmaster@DOMAIN)"
    )
    parser.add_argument("--helo", metavar="NAME", help="HELO/EHLO name (default: DOMAIN)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.epilog = (
        "exit status: 0 pass; 1 fail, softfail, neutral or none; 2 bad usage; 3 permerror "
        "(the record is broken); 4 temperror (a DNS lookup failed: try again)"
    )
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        domain, sender, helo = _identity(args)
        ip = parse_ip(args.ip)
    except (TargetError, ValueError) as exc:
        print(f"mxbot spf: {exc}", file=sys.stderr)
        return EXIT_USAGE
    result = await check_host(DnsClient(settings), ip, domain, sender, helo)
    if args.json:
        json.dump(as_json(result, sender, helo), out, indent=2)
        out.write("\n")
    else:
        out.write(render(result, sender, helo))
    return EXIT_STATUS[result.result]


def _identity(args: argparse.Namespace) -> tuple[str, str, str]:
    """(domain, sender, helo): DOMAIN may be given as an address; --sender sets MAIL FROM."""
    raw = str(args.domain).strip()
    local = ""
    if "@" in raw:
        local, _, raw = raw.rpartition("@")
    domain = normalise(raw).name
    if normalise(raw).is_address:
        raise ValueError(f"{raw!r} is an IP address; give the domain whose SPF to evaluate")
    sender = str(args.sender).strip().strip("<>") if args.sender else ""
    if sender and "@" not in sender:
        raise ValueError(f"--sender {args.sender!r} is not an e-mail address")
    sender = sender or f"{local or 'postmaster'}@{domain}"
    helo = str(args.helo).strip() if args.helo else domain
    return domain, sender, helo


def as_json(result: SpfResult, sender: str, helo: str) -> dict[str, Any]:
    data = dataclasses.asdict(result)
    data["sender"] = sender
    data["helo"] = helo
    return data


def render(result: SpfResult, sender: str, helo: str) -> str:
    """The result first, then the trace, indented by include/redirect depth."""
    lines = [f"SPF {result.result.value} for {result.ip} at {result.domain}"]
    if result.reason:
        lines.append(f"  why: {result.reason}")
    if result.explanation is not None:
        lines.append(f"  explanation: {result.explanation}")
    lines.append(f"  sender {sender}, helo {helo}")
    lines.append(f"  DNS-querying terms: {result.lookups}, void lookups: {result.void_lookups}")
    lines.append("")
    lines.append("trace:")
    lines += [f"  {'  ' * e.depth}{_marker(e.kind)}{e.text}" for e in result.trace]
    return "\n".join(_printable(line) for line in lines) + "\n"


def _marker(kind: str) -> str:
    return {"lookup": "? ", "term": "- ", "result": "= ", "error": "! "}.get(kind, "")


def _printable(text: str) -> str:
    """DNS data is untrusted: show control characters escaped, never raw on a terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
