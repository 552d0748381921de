"""A delegated zone on loopback, as the `ns` check and `mxbot live` meet one on the internet.

- the parent zone `test.`, served by its own name server ns.test at 127.0.0.10, which refers
  `example.test` to the zone's servers (a referral: the NS set, glue for servers inside the zone);
- the zone `example.test`, served by whichever of 127.0.0.11-14 a test loads it into, each with its
  own copy (a stale serial, a different record, or none: lame);
- the resolver (the DNS test server, also answering as 127.0.1.1): what a recursive resolver would
  find, the parent's data and the zone's as the test says.

Every server listens on the DNS test server's port, `settings.authoritative_port`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import dns.name

from tests.fakes.dnsserver import DnsTestServer

PARENT_ADDRESS = "127.0.0.10"
PARENT = (
    "@ 300 IN SOA ns.test. hostmaster.test. 1 7200 3600 1209600 300\n"
    "@ 300 IN NS ns.test.\n"
    f"ns 300 IN A {PARENT_ADDRESS}\n"
)
# ns1 and ns2 in different /24s (RFC 2182), ns2 being the DNS test server's second address
ADDRESSES = {"ns1.example.test": "127.0.0.11", "ns2.example.test": "127.0.1.1"}
MAIL = '@ 300 IN MX 10 mx\nmx 300 IN A 192.0.2.25\n@ 300 IN TXT "v=spf1 mx -all"\n'


def zone(
    serial: int = 1,
    servers: Mapping[str, str] = ADDRESSES,
    *,
    extra: str = MAIL,
    soa: str = "7200 3600 1209600 300",
) -> str:
    """The text of `example.test`: its SOA, NS set and the servers' addresses, then `extra`."""
    lines = [f"@ 300 IN SOA ns1.example.test. hostmaster.example.test. {serial} {soa}\n"]
    lines += [f"@ 300 IN NS {name}.\n" for name in servers]
    lines += [
        f"{name}. 300 IN {'AAAA' if ':' in address else 'A'} {address}\n"
        for name, address in servers.items()
        if name.endswith(".example.test")
    ]
    return "".join(lines) + extra


@dataclass
class ZoneServers:
    resolver: DnsTestServer
    servers: dict[str, DnsTestServer]  # by address: 127.0.0.10-14

    @property
    def parent(self) -> DnsTestServer:
        return self.servers[PARENT_ADDRESS]

    def delegate(
        self, names: Sequence[str] = tuple(ADDRESSES), glue: Mapping[str, str] | None = None
    ) -> None:
        """The parent's delegation of example.test to `names`, with glue (by default, the
        addresses of the servers inside the zone)."""
        glue = ADDRESSES if glue is None else glue
        text = PARENT + "".join(f"example 300 IN NS {n}.\n" for n in names)
        text += "".join(
            f"{n}. 300 IN A {a}\n" for n, a in glue.items() if n.endswith(".example.test")
        )
        self.parent.load_zone(text, "test")
        self.parent.behaviour.delegations.add(dns.name.from_text("example.test"))
        self.resolver.load_zone(PARENT, "test")

    def serve(self, address: str, text: str) -> None:
        """One name server's copy of example.test, replacing the one it had (127.0.1.1: the
        resolver's own data)."""
        server = self.resolver if address == "127.0.1.1" else self.servers[address]
        server.remove("example.test")
        server.load_zone(text, "example.test")

    def publish(self, text: str) -> None:
        """example.test as the resolver finds it, and as 127.0.1.1 serves it."""
        self.serve("127.0.1.1", text)

    def sound(self, text: str | None = None) -> None:
        """Delegated to ns1 and ns2, both serving the same copy, found so by the resolver."""
        text = zone() if text is None else text
        self.delegate()
        self.publish(text)
        self.serve("127.0.0.11", text)

    def asked(self, address: str) -> int:
        """How many questions the server at `address` got."""
        return sum(self.servers[address].queries.values())
