"""Benchmark: memory of reports, alone and many at once (what one bot instance holds under load).

Measures the traced Python heap peak (tracemalloc) of one full report against the loopback DNS
test server, then of N concurrent reports on N different domains, and prints the per-report
figure and the ratio of the concurrent peak to N times the single one (1.0 = no shared overhead,
below 1.0 = sharing, above = per-report cost grows with load).

Usage: python bench/report_memory.py [--reports 20]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report_latency import ZONE, dkim_record
from checks import registry
from checks.engine import make_context, run_report
from checks.net.services import build_services
from checks.settings import Nameserver, Settings
from checks.target import normalise
from tests.fakes.dnsserver import DnsTestServer


def load(server: DnsTestServer, count: int) -> None:
    dkim = dkim_record()
    for i in range(count):
        domain = f"bench{i}.test"
        server.load_zone(ZONE.replace("bench.test", domain), domain)
        server.add(f"google._domainkey.{domain}", "TXT", dkim)


async def peak(settings: Settings, domains: list[str]) -> int:
    services = build_services(settings)
    checks = registry.select(None, is_address=False)
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    await asyncio.gather(
        *(
            run_report(checks, make_context(normalise(d), settings, services=services))
            for d in domains
        )
    )
    result = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return result


async def main(count: int) -> None:
    server = DnsTestServer().start()
    try:
        load(server, count)
        settings = Settings(resolvers=(Nameserver(server.host, server.port),), timeout=2.0)
        await peak(settings, ["bench0.test"])  # warm imports and caches
        single = await peak(settings, ["bench0.test"])
        many = await peak(settings, [f"bench{i}.test" for i in range(count)])
    finally:
        server.stop()
    print(f"one report: peak {single / 1024:.0f} KiB")
    print(
        f"{count} concurrent reports: peak {many / 1024:.0f} KiB ({many / count / 1024:.0f} KiB each)"
    )
    print(f"ratio concurrent / ({count} x one): {many / (count * single):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=20)
    asyncio.run(main(parser.parse_args().reports))
