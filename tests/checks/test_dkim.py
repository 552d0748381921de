"""DKIM: selector probing (RFC 8020 short cut), key records and key strength, over real DNS."""

from __future__ import annotations

import base64
import contextlib
import functools

import dns.name
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st

from checks.dkim import check as dkim
from checks.dkim.selectors import COMMON_SELECTORS
from checks.model import Finding, Status
from tests.conftest import MakeContext
from tests.fakes.dnsserver import DnsTestServer
from tests.findings import codes

BASE = "@ 300 IN MX 10 mx.example.test.\nmx 300 IN A 192.0.2.10\n"


@functools.cache
def rsa_spki(bits: int) -> str:
    if bits < 1024 or bits > 4096:  # too small to generate, or too slow: any odd modulus loads
        key = rsa.RSAPublicNumbers(65537, (1 << (bits - 1)) | 0xFFFF).public_key()
    else:
        key = rsa.generate_private_key(65537, bits).public_key()
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@functools.cache
def rsa_pkcs1(bits: int) -> str:
    key = rsa.generate_private_key(65537, bits).public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return base64.b64encode(der).decode()


def ed25519_raw() -> str:
    raw = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return base64.b64encode(raw).decode()


def txt(value: str) -> str:
    """A TXT value in zone-file form, split into 255-character strings."""
    return " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))


def key_zone(selector: str, value: str, extra: str = "") -> str:
    return BASE + f"{selector}._domainkey 300 IN TXT {txt(value)}\n" + extra


async def run(context_for: MakeContext, zone: str, *selectors: str) -> list[Finding]:
    ctx = await context_for(zone, "example.test", selectors=selectors)
    return await dkim.run(ctx)


# ---- key strength ------------------------------------------------------------------------------


async def test_rsa_2048_key_passes(context_for: MakeContext) -> None:
    findings = await run(context_for, key_zone("s1", f"v=DKIM1; k=rsa; p={rsa_spki(2048)}"), "s1")

    assert codes(findings) == [("dkim.ok", Status.PASS)]
    assert "RSA 2048-bit" in findings[0].message


async def test_rsa_1024_key_warns(context_for: MakeContext) -> None:
    findings = await run(context_for, key_zone("s1", f"v=DKIM1; p={rsa_spki(1024)}"), "s1")

    assert codes(findings) == [("dkim.key_weak", Status.WARN)]


async def test_rsa_512_key_fails(context_for: MakeContext) -> None:
    findings = await run(context_for, key_zone("s1", f"v=DKIM1; p={rsa_spki(512)}"), "s1")

    assert codes(findings) == [("dkim.key_too_short", Status.FAIL)]


async def test_rsa_key_over_4096_bits_warns(context_for: MakeContext) -> None:
    findings = await run(context_for, key_zone("big", f"p={rsa_spki(8192)}"), "big")

    assert codes(findings) == [("dkim.key_too_long", Status.WARN)]


async def test_ed25519_key_passes(context_for: MakeContext) -> None:
    findings = await run(
        context_for, key_zone("ed", f"v=DKIM1; k=ed25519; p={ed25519_raw()}"), "ed"
    )

    assert codes(findings) == [("dkim.ok", Status.PASS)]
    assert "Ed25519" in findings[0].message


async def test_ed25519_published_as_spki_is_invalid(context_for: MakeContext) -> None:
    spki = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    value = f"v=DKIM1; k=ed25519; p={base64.b64encode(spki).decode()}"

    findings = await run(context_for, key_zone("ed", value), "ed")

    assert codes(findings) == [("dkim.key_invalid", Status.FAIL)]
    assert "raw 32-byte" in findings[0].message


async def test_pkcs1_rsa_key_loads_with_a_note(context_for: MakeContext) -> None:
    findings = await run(context_for, key_zone("s1", f"v=DKIM1; p={rsa_pkcs1(2048)}"), "s1")

    assert codes(findings) == [("dkim.key_pkcs1", Status.INFO), ("dkim.ok", Status.PASS)]


async def test_garbage_key_is_invalid(context_for: MakeContext) -> None:
    garbage = base64.b64encode(b"not a key at all").decode()

    findings = await run(context_for, key_zone("s1", f"v=DKIM1; p={garbage}"), "s1")

    assert codes(findings) == [("dkim.key_invalid", Status.FAIL)]


async def test_unknown_key_type_fails(context_for: MakeContext) -> None:
    findings = await run(context_for, key_zone("s1", f"v=DKIM1; k=dsa; p={rsa_spki(2048)}"), "s1")

    assert codes(findings) == [("dkim.key_type_unknown", Status.FAIL)]


# ---- record tags -------------------------------------------------------------------------------


async def test_revoked_key_is_info_when_probing(context_for: MakeContext) -> None:
    findings = await run(context_for, key_zone("google", "v=DKIM1; p="))

    assert codes(findings) == [("dkim.revoked", Status.INFO)]


async def test_revoked_key_warns_when_asked_for(context_for: MakeContext) -> None:
    findings = await run(context_for, key_zone("old", "v=DKIM1; p="), "old")

    assert codes(findings) == [("dkim.revoked", Status.WARN)]


async def test_testing_flag_warns(context_for: MakeContext) -> None:
    findings = await run(context_for, key_zone("s1", f"v=DKIM1; t=y:s; p={rsa_spki(2048)}"), "s1")

    assert codes(findings) == [("dkim.testing", Status.WARN)]


async def test_strict_flag_alone_passes(context_for: MakeContext) -> None:
    findings = await run(context_for, key_zone("s1", f"v=DKIM1; t=s; p={rsa_spki(2048)}"), "s1")

    assert codes(findings) == [("dkim.ok", Status.PASS)]


async def test_sha1_only_fails(context_for: MakeContext) -> None:
    findings = await run(context_for, key_zone("s1", f"v=DKIM1; h=sha1; p={rsa_spki(2048)}"), "s1")

    assert codes(findings) == [("dkim.sha1_only", Status.FAIL)]


async def test_service_type_without_email_fails(context_for: MakeContext) -> None:
    findings = await run(
        context_for, key_zone("s1", f"v=DKIM1; s=tlsrpt; p={rsa_spki(2048)}"), "s1"
    )

    assert codes(findings) == [("dkim.not_for_email", Status.FAIL)]


async def test_syntax_error_fails_and_shows_the_record(context_for: MakeContext) -> None:
    findings = await run(context_for, key_zone("s1", "k=rsa; v=DKIM1; p=AAAA"), "s1")

    assert codes(findings) == [("dkim.invalid", Status.FAIL)]
    assert findings[0].evidence == ("k=rsa; v=DKIM1; p=AAAA",)


async def test_two_records_at_one_selector_fail(context_for: MakeContext) -> None:
    zone = BASE + (
        f"s1._domainkey 300 IN TXT {txt('v=DKIM1; p=' + rsa_spki(2048))}\n"
        's1._domainkey 300 IN TXT "v=DKIM1; p="\n'
    )

    findings = await run(context_for, zone, "s1")

    assert codes(findings) == [("dkim.multiple", Status.FAIL)]


# ---- selectors ---------------------------------------------------------------------------------


async def test_missing_explicit_selector_fails(context_for: MakeContext) -> None:
    findings = await run(context_for, key_zone("s1", f"p={rsa_spki(2048)}"), "nosuch")

    assert codes(findings) == [("dkim.selector_missing", Status.FAIL)]


async def test_cname_to_provider_is_followed_and_shown(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.add("s1.domainkey.provider.example", "TXT", txt(f"v=DKIM1; p={rsa_spki(2048)}"))
    zone = BASE + "selector1._domainkey 300 IN CNAME s1.domainkey.provider.example.\n"

    findings = await run(context_for, zone)

    assert codes(findings) == [("dkim.ok", Status.PASS)]
    assert (
        "selector1._domainkey.example.test → s1.domainkey.provider.example" in findings[0].message
    )


async def test_dangling_cname_warns_when_probing(context_for: MakeContext) -> None:
    zone = BASE + "selector1._domainkey 300 IN CNAME gone.provider.example.\n"

    findings = await run(context_for, zone)

    assert codes(findings) == [
        ("dkim.cname_dangling", Status.WARN),
        ("dkim.none_found", Status.INFO),
    ]


async def test_probing_finds_common_selectors_concurrently(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    zone = key_zone("google", f"v=DKIM1; p={rsa_spki(2048)}") + (
        f"fm1._domainkey 300 IN TXT {txt('v=DKIM1; k=ed25519; p=' + ed25519_raw())}\n"
    )

    findings = await run(context_for, zone)

    assert codes(findings) == [("dkim.ok", Status.PASS)] * 2
    probed = {n for n, t in dns_server.names_queried() if n.endswith("._domainkey.example.test")}
    assert len(probed) == len(COMMON_SELECTORS) + 1  # and one made-up name: a wildcard?


async def test_finding_no_selector_is_only_information(context_for: MakeContext) -> None:
    zone = BASE + 'other._domainkey 300 IN TXT "v=DKIM1; p="\n'

    findings = await run(context_for, zone)

    assert codes(findings) == [("dkim.none_found", Status.INFO)]
    assert "Amazon SES" in findings[0].message


async def test_nxdomain_at_domainkey_skips_every_probe(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    findings = await run(context_for, BASE)

    assert codes(findings) == [("dkim.no_domainkey", Status.INFO)]
    assert dns_server.count("_domainkey.example.test", "TXT") == 1
    assert dns_server.count("google._domainkey.example.test", "TXT") == 0
    assert sum(1 for n, _ in dns_server.names_queried() if "._domainkey." in n) == 0


async def test_selector_under_an_nxdomain_parent_warns(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    # A server that breaks RFC 8020: NXDOMAIN for the empty non-terminal above a real selector.
    ctx = await context_for(key_zone("s1", f"v=DKIM1; p={rsa_spki(2048)}"), selectors=("s1",))
    dns_server.names.discard(dns.name.from_text("_domainkey.example.test"))

    findings = await dkim.run(ctx)

    assert codes(findings) == [("dkim.ok", Status.PASS), ("dkim.domainkey_nxdomain", Status.WARN)]


async def test_servfail_on_explicit_selector_is_an_error(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.behaviour.servfail.add(dns.name.from_text("s1._domainkey.example.test"))

    findings = await run(context_for, key_zone("s1", "v=DKIM1; p="), "s1")

    assert codes(findings) == [("dkim.lookup_failed", Status.ERROR)]


async def test_timeouts_while_probing_are_an_error_not_none_found(
    context_for: MakeContext, dns_server: DnsTestServer
) -> None:
    dns_server.behaviour.timeout.add(dns.name.from_text("google._domainkey.example.test"))

    findings = await run(context_for, BASE + 'x._domainkey 300 IN TXT "v=DKIM1; p="\n')

    assert codes(findings) == [("dkim.lookup_failed", Status.ERROR)]


# ---- the parser --------------------------------------------------------------------------------


def test_parse_reads_every_tag() -> None:
    key = dkim.parse("v=DKIM1; k=ed25519; h=sha256:sha1; s=email; t=y:s; n=hi; p=AAAA BBBB;")

    assert (key.key_type, key.hashes, key.services, key.flags, key.notes) == (
        "ed25519",
        ("sha256", "sha1"),
        ("email",),
        ("y", "s"),
        "hi",
    )
    assert key.public_key == base64.b64decode("AAAABBBB")
    assert key.testing


@pytest.mark.parametrize(
    "text",
    [
        "",
        "v=DKIM2; p=",
        "k=rsa; v=DKIM1; p=",
        "k=rsa",
        "p=!!!!",
        "p=; p=",
        "p=AAAA; junk",
        "1x=2; p=",
    ],
)
def test_parse_rejects_invalid_records(text: str) -> None:
    with pytest.raises(dkim.DkimSyntaxError):
        dkim.parse(text)


@pytest.mark.parametrize(
    ("text", "tags"),
    [
        ("v=DKIM1;\r\n\tk = rsa ;\r\n p =\tAA BB\t", {"v": "DKIM1", "k": "rsa", "p": "AA BB"}),
        ("p=;; n=a;\xa0", {"p": "", "n": "a"}),  # empty specs, even of other whitespace, skipped
        ("K=x; p=", {"K": "x", "p": ""}),  # RFC 6376 3.2: tag names are case-sensitive
    ],
)
def test_parse_reads_the_rfc_6376_tag_list(text: str, tags: dict[str, str]) -> None:
    assert dict(dkim.parse(text).tags) == tags


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("; v=DKIM1; p=", "v= must be the first tag"),  # even an empty spec may not precede it
        ("v=DKIM1; v=DKIM1; p=", "the tag v= appears twice"),
        ("p=AAAA;  junk ; p=", "'junk' is not a tag=value pair"),
        ("\x0bp=", "is not a tag=value pair"),  # only FWS may surround a tag name
    ],
)
def test_parse_names_the_first_problem(text: str, message: str) -> None:
    with pytest.raises(dkim.DkimSyntaxError, match=message):
        dkim.parse(text)


@given(st.text())
def test_parse_raises_only_its_own_error(text: str) -> None:
    with contextlib.suppress(dkim.DkimSyntaxError):
        dkim.parse(text)


@given(
    st.lists(
        st.sampled_from(
            ["v=DKIM1", "p=", "k=", "h=", "t=", "s=", ";", "=", " ", "A", "==", "rsa", "é", ":"]
        ),
        max_size=30,
    )
)
def test_parse_survives_tag_soup(parts: list[str]) -> None:
    with contextlib.suppress(dkim.DkimSyntaxError):
        dkim.parse("".join(parts))


async def test_a_zone_wide_wildcard_txt_is_not_mistaken_for_dkim_keys(
    context_for: MakeContext,
) -> None:
    ctx = await context_for(
        '@ 300 IN MX 10 mx\nmx 300 IN A 192.0.2.1\n* 300 IN TXT "v=spf1 -all"\n'
    )

    findings = await dkim.run(ctx)

    assert codes(findings) == [
        ("dkim.wildcard", Status.INFO),
        ("dkim.none_found", Status.INFO),
    ]


async def test_a_wildcard_dkim_key_is_noted_and_not_counted_per_selector(
    context_for: MakeContext,
) -> None:
    key = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    record = f"v=DKIM1; k=ed25519; p={base64.b64encode(key).decode()}"
    ctx = await context_for(
        f'@ 300 IN MX 10 mx\nmx 300 IN A 192.0.2.1\n*._domainkey 300 IN TXT "{record}"\n'
    )

    findings = await dkim.run(ctx)

    assert ("dkim.wildcard", Status.INFO) in codes(findings)
    assert not [f for f in findings if f.code == "dkim.ok"]
