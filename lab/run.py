"""Serve the lab's broken domains on loopback and run `mxbot check` on each (or on those named).

python -m lab.run [--json] [domain ...]       # prints each report
python -m lab.run --serve                     # just serve, and print the resolver address
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from lab.zones import domains, load
from tests.fakes.dnsserver import DnsTestServer


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("domains", nargs="*")
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--blocks", action="store_true")
    parser.add_argument(
        "--mail", action="store_true", help="also start SMTP servers on 127.0.0.2-7:25"
    )
    args = parser.parse_args()
    server = DnsTestServer().start()
    load(server)
    # The lab's mail hosts have documentation addresses (192.0.2.0/24…): accepted as a lab's, so
    # each domain shows its own breakage; MXBOT_CONNECT_NETWORKS still keeps connections on loopback.
    flags = ["--timeout", "1", "--allow-private"]
    if args.mail:
        from lab import mail
        from tests.fakes.mailservers.pki import make_pki

        pki, _tmp = make_pki()
        mail.start(pki)
        for name, rdtype, value in mail.zone_lines():
            server.add(name, rdtype, value)
        flags += ["--ca-file", pki.ca_file]
    try:
        if args.serve:
            print(f"resolver: {server.address}", flush=True)
            while True:
                time.sleep(3600)
        names = args.domains or [*domains(), "servfail.lab", "timeout.lab"]
        env = {**os.environ, "MXBOT_CONNECT_NETWORKS": "127.0.0.0/8"}
        for name in names:
            extra = ["--json"] if args.json else ["--blocks"] if args.blocks else []
            cmd = [
                sys.executable,
                "-m",
                "bot.cli.main",
                "check",
                name,
                "--resolver",
                server.address,
                *flags,
                *extra,
            ]
            print(f"$ mxbot check {name}", flush=True)
            subprocess.run(cmd, check=False, env=env)  # noqa: S603 -- our own CLI
            print(flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
