"""End to end against real Debian servers on loopback: the smtp, tls and dane checks against a
private Postfix, the mta_sts check against nginx, and the `mxbot check` CLI against both.

Postfix's own log is the witness that the prober is harmless: every session it records ends with a
`disconnect from ... ehlo=2 starttls=1 quit=1 commands=4` summary, never a MAIL, RCPT or DATA.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from checks import dane, mta_sts, smtp
from checks.context import Context
from checks.engine import make_context, run_report
from checks.model import Report, Status
from checks.net.https import HttpsFetcher
from checks.net.probe.prober import SmtpProber
from checks.net.services import Services
from checks.settings import Settings
from checks.target import normalise
from checks.tls import check as tls
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.realservers.nginx import NGINX_HOST, REDIRECT_TO, NginxLab, nginx_missing
from tests.fakes.realservers.postfix import (
    EXPIRED_HOST,
    GREETING_PAUSE,
    MX_NAME,
    NOTLS_HOST,
    POSTFIX_HOST,
    SLOW_HOST,
    PostfixLab,
    postfix_missing,
)
from tests.fakes.realservers.testca import TestCa
from tests.findings import report_codes

ROOT = Path(__file__).resolve().parent.parent
TLSA_NAME = f"_25._tcp.{MX_NAME}."
CLIENT = r"unknown\[127\.0\.0\.1\]"  # smtpd_peername_lookup = no: Postfix asks no resolver
FULL_SESSION = "ehlo=2 starttls=1 quit=1 commands=4"  # EHLO, STARTTLS, EHLO again, QUIT
HARMLESS = {"ehlo", "helo", "starttls", "quit", "commands"}

Codes = set[tuple[str, Status]]


@pytest.fixture(scope="module")
def test_ca() -> Iterator[TestCa]:
    with tempfile.TemporaryDirectory(prefix="mxbot-realca-") as tmp:
        yield TestCa(Path(tmp))


@pytest.fixture(scope="module")
def postfix(test_ca: TestCa) -> Iterator[PostfixLab]:
    why = postfix_missing()
    if why:
        pytest.skip(why)
    try:
        lab = PostfixLab(test_ca, standard_port=True).start()
    except RuntimeError:  # port 25 was taken between the check and the bind: no CLI run then
        lab = PostfixLab(test_ca, standard_port=False).start()
    yield lab
    assert lab.stop() == [], "Postfix processes outlived the stop (killed now)"


@pytest.fixture(scope="module")
def nginx(test_ca: TestCa) -> Iterator[NginxLab]:
    why = nginx_missing()
    if why:
        pytest.skip(why)
    try:
        lab = NginxLab(test_ca, standard_port=True).start()
    except RuntimeError:  # port 443 was taken between the check and the bind
        lab = NginxLab(test_ca, standard_port=False).start()
    yield lab
    assert lab.stop() == [], "nginx processes outlived the stop (killed now)"


def real_settings(settings: Settings, ca: TestCa) -> Settings:
    # Real servers fork a process per session; a generous step timeout keeps a loaded CI machine
    # from turning a slow fork into a finding. Budgets still bound everything.
    return settings.with_overrides(
        ca_file=ca.ca_file, timeout=2.0, check_budget=8.0, report_budget=10.0
    )


def load_mail_zone(
    dns_server: DnsTestServer, address: str, ptr: str = f"{MX_NAME}.", extra: str = ""
) -> None:
    """example.test's MX at `address`, and that address's PTR (a zone of its own)."""
    zone = f"example.test. 300 IN MX 10 {MX_NAME}.\n{MX_NAME}. 300 IN A {address}\n{extra}"
    dns_server.load_zone(zone, "example.test")
    dns_server.add(f"{address.rsplit('.', 1)[1]}.0.0.127.in-addr.arpa.", "PTR", ptr)


def spki_sha256(pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(pem)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


async def probe_postfix(
    dns_server: DnsTestServer,
    settings: Settings,
    ca: TestCa,
    lab: PostfixLab,
    service: str,
    *,
    ptr: str = f"{MX_NAME}.",
    tlsa: str | None = None,
    trust_test_ca: bool = True,
    **changes: float,
) -> tuple[Report, list[str], SmtpProber]:
    """Run smtp, tls and dane on example.test whose MX is one Postfix service; return the report,
    that service's smtpd log lines for the run, and the prober. `changes` override settings."""
    svc = lab.services[service]
    load_mail_zone(dns_server, svc.host, ptr)
    if tlsa is not None:
        dns_server.add(TLSA_NAME, "TLSA", tlsa)
        dns_server.behaviour.authenticated = True  # as a validating resolver would (signed zone)
    s = real_settings(settings, ca).with_overrides(**changes)
    if not trust_test_ca:
        s = replace(s, ca_file=None)  # the system trust store alone
    prober = SmtpProber(s, port=svc.port, cache_seconds=0)
    ctx: Context = make_context(normalise("example.test"), s, services=Services(smtp=prober))
    mark = lab.log_mark()

    report = await run_report([smtp, tls, dane], ctx)

    return report, lab.smtpd_lines(service, mark, disconnects=prober.connections), prober


def assert_harmless(lines: list[str], sessions: int) -> list[str]:
    """Postfix saw exactly `sessions` sessions, each only EHLO/STARTTLS/QUIT; return the
    disconnect summaries."""
    connects = [line for line in lines if re.search(rf"\]: connect from {CLIENT}$", line)]
    ends = [m for line in lines if (m := re.search(rf"disconnect from {CLIENT} (.*)$", line))]
    assert len(connects) == len(ends) == sessions, "\n".join(lines)
    for m in ends:
        verbs = {part.split("=")[0] for part in m.group(1).split()}
        assert verbs <= HARMLESS, f"the prober sent more than EHLO/STARTTLS/QUIT: {m.group(0)}"
    assert not any(re.search(r"\b(mail|rcpt|data|auth|vrfy|lost connection)\b", x) for x in lines)
    return [m.group(1) for m in ends]


# ---- Postfix ---------------------------------------------------------------------------------
async def test_good_postfix_passes_smtp_tls_and_dane_with_one_harmless_session(
    dns_server: DnsTestServer, settings: Settings, test_ca: TestCa, postfix: PostfixLab
) -> None:
    report, lines, prober = await probe_postfix(
        dns_server,
        settings,
        test_ca,
        postfix,
        "good",
        tlsa=f"3 1 1 {spki_sha256(postfix.good_pem)}",
    )

    assert report_codes(report, "smtp") == {("smtp.ok", Status.PASS)}  # the PTR matches the banner
    assert report_codes(report, "tls") == {("tls.ok", Status.PASS)}
    assert report_codes(report, "dane") == {
        ("dane.ok", Status.PASS),
        ("dane.single_record", Status.INFO),
    }
    ok = next(r for r in report.results if r.id == "smtp").findings[0]
    assert re.search(r"negotiates TLS 1\.[23] ", ok.message), ok.message
    assert any("STARTTLS" in e for e in ok.evidence)
    assert prober.connections == 1  # three checks, one probe
    assert assert_harmless(lines, sessions=1) == [FULL_SESSION]
    assert any(
        re.search(rf"TLS connection established from {CLIENT}: TLSv1\.[23] with cipher", x)
        for x in lines
    ), "\n".join(lines)


async def test_a_stale_tlsa_record_fails_dane_with_the_real_certificates_record(
    dns_server: DnsTestServer, settings: Settings, test_ca: TestCa, postfix: PostfixLab
) -> None:
    report, lines, _ = await probe_postfix(
        dns_server, settings, test_ca, postfix, "good", tlsa=f"3 1 1 {'ab' * 32}"
    )

    assert ("dane.mismatch", Status.FAIL) in report_codes(report, "dane")
    mismatch = next(f for r in report.results for f in r.findings if f.code == "dane.mismatch")
    assert mismatch.record is not None
    assert mismatch.record.value == f"3 1 1 {spki_sha256(postfix.good_pem)}"
    assert assert_harmless(lines, sessions=1) == [FULL_SESSION]


async def test_postfix_banner_is_checked_against_the_ptr(
    dns_server: DnsTestServer, settings: Settings, test_ca: TestCa, postfix: PostfixLab
) -> None:
    report, lines, _ = await probe_postfix(
        dns_server, settings, test_ca, postfix, "good", ptr="host-31.isp.test."
    )

    assert report_codes(report, "smtp") == {
        ("smtp.ok", Status.PASS),
        ("smtp.banner_name_mismatch", Status.INFO),
    }
    note = next(f for r in report.results for f in r.findings if f.code.endswith("name_mismatch"))
    assert note.evidence == (f"220 {MX_NAME} ESMTP Postfix",)  # Postfix's real greeting
    assert "host-31.isp.test" in note.message
    assert report_codes(report, "dane") == {("dane.none", Status.INFO)}
    assert assert_harmless(lines, sessions=1) == [FULL_SESSION]


async def test_without_the_test_ca_the_same_postfix_certificate_is_not_trusted(
    dns_server: DnsTestServer, settings: Settings, test_ca: TestCa, postfix: PostfixLab
) -> None:
    report, lines, _ = await probe_postfix(
        dns_server, settings, test_ca, postfix, "good", trust_test_ca=False
    )

    assert report_codes(report, "smtp") == {("smtp.ok", Status.PASS)}
    # Postfix sends the leaf alone; its issuer (the test CA) is in no system store.
    assert report_codes(report, "tls") == {("tls.cert_chain_incomplete", Status.WARN)}
    assert assert_harmless(lines, sessions=1) == [FULL_SESSION]


async def test_postfix_without_tls_lacks_starttls(
    dns_server: DnsTestServer, settings: Settings, test_ca: TestCa, postfix: PostfixLab
) -> None:
    report, lines, _ = await probe_postfix(dns_server, settings, test_ca, postfix, "notls")

    assert postfix.services["notls"].host == NOTLS_HOST
    assert report_codes(report, "smtp") == {("smtp.starttls_missing", Status.FAIL)}
    assert report_codes(report, "tls") == {("tls.not_checked", Status.SKIP)}
    assert assert_harmless(lines, sessions=1) == ["ehlo=1 quit=1 commands=2"]


async def test_postfix_with_an_expired_certificate_fails_tls_only(
    dns_server: DnsTestServer, settings: Settings, test_ca: TestCa, postfix: PostfixLab
) -> None:
    report, lines, _ = await probe_postfix(dns_server, settings, test_ca, postfix, "expired")

    assert postfix.services["expired"].host == EXPIRED_HOST
    assert report_codes(report, "smtp") == {("smtp.ok", Status.PASS)}
    assert report_codes(report, "tls") == {("tls.cert_expired", Status.FAIL)}
    assert assert_harmless(lines, sessions=1) == [FULL_SESSION]


async def test_postfix_pausing_before_its_greeting_passes_with_a_note(
    dns_server: DnsTestServer, settings: Settings, test_ca: TestCa, postfix: PostfixLab
) -> None:
    # smtpd_client_restrictions = sleep 2 (no delayed reject): Postfix's own greeting pause,
    # twice the step timeout here and well within the greeting wait.
    report, lines, _ = await probe_postfix(
        dns_server, settings, test_ca, postfix, "slow", timeout=1.0, greeting_timeout=5.0
    )

    assert postfix.services["slow"].host == SLOW_HOST
    assert report_codes(report, "smtp") == {
        ("smtp.ok", Status.PASS),
        ("smtp.slow_greeting", Status.INFO),
    }
    assert report_codes(report, "tls") == {("tls.ok", Status.PASS)}
    note = next(f for r in report.results for f in r.findings if f.code == "smtp.slow_greeting")
    assert f"greets only after {GREETING_PAUSE}." in note.message
    assert assert_harmless(lines, sessions=1) == [FULL_SESSION]


async def test_postfix_pausing_longer_than_the_greeting_wait_is_reported_as_a_tarpit(
    dns_server: DnsTestServer, settings: Settings, test_ca: TestCa, postfix: PostfixLab
) -> None:
    # What every greeting pause longer than a step looked like before the greeting had a wait of
    # its own; now only a pause past MXBOT_GREETING_TIMEOUT does.
    report, _, _ = await probe_postfix(
        dns_server, settings, test_ca, postfix, "slow", timeout=0.5, greeting_timeout=1.0
    )

    assert report_codes(report, "smtp") == {("smtp.no_banner", Status.WARN)}
    assert report_codes(report, "tls") == {("tls.not_checked", Status.SKIP)}


# ---- nginx -----------------------------------------------------------------------------------
def sts_zone(domain: str) -> str:
    return (
        f"{domain}. 300 IN MX 10 mx.{domain}.\n"
        f"mx.{domain}. 300 IN A {POSTFIX_HOST}\n"
        f"mta-sts.{domain}. 300 IN A {NGINX_HOST}\n"
        f'_mta-sts.{domain}. 300 IN TXT "v=STSv1; id=20240501T000000"\n'
    )


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("example.test", {("mta_sts.ok", Status.PASS)}),
        ("redirect.test", {("mta_sts.policy_redirect", Status.FAIL)}),
        ("mismatch.test", {("mta_sts.mx_mismatch", Status.FAIL)}),
        ("wrongtype.test", {("mta_sts.policy_content_type", Status.WARN)}),
    ],
)
async def test_mta_sts_policies_served_by_nginx(
    dns_server: DnsTestServer,
    settings: Settings,
    test_ca: TestCa,
    nginx: NginxLab,
    domain: str,
    expected: Codes,
) -> None:
    dns_server.load_zone(sts_zone(domain), domain)
    s = real_settings(settings, test_ca)
    ctx = make_context(
        normalise(domain), s, services=Services(https=HttpsFetcher(s, port=nginx.port))
    )
    mark = nginx.access_mark()

    report = await run_report([mta_sts], ctx)

    assert report_codes(report, "mta_sts") == expected
    finding = report.results[0].findings[0]
    if domain == "redirect.test":
        assert REDIRECT_TO in finding.message
    if domain == "mismatch.test":
        assert "mx.mismatch.test" in finding.message
    # nginx saw one request, addressed by SNI and Host to the policy host, answered as logged.
    status = "301" if domain == "redirect.test" else "200"
    content_type = {"wrongtype.test": "text/html", "redirect.test": "text/html"}
    host = f"mta-sts.{domain}"
    assert nginx.requests(mark) == [
        (
            host,
            host,
            "GET /.well-known/mta-sts.txt HTTP/1.1",
            status,
            content_type.get(domain, "text/plain"),
        )
    ]


# ---- the CLI, on the standard ports ----------------------------------------------------------
def test_cli_check_against_postfix_and_nginx_on_standard_ports(
    dns_server: DnsTestServer, test_ca: TestCa, postfix: PostfixLab, nginx: NginxLab
) -> None:
    if "std" not in postfix.services:
        pytest.skip(f"{POSTFIX_HOST}:25 is taken (a system mail server?): no CLI run")
    if not nginx.standard:
        pytest.skip(f"{NGINX_HOST}:443 is taken (a system web server?): no CLI run")
    load_mail_zone(dns_server, POSTFIX_HOST, extra=sts_zone("example.test"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MXBOT_")}
    env["MXBOT_CONNECT_NETWORKS"] = "127.0.0.0/8"  # loopback only, whatever the flags say
    mark = postfix.log_mark()
    started = time.monotonic()

    done = subprocess.run(  # noqa: S603 -- our own CLI, fixed arguments
        [
            sys.executable,
            "-m",
            "bot.cli.main",
            "check",
            "example.test",
            "--only",
            "smtp,tls,mta_sts",
            "--json",
            "--resolver",
            dns_server.address,
            "--allow-private",
            "--ca-file",
            test_ca.ca_file,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )
    elapsed = time.monotonic() - started

    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    found = {c["id"]: {(f["code"], f["status"]) for f in c["findings"]} for c in report["checks"]}
    assert found == {
        "smtp": {("smtp.ok", "pass")},
        "tls": {("tls.ok", "pass")},
        "mta_sts": {("mta_sts.ok", "pass")},
    }
    assert report["status"] == "pass"
    assert elapsed < 30  # bounded; it takes about a second
    lines = postfix.smtpd_lines("std", mark, disconnects=1)
    assert assert_harmless(lines, sessions=1) == [FULL_SESSION]
