"""A caching resolver on loopback: Debian's Unbound, sending the zones it is told about (stub zones)
to name servers on loopback, and keeping what they said for its TTL, as every resolver does.

It holds an old answer after the zone changed, or the absence of a record that was added since, for
exactly as long as the TTL it was given: what `mxbot live` must measure.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdatatype

from tests.fakes.dnsseclab import binaries_present

__all__ = ["CachingResolver", "binaries_present", "free_port"]

_READY_S = 15.0  # Unbound starts in well under a second; the bound is for a busy machine


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on `host`, for a server to bind next."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port: int = udp.getsockname()[1]
            with socket.socket() as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


class CachingResolver:
    """`stubs`: zone -> ["127.0.0.11@5353", …], the name servers Unbound asks for each zone."""

    def __init__(self, stubs: Mapping[str, Sequence[str]], port: int = 0) -> None:
        self.stubs = stubs
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.workdir = Path(tempfile.mkdtemp(prefix="mxbot-unbound-"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _conf(self) -> Path:
        d = self.workdir
        stubs = "".join(
            f'stub-zone:\n  name: "{zone}"\n'
            + "".join(f"  stub-addr: {address}\n" for address in addresses)
            for zone, addresses in self.stubs.items()
        )
        locals_ = '  local-zone: "test." nodefault\n'  # RFC 6761 names are refused by default
        conf = d / "unbound.conf"
        conf.write_text(
            "server:\n"
            f"  interface: {self.host}\n  port: {self.port}\n  do-ip6: no\n"
            f'  username: ""\n  chroot: ""\n  directory: "{d}"\n  pidfile: "{d}/unbound.pid"\n'
            f'  use-syslog: no\n  logfile: "{d}/unbound.log"\n  verbosity: 1\n  num-threads: 1\n'
            "  do-not-query-localhost: no\n  access-control: 127.0.0.0/8 allow\n"
            '  module-config: "iterator"\n  qname-minimisation: no\n'
            "  prefetch: no\n  serve-expired: no\n"
            f"{locals_}remote-control:\n  control-enable: no\n{stubs}"
        )
        return conf

    def start(self, ready_name: str) -> CachingResolver:
        """Start Unbound, and wait (bounded) until it answers for `ready_name`'s SOA."""
        binary = shutil.which("unbound") or "/usr/sbin/unbound"
        with (self.workdir / "unbound.stderr").open("wb") as log:
            self._proc = subprocess.Popen(  # noqa: S603 -- a fixed binary, our own config
                [binary, "-d", "-c", str(self._conf())],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + _READY_S
        query = dns.message.make_query(ready_name, dns.rdatatype.SOA)
        while time.monotonic() < deadline and self._proc.poll() is None:
            try:
                if dns.query.udp(query, self.host, port=self.port, timeout=0.3).answer:
                    return self
            except (OSError, dns.exception.Timeout):
                pass
            time.sleep(0.05)
        log_text = (self.workdir / "unbound.stderr").read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"unbound did not become ready on {self.address}:\n{log_text}")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        shutil.rmtree(self.workdir, ignore_errors=True)
