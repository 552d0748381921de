"""`mxbot demo [DOMAIN...] [--mail] [--serve]`: try mxbot offline, on the lab's broken domains.

The demo starts its own DNS server on 127.0.0.1 and 127.0.1.1 (the lab's two name servers, on one
free port) serving the lab (`bot.lab.zones`)
and, with `--mail`, the lab's SMTP servers on 127.0.0.2-7 port 25 (root only). It runs the engine
on every lab domain with that server as the only resolver, private addresses allowed and
connections pinned to 127.0.0.0/8, and prints one line per domain: its verdict and why. With
DOMAIN it prints that domain's full report instead; with `--serve` it only serves, and says how to
point `mxbot check` at the lab.

Exit status: 0 when every domain showed exactly what it was built to show (with DOMAIN: as
`mxbot check`, 0 when nothing failed), 1 otherwise, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from bot.cli.check import Progress
from bot.cli.errors import EXIT_OK, EXIT_PROBLEM, UsageError
from bot.lab import mail, zones
from bot.lab.dnsserver import DnsServer
from bot.lab.pki import LabCa
from bot.lab.zones import LabDomain
from bot.render import table, text
from checks import registry
from checks.context import Options
from checks.engine import make_context, run_report
from checks.model import Report, Status
from checks.net.services import build_services
from checks.settings import Nameserver, Settings
from checks.target import normalise

LAB_NETWORK = ipaddress.ip_network("127.0.0.0/8")  # the only place the demo connects to
LAB_TIMEOUT = 1.0  # seconds per DNS query or network step: the lab answers in milliseconds
CONCURRENCY = 8  # reports at once: more only queue at the one-threaded DNS server


def configure(parser: argparse.ArgumentParser, command: str) -> None:
    """The `demo` arguments (the shared engine flags are already on `parser`)."""
    parser.description = (
        "Serve the lab's deliberately broken domains on loopback and check them all, offline: "
        "one line per domain, or one domain's full report."
    )
    parser.add_argument(
        "domains", nargs="*", metavar="DOMAIN", help="a lab domain: print its full report"
    )
    parser.add_argument(
        "--mail",
        action="store_true",
        help="also run the SMTP servers on 127.0.0.2-7:25 and their domains (needs root)",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="only serve the lab until interrupted, and print how to query it",
    )
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.resolver:
        raise UsageError("the demo answers from its own DNS server; --resolver does not apply")
    lab = zones.lab()
    chosen = _chosen(args.domains, lab)
    if not args.mail and (needing := [d.name for d in chosen if d.needs_mail]):
        raise UsageError(f"{', '.join(needing)}: served by the lab's SMTP servers; add --mail")
    with tempfile.TemporaryDirectory(prefix="mxbot-lab-") as tmp, _dns(lab) as server:
        ca = LabCa(Path(tmp)) if args.mail else None
        lab_settings = replace(
            settings,
            resolvers=(server,),
            authoritative_port=server.port,  # the lab's name servers listen there, not on 53
            timeout=args.timeout or LAB_TIMEOUT,
            allow_private=True,
            connect_networks=(LAB_NETWORK,),
            ca_file=ca.ca_file if ca else None,
        )
        async with _mail(ca) as mail_problem:
            if mail_problem and (chosen or args.serve):
                raise UsageError(f"--mail: {mail_problem}")
            if args.serve:
                return await _serve(server, lab_settings)
            if chosen:
                return await _full_reports(chosen, lab_settings)
            return await _table(lab, lab_settings, mail_on=args.mail, mail_problem=mail_problem)


def _chosen(names: Sequence[str], lab: Sequence[LabDomain]) -> list[LabDomain]:
    known = {d.name: d for d in lab}
    chosen = []
    for name in names:
        key = normalise(name).name
        if key not in known:
            raise UsageError(f"{name!r} is not a lab domain; `mxbot demo` lists them all")
        chosen.append(known[key])
    return chosen


@contextlib.contextmanager
def _dns(lab: Sequence[LabDomain]) -> Iterator[Nameserver]:
    first, *more = zones.NAME_SERVERS.values()
    server = DnsServer(first, also=more).start()
    try:
        zones.load(server, lab)
        yield Nameserver(server.host, server.port)
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def _mail(ca: LabCa | None) -> AsyncIterator[str]:
    """Run the SMTP servers when a CA was made for them; yields why they could not start, or ''."""
    if ca is None:
        yield ""
        return
    try:
        async with mail.serving(ca):
            yield ""
    except mail.MailUnavailableError as exc:
        yield str(exc)


async def _reports(domains: Sequence[LabDomain], settings: Settings) -> list[Report]:
    services = build_services(settings)
    plan = registry.select(None, is_address=False)
    progress = Progress(len(plan) * len(domains)) if sys.stderr.isatty() else None
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(domain: LabDomain) -> Report:
        async with gate:
            ctx = make_context(
                normalise(domain.name),
                settings,
                options=Options(selectors=domain.selectors),
                services=services,
            )
            return await run_report(plan, ctx, progress.done if progress else None)

    # the names that time out go first, so that their wait overlaps the others' work
    slow = {d.name for d in domains if d.name in zones.SLOW}
    tasks = {
        d.name: asyncio.ensure_future(one(d))
        for d in sorted(domains, key=lambda d: d.name not in slow)
    }
    try:
        return list(await asyncio.gather(*(tasks[d.name] for d in domains)))
    finally:
        if progress:
            progress.clear()


async def _full_reports(chosen: Sequence[LabDomain], settings: Settings) -> int:
    reports = await _reports(chosen, settings)
    colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    print("\n".join(text.render(r, colour=colour) for r in reports), end="")
    bad = any(r.status in (Status.FAIL, Status.ERROR) for r in reports)
    return EXIT_PROBLEM if bad else EXIT_OK


async def _table(
    lab: Sequence[LabDomain], settings: Settings, *, mail_on: bool, mail_problem: str
) -> int:
    run_mail = mail_on and not mail_problem
    domains = [d for d in lab if run_mail or not d.needs_mail]
    resolver = settings.resolvers[0]
    print(
        f"mxbot demo: {len(domains)} lab domains, resolved only by the lab's DNS server on "
        f"{resolver}, connecting only inside {LAB_NETWORK}.\n",
        flush=True,
    )
    started = time.monotonic()
    reports = await _reports(domains, settings)
    seconds = time.monotonic() - started
    sections: dict[str, list[Report]] = {}
    for domain, report in zip(domains, reports, strict=True):
        sections.setdefault(domain.topic, []).append(report)
    tty = sys.stdout.isatty()
    colour = tty and "NO_COLOR" not in os.environ
    width = shutil.get_terminal_size().columns if tty else None
    print(table.render(list(sections.items()), colour=colour, width=width))
    print(_counts(reports, seconds))
    surprises = [s for d, r in zip(domains, reports, strict=True) if (s := _surprise(d, r))]
    if surprises:
        print("Not as designed:", *(f"  {s}" for s in surprises), sep="\n")
    else:
        print("Every domain shows exactly the fault it was built to show; the sound ones pass.")
    skipped = sum(1 for d in lab if d.needs_mail and d not in domains)
    if mail_problem:
        print(f"The {skipped} SMTP domains were skipped: {mail_problem}.")
    elif skipped:
        print(
            f"The {skipped} SMTP domains (smtp-*.lab) were not run: they need the lab's mail "
            f"servers on 127.0.0.2-7 port 25; add --mail, as root."
        )
    print("One domain's full report: mxbot demo DOMAIN")
    return EXIT_PROBLEM if surprises else EXIT_OK


def _counts(reports: Sequence[Report], seconds: float) -> str:
    verdicts = [table.verdict(r) for r in reports]
    parts = [
        f"{verdicts.count(s)} {word}"
        for s, word in (
            (Status.PASS, "pass"),
            (Status.WARN, "warn"),
            (Status.FAIL, "fail"),
            (Status.ERROR, "could not be checked"),
        )
        if s in verdicts
    ]
    return f"{len(reports)} domains in {seconds:.1f} s: {', '.join(parts)}."


def _surprise(domain: LabDomain, report: Report) -> str:
    """'' when the report shows exactly the codes (warn or worse) the domain was built to show."""
    shown = sorted(
        {
            f.code
            for r in report.results
            for f in r.findings
            if f.status.severity >= Status.WARN.severity
        }
    )
    if shown == sorted(set(domain.shows)):
        return ""
    built = ", ".join(domain.shows) or "nothing (sound)"
    return f"{domain.name}: built to show {built}; shows {', '.join(shown) or 'nothing'}"


async def _serve(server: Nameserver, settings: Settings) -> int:
    ca = f" --ca-file {settings.ca_file}" if settings.ca_file else ""
    print(
        f"The lab's DNS server is on {server} (Ctrl-C stops it). Check a lab domain with:\n"
        f"  MXBOT_CONNECT_NETWORKS={LAB_NETWORK} mxbot check good.lab "
        f"--resolver {server} --authoritative-port {server.port} --allow-private{ca}",
        flush=True,
    )
    await asyncio.Event().wait()
    return EXIT_OK
