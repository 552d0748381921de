"""The signed corpus and its tampered copies, each with the verdicts a postmaster expects, through
the whole diagnosis: DNS on the test server, DKIM by dkimpy, SPF by mxbot's check_host()."""

from __future__ import annotations

import pytest

from checks.message.result import Kind
from checks.model import Status
from tests.checks.message.conftest import Diagnose
from tests.checks.message.corpus import ROOT, SENDER, SIGNED_AT, received, sign, zone
from tests.checks.message.corpus import message as message_from
from tests.checks.message.findings import section_codes, triples
from tests.fakes.dnsserver import DnsTestServer

P, INFO, W, F = Status.PASS, Status.INFO, Status.WARN, Status.FAIL

CASES = [
    (
        "good.eml",
        Kind.MESSAGE,
        None,
        {
            ("dmarc_align", "dmarc_align.pass", P),
            ("dkim_verify", "dkim_verify.pass", P),
            ("spf_verify", "spf_verify.pass", P),
            ("bulk", "bulk.authenticated", P),
            ("bulk", "bulk.fcrdns", P),
            ("bulk", "bulk.tls", P),
            ("authres", "authres.dmarc", P),
            ("hops", "hops.summary", P),
        },
    ),
    (
        "tampered-body.eml",
        Kind.MESSAGE,
        "dkim_verify.body_hash_mismatch",
        {
            ("dkim_verify", "dkim_verify.body_hash_mismatch", F),
            ("dmarc_align", "dmarc_align.pass", P),
        },
    ),
    (
        "tampered-header.eml",
        Kind.MESSAGE,
        "dkim_verify.signature_mismatch",
        {("dkim_verify", "dkim_verify.signature_mismatch", F)},
    ),
    (
        "key-revoked.eml",
        Kind.MESSAGE,
        "dkim_verify.key_revoked",
        {("dkim_verify", "dkim_verify.key_revoked", F)},
    ),
    (
        "key-missing.eml",
        Kind.MESSAGE,
        "dkim_verify.key_missing",
        {("dkim_verify", "dkim_verify.key_missing", F)},
    ),
    (
        "weak-key.eml",
        Kind.MESSAGE,
        "dkim_verify.weak_key",
        {("dkim_verify", "dkim_verify.weak_key", F)},
    ),
    (
        "short-key.eml",
        Kind.MESSAGE,
        "dkim_verify.short_key",
        {("dkim_verify", "dkim_verify.pass", P), ("dkim_verify", "dkim_verify.short_key", W)},
    ),
    ("ed25519.eml", Kind.MESSAGE, None, {("dkim_verify", "dkim_verify.pass", P)}),
    (
        "bulk-one-click.eml",
        Kind.MESSAGE,
        None,
        {
            ("bulk", "bulk.one_click", P),
            ("bulk", "bulk.dmarc", P),
            ("bulk", "bulk.authenticated", P),
        },
    ),
    (
        "bulk-unsigned-unsubscribe.eml",
        Kind.MESSAGE,
        "bulk.one_click_missing",
        {("bulk", "bulk.one_click_missing", F)},
    ),
    (
        "spoofed.eml",
        Kind.MESSAGE,
        "dmarc_align.fail",
        {
            ("dmarc_align", "dmarc_align.fail", F),
            ("spf_verify", "spf_verify.fail", F),
            ("dkim_verify", "dkim_verify.none", W),
            ("bulk", "bulk.unauthenticated", F),
            ("bulk", "bulk.no_tls", F),
            ("authres", "authres.dmarc", F),
        },
    ),
    (
        "arc-forwarded.eml",
        Kind.MESSAGE,
        "dmarc_align.fail",
        {
            ("arc", "arc.pass", P),
            ("dkim_verify", "dkim_verify.body_hash_mismatch", F),
            ("dmarc_align", "dmarc_align.fail", F),
        },
    ),
    (
        "headers-only.txt",
        Kind.HEADERS,
        None,
        {("dkim_verify", "dkim_verify.pass", P), ("dkim_verify", "dkim_verify.headers_only", INFO)},
    ),
]


@pytest.mark.parametrize(("name", "kind", "cause", "expected"), CASES, ids=[c[0] for c in CASES])
async def test_each_corpus_message_gets_its_expected_verdicts(
    diagnose_file: Diagnose, name: str, kind: Kind, cause: str | None, expected: set[object]
) -> None:
    report = await diagnose_file(name)

    assert report.kind is kind
    assert expected <= triples(report), sorted(triples(report))
    assert (report.cause.code if report.cause else None) == cause
    assert report.headline


async def test_an_x_expiry_in_the_past_by_the_injected_clock_is_expired(
    diagnose_file: Diagnose,
) -> None:
    before = await diagnose_file("expired.eml", now=SIGNED_AT + 60)
    after = await diagnose_file("expired.eml", now=SIGNED_AT + 7200)

    assert ("dkim_verify.pass", P) in section_codes(before, "dkim_verify")
    assert ("dkim_verify.expired", F) in section_codes(after, "dkim_verify")


async def test_a_clean_message_says_nothing_is_wrong(diagnose_file: Diagnose) -> None:
    report = await diagnose_file("good.eml")

    assert report.cause is None
    assert report.headline.startswith("Nothing wrong")
    assert report.status in (Status.PASS, Status.INFO)
    assert report.from_domain == "sender.test"


async def test_dmarc_alignment_is_strict_when_the_record_says_adkim_s(
    diagnose_file: Diagnose, dns_server: DnsTestServer
) -> None:
    dns_server.clear()
    dns_server.load_zone(
        zone().replace(
            '"v=DMARC1; p=reject; rua=mailto:dmarc@sender.test"',
            '"v=DMARC1; p=quarantine; adkim=s; aspf=s"',
        ),
        ".",
    )
    relaxed_only = (
        (ROOT / "good.eml")
        .read_bytes()
        .replace(b"Return-Path: <alice@sender.test>", b"Return-Path: <bounces@sender.test>")
    )
    subdomain_from = relaxed_only.replace(b"To: Bob", b"Reply-To: x@sender.test\r\nTo: Bob")

    report = await diagnose_file(subdomain_from)

    # d=sender.test and the From domain sender.test are equal: strict alignment holds
    assert ("dmarc_align.pass", P) in section_codes(report, "dmarc_align")


async def test_a_signature_for_a_parent_domain_aligns_only_in_relaxed_mode(
    diagnose_file: Diagnose, dns_server: DnsTestServer
) -> None:
    strict = zone().replace(
        f'_dmarc.{SENDER}. 300 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@{SENDER}"',
        f'_dmarc.{SENDER}. 300 IN TXT "v=DMARC1; p=reject; adkim=s; aspf=s"',
    )
    dns_server.clear()
    dns_server.load_zone(strict, ".")
    # The From domain is news.sender.test (which has no record: sender.test's applies, sp=p).
    message = sign(message_from("news." + SENDER), "s2048")

    report = await diagnose_file(received(message))

    assert ("dmarc_align.fail", F) in section_codes(report, "dmarc_align")
    assert report.cause is not None
    assert report.cause.code == "dmarc_align.fail"


async def test_dkim_keys_are_looked_up_on_the_configured_resolver(
    diagnose_file: Diagnose, dns_server: DnsTestServer
) -> None:
    await diagnose_file("good.eml")

    assert dns_server.count(f"s2048._domainkey.{SENDER}", "TXT") >= 1


async def test_a_null_return_path_checks_spf_for_the_helo_name(diagnose_file: Diagnose) -> None:
    bounce_like = (
        (ROOT / "good.eml")
        .read_bytes()
        .replace(b"Return-Path: <alice@sender.test>", b"Return-Path: <>")
    )

    report = await diagnose_file(bounce_like)

    (spf,) = [f for s in report.sections if s.id == "spf_verify" for f in s.findings]
    assert (spf.code, spf.status) == ("spf_verify.pass", P)
    assert f"HELO name mail.{SENDER}" in spf.message


async def test_a_body_changed_after_the_arc_seal_breaks_the_chain(diagnose_file: Diagnose) -> None:
    resealed = (ROOT / "arc-forwarded.eml").read_bytes() + b"one more footer\r\n"

    report = await diagnose_file(resealed)

    assert ("arc.fail", W) in section_codes(report, "arc")
