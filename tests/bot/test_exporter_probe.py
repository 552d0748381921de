"""`GET /probe` end to end: zones on the DNS test server, an SMTP server with trustme certificates on
loopback, the real engine, and the answer read back with prometheus_client's own parsers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace

import aiohttp
import dns.name
import pytest
import trustme
from cryptography import x509
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)

from bot.exporter.exposition import process_registry
from bot.exporter.http import exporter_app, start
from bot.exporter.probe import Prober
from bot.exporter.series import HELP
from checks.net.probe.prober import SmtpProber
from checks.net.services import Services
from checks.settings import Settings
from tests.exposition import Labels, helps, samples
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.mailservers.loopback import Loopback
from tests.fakes.mailservers.pki import Pki, make_pki
from tests.fakes.mailservers.smtp import SmtpScript

SOA = "@ 300 IN SOA ns1 host 1 7200 3600 1209600 300\n"
# The MX has a second address, from the documentation range, for the blocklists to be asked about
# (loopback addresses never are); the probe is not allowed to connect to it and says so (info).
SOUND = SOA + (
    "@ MX 10 mx\n"
    "mx A 127.0.0.1\n"
    "mx A 192.0.2.25\n"
    '@ TXT "v=spf1 mx include:_spf.example.test -all"\n'
    '_spf TXT "v=spf1 ip4:192.0.2.0/24 -all"\n'
    '_dmarc TXT "v=DMARC1; p=reject; rua=mailto:d@example.test"\n'
)
BROKEN = SOA + (
    "@ MX 10 mx\n"
    "mx A 127.0.0.1\n"
    "mx A 192.0.2.25\n"
    '@ TXT "v=spf1 mx a a a a a a a a a a -all"\n'  # 11 lookups
    '_dmarc TXT "v=DMARC1; p=reject"\n'
)
NO_LABELS: Labels = frozenset()


def one(name: str) -> Labels:
    return frozenset({("check", name)})


def not_after(leaf: trustme.LeafCert) -> float:
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    return cert.not_valid_after_utc.timestamp()


@dataclass
class Exporter:
    url: str
    http: aiohttp.ClientSession
    smtp: Loopback

    async def get(self, path: str, **headers: str) -> tuple[int, str, str]:
        async with self.http.get(f"{self.url}{path}", headers=headers) as response:
            return response.status, response.headers["Content-Type"], await response.text()

    async def probe(self, query: str, **headers: str) -> dict[str, dict[Labels, float]]:
        status, _, text = await self.get(f"/probe?{query}", **headers)
        assert status == 200, text
        return samples(text)


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    made, tmp = make_pki()
    yield made
    tmp.cleanup()


@contextlib.asynccontextmanager
async def exporter_on(
    dns_server: DnsTestServer,
    settings: Settings,
    pki: Pki,
    leaf: trustme.LeafCert,
    *,
    cache_seconds: float = 0,
    token: str = "",
) -> AsyncIterator[Exporter]:
    """The standalone exporter's app in this loop; "port 25" is a STARTTLS server showing `leaf`."""
    dns_server.add("bl.test", "SOA", "ns.bl.test. host.bl.test. 1 2 3 4 5")
    dns_server.add("1.0.0.127.in-addr.arpa", "PTR", "mx.example.test.")
    dns_server.add("25.2.0.192.in-addr.arpa", "PTR", "mx.example.test.")
    engine = replace(settings, ca_file=pki.ca_file, dnsbl_zones=("bl.test",))
    async with Loopback(SmtpScript(tls=pki.context(leaf))) as smtp:
        prober = SmtpProber(engine, port=smtp.port, cache_seconds=cache_seconds)
        app = exporter_app(Prober(engine, Services(smtp=prober)), process_registry(), token=token)
        runner, port = await start(app, "127.0.0.1", 0)
        try:
            async with aiohttp.ClientSession() as http:
                yield Exporter(f"http://127.0.0.1:{port}", http, smtp)
        finally:
            await runner.cleanup()


@pytest.fixture
async def exporter(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> AsyncIterator[Exporter]:
    async with exporter_on(dns_server, settings, pki, pki.good) as running:
        yield running


async def test_a_sound_domain_probes_as_success_with_its_measurements(
    exporter: Exporter, dns_server: DnsTestServer, pki: Pki
) -> None:
    dns_server.load_zone(SOUND, "example.test")

    found = await exporter.probe("target=example.test")

    assert found["mxbot_probe_success"] == {NO_LABELS: 1}
    assert 0 < found["mxbot_probe_duration_seconds"][NO_LABELS] < 8
    assert set(found["mxbot_check_status"].values()) == {0}
    assert found["mxbot_check_status"].keys() >= {one("mx"), one("spf"), one("smtp"), one("tls")}
    assert found["mxbot_check_findings"][frozenset({("check", "tls"), ("status", "pass")})] == 1
    assert found["mxbot_tls_cert_not_after_timestamp_seconds"] == {
        frozenset({("host", "mx.example.test")}): not_after(pki.good)
    }
    assert found["mxbot_tls_earliest_cert_expiry"] == {NO_LABELS: not_after(pki.good)}
    assert found["mxbot_dnsbl_listed"] == {frozenset({("zone", "bl.test")}): 0}
    assert found["mxbot_spf_dns_lookups"] == {NO_LABELS: 2}
    assert found["mxbot_mx_hosts"] == {NO_LABELS: 1}


async def test_a_broken_domain_shows_each_fault_in_its_own_series(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    dns_server.load_zone(BROKEN, "example.test")
    dns_server.add("25.2.0.192.bl.test", "A", "127.0.0.2")  # 192.0.2.25 listed

    async with exporter_on(dns_server, settings, pki, pki.expired) as exporter:
        found = await exporter.probe("target=example.test")

    status = found["mxbot_check_status"]
    assert found["mxbot_probe_success"] == {NO_LABELS: 0}
    assert (status[one("spf")], status[one("tls")], status[one("dnsbl")]) == (3, 3, 3)
    assert status[one("mx")] == 0
    assert found["mxbot_check_findings"][frozenset({("check", "tls"), ("status", "fail")})] == 1
    assert found["mxbot_tls_cert_not_after_timestamp_seconds"] == {
        frozenset({("host", "mx.example.test")}): not_after(pki.expired)
    }
    assert found["mxbot_tls_earliest_cert_expiry"][NO_LABELS] < time.time()
    assert found["mxbot_dnsbl_listed"] == {frozenset({("zone", "bl.test")}): 1}
    assert found["mxbot_spf_dns_lookups"] == {NO_LABELS: 11}


async def test_a_domain_that_does_not_exist_fails_with_no_mx_hosts(exporter: Exporter) -> None:
    found = await exporter.probe("target=nowhere.example.test&checks=mx,spf,tls")

    assert found["mxbot_probe_success"] == {NO_LABELS: 0}
    assert found["mxbot_check_status"][one("mx")] == 3
    assert found["mxbot_mx_hosts"] == {NO_LABELS: 0}
    assert "mxbot_spf_dns_lookups" not in found  # not measured is absent, never zero
    assert "mxbot_tls_earliest_cert_expiry" not in found


async def test_names_from_dns_become_labels_only_when_they_are_host_names(
    exporter: Exporter, dns_server: DnsTestServer, pki: Pki
) -> None:
    hostile = 'ev\\"il{x=1}\\010.example.test.'  # a quote, braces and a newline, in DNS
    dns_server.load_zone(SOA + f"@ MX 10 mx\n@ MX 20 {hostile}\nmx A 127.0.0.1\n", "example.test")
    dns_server.add(hostile, "A", "127.0.0.1")

    status, _, text = await exporter.get("/probe?target=example.test&checks=mx,tls")
    found = samples(text)

    assert status == 200
    assert found["mxbot_mx_hosts"] == {NO_LABELS: 2}
    assert found["mxbot_tls_cert_not_after_timestamp_seconds"] == {
        frozenset({("host", "mx.example.test")}): not_after(pki.good)
    }
    assert found["mxbot_tls_earliest_cert_expiry"] == {NO_LABELS: not_after(pki.good)}
    assert "evil" not in text.replace("\\", "").replace('"', "")
    # the hostile host was probed and measured all the same (a name mismatch), only not named
    assert exporter.smtp.accepted == 2
    assert found["mxbot_check_findings"][frozenset({("check", "tls"), ("status", "warn")})] == 1


async def test_the_probe_speaks_openmetrics_when_the_scraper_asks(
    exporter: Exporter, dns_server: DnsTestServer
) -> None:
    dns_server.load_zone(SOUND, "example.test")
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"

    status, content_type, text = await exporter.get(
        "/probe?target=example.test&checks=mx", Accept=accept
    )
    # prometheus_client's OpenMetrics parser has no annotations (its text parser has)
    families = {f.name: f for f in openmetrics_families(text)}  # type: ignore[no-untyped-call]

    assert status == 200
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    assert families["mxbot_mx_hosts"].samples[0].value == 1
    assert families["mxbot_probe_success"].documentation == HELP["mxbot_probe_success"]


async def test_the_help_lines_say_what_each_series_means(
    exporter: Exporter, dns_server: DnsTestServer
) -> None:
    dns_server.load_zone(SOUND, "example.test")

    _, _, text = await exporter.get("/probe?target=example.test")

    described = helps(text)
    assert described["mxbot_check_status"] == (
        "gauge",
        "Status of each check that ran: 0 pass, info or skip; 1 warn; 2 error (could not tell); "
        "3 fail.",
    )
    assert set(described) == set(HELP)


@pytest.mark.parametrize(
    ("query", "headers", "reason"),
    [
        ("", {}, "give one target"),
        ("target=a.test&target=b.test", {}, "give one target: /probe?target=example.com (this"),
        ("target=exa%20mple.test", {}, "target: 'exa mple.test' contains spaces"),
        ("target=" + "a" * 301, {}, "target: longer than 300 characters"),
        (
            "target=example.test&checks=mx,nope",
            {},
            "checks: 'nope' is not a check; the checks are mx, address",
        ),
        (
            "target=example.test",
            {"X-Prometheus-Scrape-Timeout-Seconds": "1"},
            "the scrape timeout (1 s) leaves no time for a report",
        ),
        ("target=example.test", {"X-Prometheus-Scrape-Timeout-Seconds": "soon"}, "not a number"),
    ],
    ids=["none", "two", "spaces", "long", "unknown check", "short timeout", "bad timeout"],
)
async def test_a_request_that_cannot_be_probed_gets_400_with_the_reason(
    exporter: Exporter,
    dns_server: DnsTestServer,
    query: str,
    headers: dict[str, str],
    reason: str,
) -> None:
    status, content_type, text = await exporter.get(f"/probe?{query}", **headers)

    assert status == 400
    assert content_type.startswith("text/plain")
    assert reason in text
    assert not dns_server.queries  # nothing was looked up


async def test_the_scrape_timeout_bounds_the_report(
    exporter: Exporter, dns_server: DnsTestServer
) -> None:
    dns_server.load_zone(SOUND, "example.test")
    dns_server.behaviour.timeout.add(dns.name.from_text("_dmarc.example.test"))
    started = time.monotonic()

    found = await exporter.probe(
        "target=example.test&checks=mx,dmarc", **{"X-Prometheus-Scrape-Timeout-Seconds": "2"}
    )

    assert time.monotonic() - started < 2
    assert found["mxbot_check_status"][one("dmarc")] == 2  # could not tell, in 1.5 s
    assert found["mxbot_probe_duration_seconds"][NO_LABELS] < 1.6


async def test_concurrent_probes_share_one_politeness_lock_and_cache(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    for domain in ("one.test", "two.test"):  # two MX names, one address
        dns_server.load_zone(SOA + "@ MX 10 mx.example.test.\n", domain)
    dns_server.add("mx.example.test", "A", "127.0.0.1")
    dns_server.add("mx2.example.test", "A", "127.0.0.1")
    dns_server.load_zone(SOA + "@ MX 10 mx2.example.test.\n", "three.test")

    async with exporter_on(dns_server, settings, pki, pki.good, cache_seconds=60) as exporter:
        answers = await asyncio.gather(
            *(
                exporter.probe(f"target={d}&checks=smtp,tls")
                for d in ("one.test", "two.test", "three.test", "one.test")
            )
        )

    assert [a["mxbot_check_status"][one("tls")] for a in answers] == [0, 0, 0, 0]
    assert exporter.smtp.accepted == 2  # mx.example.test once (cached), mx2 once
    assert exporter.smtp.peak == 1  # one connection at a time to the one address


async def test_the_exporters_own_metrics_are_the_process_not_the_probes(
    exporter: Exporter, dns_server: DnsTestServer
) -> None:
    dns_server.load_zone(SOUND, "example.test")
    await exporter.probe("target=example.test&checks=mx")

    status, content_type, text = await exporter.get("/metrics")
    health = await exporter.get("/healthz")

    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    assert "process_resident_memory_bytes" in samples(text)
    assert not any(name.startswith("mxbot_") for name in samples(text))
    assert health[0:3:2] == (200, "ok\n")


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer wrong", "Basic czNjcmV0", "Bearer"],
    ids=["none", "wrong", "basic", "empty"],
)
async def test_with_a_token_only_a_scraper_that_brings_it_is_probed(
    dns_server: DnsTestServer, settings: Settings, pki: Pki, authorization: str
) -> None:
    dns_server.load_zone(SOUND, "example.test")
    headers = {"Authorization": authorization} if authorization else {}

    async with exporter_on(dns_server, settings, pki, pki.good, token="s3cret") as exporter:
        refused = await exporter.get("/probe?target=example.test&checks=mx", **headers)
        looked_up = sum(dns_server.queries.values())
        allowed = await exporter.probe(
            "target=example.test&checks=mx", Authorization="Bearer s3cret"
        )

    assert refused[0] == 401
    assert looked_up == 0
    assert allowed["mxbot_mx_hosts"] == {NO_LABELS: 1}
