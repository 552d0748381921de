"""The public RFC 7208 test suite (openspf.org, 2014.04 + 2019.08), over real DNS on loopback.

Each scenario's zone data is served by the DnsTestServer and check_host() runs through the
production DnsClient, so the suite exercises the wire, CNAME chasing and timeouts, not a fake.

Driver conventions from the suite's own header and its reference driver: a name whose data has
type-SPF records but no TXT entry gets those records served as TXT too ("auto-magic duplication");
"TXT: NONE" suppresses that; "TIMEOUT" makes the name time out for every type it has no data for.
A TXT record with no strings at all cannot be carried by dnspython (it rejects the message), so it
is served as one empty string: the joined text (RFC 7208 3.3) is the same, "".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.name
import pytest
import yaml

from checks.net.dns import DnsClient
from checks.settings import Nameserver, Settings
from checks.spf.evaluate import check_host, identity
from tests.fakes.dnsserver import DnsTestServer

_VENDORED = Path(__file__).parents[1] / "data" / "rfc7208-tests.yml"
_SHARED = (
    Path(__file__).resolve().parents[3] / "shared" / "conformance" / "spf" / "rfc7208-tests.yml"
)
SUITE = _VENDORED if _VENDORED.exists() else _SHARED


def _documents() -> list[dict[str, Any]]:
    with SUITE.open(encoding="utf-8") as handle:
        return [d for d in yaml.safe_load_all(handle) if d]


DOCUMENTS = _documents()
CASES = [
    pytest.param(index, name, id=f"{doc['description']}/{name}")
    for index, doc in enumerate(DOCUMENTS)
    for name in doc["tests"]
]


def test_the_suite_has_all_203_tests() -> None:
    assert len(CASES) == 203


@pytest.fixture(scope="module")
def server(dns_server_session: DnsTestServer) -> Iterator[DnsTestServer]:
    yield dns_server_session
    dns_server_session.clear()


def _txt(value: str | list[str]) -> str:
    strings = [value] if isinstance(value, str) else value
    return " ".join(_quoted(s) for s in strings) if strings else '""'


def _quoted(text: str) -> str:
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        out.append(char if 0x20 <= byte <= 0x7E and char not in '"\\' else f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def _absolute(name: str) -> str:
    return name if name.endswith(".") else f"{name}."


def load(server: DnsTestServer, zonedata: dict[str, list[Any]]) -> None:
    for name, entries in zonedata.items():
        has_txt = any(isinstance(e, dict) and "TXT" in e for e in entries)
        for entry in entries:
            if entry == "TIMEOUT":
                server.behaviour.timeout_missing.add(dns.name.from_text(name))
                continue
            for rdtype, value in entry.items():
                _add(server, name, rdtype, value, has_txt)


def _add(server: DnsTestServer, name: str, rdtype: str, value: Any, has_txt: bool) -> None:
    if value == "NONE":
        return
    match rdtype:
        case "SPF":
            server.add(name, "SPF", _txt(value))
            if not has_txt:
                server.add(name, "TXT", _txt(value))
        case "TXT":
            server.add(name, "TXT", _txt(value))
        case "MX":
            preference, host = value
            server.add(name, "MX", f"{preference} {_absolute(host) if host else '.'}")
        case "PTR" | "CNAME":
            server.add(name, rdtype, _absolute(value))
        case _:
            server.add(name, rdtype, value)


@pytest.mark.parametrize(("index", "name"), CASES)
async def test_rfc7208_suite(server: DnsTestServer, index: int, name: str) -> None:
    doc = DOCUMENTS[index]
    case = doc["tests"][name]
    server.clear()
    load(server, doc["zonedata"])
    settings = Settings(
        resolvers=(Nameserver(server.host, server.port),), timeout=0.5, dns_retries=0
    )
    domain, sender = identity(case["mailfrom"], case["helo"])

    outcome = await check_host(DnsClient(settings), case["host"], domain, sender, case["helo"])

    wanted = case["result"] if isinstance(case["result"], list) else [case["result"]]
    trace = "\n".join(f"{'  ' * e.depth}{e.text}" for e in outcome.trace)
    assert outcome.result.value in wanted, trace
    if "explanation" in case:
        expected = None if case["explanation"] == "DEFAULT" else case["explanation"]
        assert outcome.explanation == expected, trace
