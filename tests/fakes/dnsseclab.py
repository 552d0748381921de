"""A DNSSEC lab on loopback: NSD serving zones signed here, Unbound validating them from a trust anchor.

Zones (all under the lab's own signed `test.`, whose key is Unbound's trust anchor):

- `good.test`: signed, DS in the parent: validates.
- `outsourced.test`: signed, DS in the parent, but its MX is in `plain.test`.
- `victim.test`: signed, DS in the parent, but its MX is in `bogus.test`.
- `plain.test`: unsigned, no DS (an insecure delegation).
- `island.test`: signed, but no DS in the parent (validators treat it as unsigned).
- `bogus.test`: signed, but the parent's DS matches none of its keys (bogus: SERVFAIL).
- `expired.test`: signed, DS in the parent, signatures expired (bogus: SERVFAIL).
- `legacy.test`: validates, but with yesterday's cryptography: algorithm 5 (RSASHA1), a 1024-bit
  RSA key, only a SHA-1 DS in the parent, and an NSEC3PARAM with 10 iterations and a salt.

Signing uses dnspython (`dns.dnssec.sign_zone`); NSD serves the signed files as they are.
"""

from __future__ import annotations

import datetime
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import dns.dnssec
import dns.dnssectypes
import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.zone
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ALGORITHM = dns.dnssectypes.Algorithm.ECDSAP256SHA256
PARENT = "test."
SIGNED = (
    "good.test.",
    "outsourced.test.",
    "victim.test.",
    "island.test.",
    "bogus.test.",
    "expired.test.",
    "legacy.test.",
)
LEGACY = "legacy.test."
CHILDREN = (*SIGNED, "plain.test.")

_SOA = "@ 300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300\n@ 300 IN NS ns.test.\n"
_CHILD_DATA = {
    "good.test.": "@ 300 IN MX 10 mail\nmail 300 IN A 192.0.2.25\n",
    "outsourced.test.": "@ 300 IN MX 10 mx.plain.test.\n",
    "victim.test.": "@ 300 IN MX 10 mail.bogus.test.\n",
    "plain.test.": "@ 300 IN MX 10 mx\nmx 300 IN A 192.0.2.26\n",
    "island.test.": "@ 300 IN MX 10 mail\nmail 300 IN A 192.0.2.27\n",
    "bogus.test.": "@ 300 IN MX 10 mail\nmail 300 IN A 192.0.2.28\n",
    "expired.test.": "@ 300 IN MX 10 mail\nmail 300 IN A 192.0.2.29\n",
    # NSEC3PARAM only (dnspython signs with NSEC): positive answers, all this lab asks, still validate
    LEGACY: "@ 300 IN MX 10 mail\nmail 300 IN A 192.0.2.30\n@ 300 IN NSEC3PARAM 1 0 10 AABBCCDD\n",
}


def binaries_present() -> bool:
    return bool(shutil.which("nsd") or Path("/usr/sbin/nsd").exists()) and bool(
        shutil.which("unbound") or Path("/usr/sbin/unbound").exists()
    )


def _binary(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


@dataclass
class _Key:
    private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    dnskey: dns.rdtypes.ANY.DNSKEY.DNSKEY


def _new_key(flags: int = 257) -> _Key:
    private = ec.generate_private_key(ec.SECP256R1())
    return _Key(private, dns.dnssec.make_dnskey(private.public_key(), ALGORITHM, flags=flags))


def _legacy_key() -> _Key:
    """RSASHA1 with a 1024-bit modulus: still validated, no longer recommended."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 -- the weak key is the point
    dnskey = dns.dnssec.make_dnskey(
        private.public_key(), dns.dnssectypes.Algorithm.RSASHA1, flags=257
    )
    return _Key(private, dnskey)


def _free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (for the servers to bind next)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port: int = udp.getsockname()[1]
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


@dataclass
class DnssecLab:
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mxbot-dnssec-")))
    nsd_port: int = 0
    unbound_port: int = 0
    keys: dict[str, _Key] = field(default_factory=dict)
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    # ---- zones ----------------------------------------------------------------------------------
    def _sign(self, origin: str, text: str, *, expired: bool = False) -> str:
        zone = dns.zone.from_text(text, origin=origin, relativize=False)
        now = datetime.datetime.now(datetime.UTC)
        if expired:
            inception, expiration = (
                now - datetime.timedelta(days=30),
                now - datetime.timedelta(days=2),
            )
        else:
            inception, expiration = (
                now - datetime.timedelta(hours=1),
                now + datetime.timedelta(days=30),
            )
        key = self.keys[origin]
        dns.dnssec.sign_zone(
            zone,
            keys=[(key.private, key.dnskey)],
            inception=inception,
            expiration=expiration,
        )
        return zone.to_text(relativize=False)

    def _parent_text(self) -> str:
        lines = [_SOA, "ns 300 IN A 127.0.0.1\n"]
        for child in CHILDREN:
            label = child.removesuffix(".test.")
            lines.append(f"{label} 300 IN NS ns.test.\n")
            if child in ("island.test.", "plain.test."):
                continue  # no chain of trust
            dnskey = (_new_key() if child == "bogus.test." else self.keys[child]).dnskey
            # the default policy refuses to create SHA-1 DS records: the legacy zone needs one
            digest, policy = (
                ("SHA1", dns.dnssec.allow_all_policy) if child == LEGACY else ("SHA256", None)
            )
            ds = dns.dnssec.make_ds(dns.name.from_text(child), dnskey, digest, policy=policy)
            lines.append(f"{label} 300 IN DS {ds.to_text()}\n")
        return "".join(lines)

    def write_zones(self) -> None:
        for origin in (PARENT, *SIGNED):
            self.keys[origin] = _legacy_key() if origin == LEGACY else _new_key()
        files = {PARENT: self._sign(PARENT, self._parent_text())}
        for child in CHILDREN:
            text = _SOA + _CHILD_DATA[child]
            if child == "plain.test.":
                files[child] = dns.zone.from_text(text, origin=child).to_text(relativize=False)
            else:
                files[child] = self._sign(child, text, expired=child == "expired.test.")
        for origin, text in files.items():
            (self.workdir / f"{origin}zone").write_text(text)

    def trust_anchor(self) -> str:
        return f"{PARENT} 300 IN DNSKEY {self.keys[PARENT].dnskey.to_text()}"

    # ---- servers --------------------------------------------------------------------------------
    def _nsd_conf(self) -> Path:
        d = self.workdir
        zones = "".join(
            f'zone:\n  name: "{origin}"\n  zonefile: "{d}/{origin}zone"\n'
            for origin in (PARENT, *CHILDREN)
        )
        conf = d / "nsd.conf"
        conf.write_text(
            f'server:\n  ip-address: 127.0.0.1\n  port: {self.nsd_port}\n  username: ""\n'
            f'  chroot: ""\n  zonesdir: "{d}"\n  database: ""\n  zonelistfile: "{d}/zone.list"\n'
            f'  pidfile: "{d}/nsd.pid"\n  xfrdfile: "{d}/xfrd.state"\n  xfrdir: "{d}"\n'
            f'  logfile: "{d}/nsd.log"\n  server-count: 1\n  verbosity: 1\n  do-ip6: no\n'
            f"remote-control:\n  control-enable: no\n{zones}"
        )
        return conf

    def _unbound_conf(self) -> Path:
        d = self.workdir
        stubs = "".join(
            f'stub-zone:\n  name: "{origin}"\n  stub-addr: 127.0.0.1@{self.nsd_port}\n'
            for origin in (PARENT, *CHILDREN)
        )
        conf = d / "unbound.conf"
        conf.write_text(
            "server:\n"
            f"  interface: 127.0.0.1\n  port: {self.unbound_port}\n  do-ip6: no\n"
            f'  username: ""\n  chroot: ""\n  directory: "{d}"\n  pidfile: "{d}/unbound.pid"\n'
            f'  use-syslog: no\n  logfile: "{d}/unbound.log"\n  verbosity: 1\n  num-threads: 1\n'
            "  do-not-query-localhost: no\n  access-control: 127.0.0.0/8 allow\n"
            '  module-config: "validator iterator"\n  val-permissive-mode: no\n'
            f'  trust-anchor: "{self.trust_anchor()}"\n'
            '  local-zone: "test." nodefault\n  qname-minimisation: no\n'
            "  harden-dnssec-stripped: yes\n  val-log-level: 2\n"
            f"remote-control:\n  control-enable: no\n{stubs}"
        )
        return conf

    def start(self) -> DnssecLab:
        self.write_zones()
        self.nsd_port = _free_port()
        nsd_conf = self._nsd_conf()
        self._spawn([_binary("nsd"), "-d", "-c", str(nsd_conf)], "nsd")
        self._wait(self.nsd_port, "test.", "nsd")
        self.unbound_port = _free_port()
        self._spawn([_binary("unbound"), "-d", "-c", str(self._unbound_conf())], "unbound")
        self._wait(self.unbound_port, "good.test.", "unbound")
        return self

    def _spawn(self, argv: list[str], name: str) -> None:
        with (self.workdir / f"{name}.stderr").open("wb") as log:  # the child keeps its own copy
            proc = subprocess.Popen(  # noqa: S603 -- argv is built here from fixed binaries
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self._procs.append(proc)

    def _wait(self, port: int, name: str, what: str) -> None:
        """Bounded readiness loop: the server answers an SOA query for `name`."""
        deadline = time.monotonic() + 15
        query = dns.message.make_query(name, dns.rdatatype.SOA)
        while time.monotonic() < deadline:
            if self._procs[-1].poll() is not None:
                break
            try:
                response = dns.query.udp(query, "127.0.0.1", port=port, timeout=0.3)
            except (OSError, dns.exception.Timeout):
                time.sleep(0.05)
                continue
            if response.answer:
                return
            time.sleep(0.05)
        self.stop()
        logs = "\n".join(
            p.read_text(errors="replace")[-2000:] for p in self.workdir.glob("*.stderr")
        )
        raise RuntimeError(f"{what} did not become ready on port {port}:\n{logs}")

    def stop(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self._procs.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)
