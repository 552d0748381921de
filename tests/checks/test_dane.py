"""The dane check end to end (RFC 7672): TLSA records on the loopback DNS server against the chain a
loopback SMTP server presents, trusted only when DNSSEC-validated."""

from __future__ import annotations

import dns.name

from checks import dane
from checks.model import Status
from checks.settings import Settings
from tests.checks.smtp_setup import TLSA_NAME, context, pki, spki_sha256
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.mailservers.loopback import Loopback
from tests.fakes.mailservers.pki import Pki
from tests.fakes.mailservers.smtp import SmtpScript
from tests.findings import code_set

__all__ = ["pki"]  # the module-scoped test CA fixture


async def dane_findings(
    dns_server: DnsTestServer,
    settings: Settings,
    pki: Pki,
    tlsa: list[str],
    *,
    authenticated: bool = True,
    script: SmtpScript | None = None,
) -> set[tuple[str, Status]]:
    async with Loopback(script or SmtpScript(tls=pki.context(pki.good))) as server:
        ctx = context(dns_server, settings, pki, server.port)
        if tlsa:
            dns_server.add(TLSA_NAME, "TLSA", *tlsa)
        dns_server.behaviour.authenticated = authenticated
        return code_set(await dane.run(ctx))


async def test_dane_matching_record_passes_and_notes_a_single_record(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    found = await dane_findings(dns_server, settings, pki, [f"3 1 1 {spki_sha256(pki)}"])

    assert found == {("dane.ok", Status.PASS), ("dane.single_record", Status.INFO)}


async def test_dane_second_record_means_rollover_ready(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    found = await dane_findings(
        dns_server, settings, pki, [f"3 1 1 {spki_sha256(pki)}", f"3 1 1 {'ab' * 32}"]
    )

    assert found == {("dane.ok", Status.PASS), ("dane.rollover_ready", Status.INFO)}


async def test_dane_stale_record_fails_with_the_record_to_publish(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    async with Loopback(SmtpScript(tls=pki.context(pki.good))) as server:
        ctx = context(dns_server, settings, pki, server.port)
        dns_server.add(TLSA_NAME, "TLSA", f"3 1 1 {'ab' * 32}")
        dns_server.behaviour.authenticated = True

        found = await dane.run(ctx)

    mismatch = next(f for f in found if f.code == "dane.mismatch")
    assert mismatch.status is Status.FAIL
    assert mismatch.record is not None
    assert mismatch.record.zone_line == f"{TLSA_NAME} 3600 IN TLSA 3 1 1 {spki_sha256(pki)}"


async def test_dane_unvalidated_records_are_ignored_by_senders(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    found = await dane_findings(
        dns_server, settings, pki, [f"3 1 1 {spki_sha256(pki)}"], authenticated=False
    )

    assert found == {("dane.not_validated", Status.WARN)}


async def test_dane_pkix_usages_do_not_apply_on_port_25(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    found = await dane_findings(dns_server, settings, pki, [f"1 1 1 {spki_sha256(pki)}"])

    assert found == {("dane.pkix_usage", Status.WARN), ("dane.no_usable_records", Status.WARN)}


async def test_dane_without_starttls_fails(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    script = SmtpScript(ehlo=(b"250-mx.example.test", b"250 8BITMIME"))

    found = await dane_findings(
        dns_server, settings, pki, [f"3 1 1 {spki_sha256(pki)}"], script=script
    )

    assert ("dane.no_tls", Status.FAIL) in found


async def test_dane_unvalidated_address_records_disable_it(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    async with Loopback(SmtpScript(tls=pki.context(pki.good))) as server:
        ctx = context(dns_server, settings, pki, server.port)
        dns_server.add(TLSA_NAME, "TLSA", f"3 1 1 {spki_sha256(pki)}")
        dns_server.behaviour.authenticated_names = {dns.name.from_text(TLSA_NAME)}

        found = code_set(await dane.run(ctx))

    assert ("dane.address_not_validated", Status.WARN) in found
    assert ("dane.mx_not_validated", Status.INFO) in found


async def test_no_tlsa_means_no_dane(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    assert await dane_findings(dns_server, settings, pki, []) == {("dane.none", Status.INFO)}
