"""Benchmark: how long `mxbot` takes to start, as a ratio to importing dnspython's async resolver.

Times whole processes, interleaved A B A B so machine drift hits both alike: `mxbot --help`, and
`mxbot check --only mx` on a one-record zone served by the loopback DNS test server (no delay, so
the figure is start-up and imports, not the network), each against
`python -c "import dns.asyncresolver"` in the same run. The aim is a ratio of at most 2: a CLI
call should cost little more than the one library it cannot do without.

Usage: python bench/cli_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.dnsserver import DnsTestServer

ROOT = Path(__file__).resolve().parents[1]
ZONE = "@ 300 IN SOA ns1 host 1 7200 3600 1209600 300\n@ 300 IN MX 10 mx\nmx 300 IN A 192.0.2.25\n"
REFERENCE = [sys.executable, "-c", "import dns.asyncresolver"]


def mxbot(*args: str) -> list[str]:
    """`mxbot ARGS`: the console script installed beside this interpreter (what users run), or
    the same entry point through this interpreter when the package is not installed."""
    script = Path(sys.executable).with_name("mxbot")
    if script.exists():
        return [str(script), *args]
    return [
        sys.executable,
        "-c",
        "import sys; from bot.cli.main import main; sys.exit(main())",
        *args,
    ]


def wall(command: Sequence[str]) -> float:
    started = time.perf_counter()
    # our own interpreter and fixed arguments
    subprocess.run(command, cwd=ROOT, env=os.environ, stdout=subprocess.DEVNULL, check=False)  # noqa: S603
    return time.perf_counter() - started


def paired(command: Sequence[str], runs: int) -> tuple[float, float, float]:
    """Median wall time of `command`, of the reference, and the median of the pairwise ratios."""
    wall(command), wall(REFERENCE)  # warm the page cache and .pyc files
    pairs = [(wall(command), wall(REFERENCE)) for _ in range(runs)]
    a = statistics.median(p[0] for p in pairs)
    b = statistics.median(p[1] for p in pairs)
    return a, b, statistics.median(p[0] / p[1] for p in pairs)


def main(runs: int) -> None:
    server = DnsTestServer().start()
    try:
        server.load_zone(ZONE, "startup.test")
        resolver = f"{server.host}:{server.port}"
        cases = {
            "mxbot --help": mxbot("--help"),
            "mxbot check --only mx": mxbot(
                "check", "--only", "mx", "--resolver", resolver, "startup.test"
            ),
        }
        print(f"reference: {' '.join(REFERENCE[1:])!s} ({runs} interleaved runs each)")
        for label, command in cases.items():
            a, b, ratio = paired(command, runs)
            print(f"{label}: {a * 1000:.0f} ms, reference {b * 1000:.0f} ms, ratio {ratio:.2f}")
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    main(parser.parse_args().runs)
