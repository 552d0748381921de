"""Benchmark: one full report against the loopback DNS test server with a fixed delay on every answer.

Prints the wall time and its ratio to the critical path: the longest chain of lookups that must wait
for one another, times the cost of one delayed lookup (measured in the same run). The zone is built
so that its SPF include chain is that longest chain (CRITICAL_PATH lookups: the domain's TXT, then
each nested include's TXT); every other check's chain is shorter (MX -> A -> PTR is 3, the DKIM probe
2, MTA-STS 2). A ratio near 1.0 means the engine overlaps everything that can overlap.

Usage: python bench/report_latency.py [--delay 0.05] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from checks import registry
from checks.engine import make_context, run_report
from checks.net.dns import DnsClient
from checks.net.services import build_services
from checks.settings import Nameserver, Settings
from checks.target import normalise
from tests.fakes.dnsserver import DnsTestServer

# Addresses are documentation ranges and private connections are refused, so no connection is
# attempted anywhere: this measures the DNS-bound part of a report, which dominates on a healthy MX.
ZONE = """
@ 300 IN SOA ns1 host 1 7200 3600 1209600 300
@ 300 IN MX 10 mx1
@ 300 IN MX 20 mx2
@ 300 IN A 192.0.2.80
mx1 300 IN A 192.0.2.25
mx2 300 IN A 192.0.2.26
mx2 300 IN AAAA 2001:db8::26
@ 300 IN TXT "v=spf1 include:_spf1.bench.test mx -all"
_spf1 300 IN TXT "v=spf1 include:_spf2.bench.test ip4:198.51.100.0/24 -all"
_spf2 300 IN TXT "v=spf1 include:_spf3.bench.test -all"
_spf3 300 IN TXT "v=spf1 include:_spf4.bench.test -all"
_spf4 300 IN TXT "v=spf1 include:_spf5.bench.test -all"
_spf5 300 IN TXT "v=spf1 ip4:203.0.113.0/24 -all"
_dmarc 300 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@bench.test"
_domainkey 300 IN TXT "o=-"
_mta-sts 300 IN TXT "v=STSv1; id=20260101"
_smtp._tls 300 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@bench.test"
default._bimi 300 IN TXT "v=BIMI1; l=https://bench.test/logo.svg"
"""
CRITICAL_PATH = 6  # bench.test TXT, then _spf1 … _spf5 TXT, each waiting for the one before
PTRS = {"25.2.0.192.in-addr.arpa": "mx1.bench.test.", "26.2.0.192.in-addr.arpa": "mx2.bench.test."}


def dkim_record() -> str:
    """A real 2048-bit key, split into 255-character strings as a zone file must."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    text = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
    return " ".join(f'"{text[i : i + 255]}"' for i in range(0, len(text), 255))


def load(server: DnsTestServer) -> None:
    server.clear()
    server.load_zone(ZONE, "bench.test")
    server.add("google._domainkey.bench.test", "TXT", dkim_record())
    for name, target in PTRS.items():
        server.add(name, "PTR", target)


async def one_lookup(settings: Settings) -> float:
    """The cost of one delayed lookup on this machine, now: the unit of the critical path."""
    samples = []
    for i in range(5):
        client = DnsClient(settings)
        started = time.perf_counter()
        await client.query(f"nowhere{i}.bench.test", "A")
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def one_report(settings: Settings) -> tuple[float, int, int]:
    ctx = make_context(normalise("bench.test"), settings, services=build_services(settings))
    started = time.perf_counter()
    report = await run_report(registry.select(None, is_address=False), ctx)
    wall = time.perf_counter() - started
    errors = sum(
        1 for r in report.results if r.id not in ("smtp", "tls", "dane") and r.status == "error"
    )
    return wall, ctx.dns.stats.sent, errors


async def main(delay: float, runs: int) -> None:
    server = DnsTestServer().start()
    try:
        load(server)
        server.behaviour.delay = delay
        settings = Settings(
            resolvers=(Nameserver(server.host, server.port),),
            timeout=max(2.0, delay * 10),
            allow_private=False,
        )
        unit = await one_lookup(settings)
        results = [await one_report(settings) for _ in range(runs)]
    finally:
        server.stop()
    wall = statistics.median(r[0] for r in results)
    chain = CRITICAL_PATH
    sent = results[-1][1]
    critical = chain * unit
    print(f"checks: {len(registry.select(None, is_address=False))}, queries on the wire: {sent}")
    print(f"delay per answer: {delay * 1000:.0f} ms, one lookup measured: {unit * 1000:.1f} ms")
    print(f"critical path: {chain} dependent lookups = {critical * 1000:.0f} ms")
    print(f"report wall time (median of {runs}): {wall * 1000:.0f} ms")
    print(f"ratio wall / critical path: {wall / critical:.2f}")
    if any(r[2] for r in results):
        print(f"note: {max(r[2] for r in results)} DNS-bound checks errored; the figure is suspect")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.delay, args.runs))
