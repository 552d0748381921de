"""The rule table: one case per rule (its cause leads, its consequences are claimed), and every code a
rule names is one a check really emits."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from checks.diagnosis.diagnose import diagnose
from checks.diagnosis.rules import RULES, Rule
from checks.model import Cause, CheckResult, Status
from tests.checks.diagnosis_samples import (
    DOMAIN,
    ERROR,
    INFO,
    PASS,
    SKIP,
    WARN,
    address_ok,
    consequences,
    f,
    mx_ok,
    report,
    result,
)

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Case:
    rule: str
    results: tuple[CheckResult, ...]
    cause: tuple[str, str]  # (check, code) of the finding that names it
    claimed: frozenset[tuple[str, Status]] = frozenset()  # (code, new status) of its consequences


def case(
    rule: str,
    cause: tuple[str, str],
    *results: CheckResult,
    claimed: frozenset[tuple[str, Status]] = frozenset(),
) -> Case:
    return Case(rule, results, cause, claimed)


SPF_PERMERROR = {
    "spf_multiple": "spf.multiple",
    "spf_too_many_lookups": "spf.too_many_lookups",
    "spf_syntax": "spf.syntax",
    "spf_loop": "spf.loop",
    "spf_void_lookups": "spf.too_many_void_lookups",
    "spf_include_no_spf": "spf.redirect_no_spf",
    "spf_too_many_mx": "spf.too_many_mx",
}

CASES = [
    case(
        "dnssec_bogus",
        ("dnssec", "dnssec.bogus"),
        result("mx", f("mx.lookup_failed", ERROR)),
        result("spf", f("spf.lookup_failed", ERROR)),
        result("dnsbl", f("dnsbl.lookup_failed", ERROR)),  # another zone: not the domain's
        result("dnssec", f("dnssec.bogus")),
        claimed=frozenset({("mx.lookup_failed", SKIP), ("spf.lookup_failed", SKIP)}),
    ),
    case(
        "nxdomain",
        ("mx", "mx.nxdomain"),
        result("mx", f("mx.nxdomain")),
        result("spf", f("spf.missing")),
        result("dmarc", f("dmarc.missing")),
        result("dnssec", f("dnssec.skipped", SKIP)),
        claimed=frozenset({("spf.missing", SKIP), ("dmarc.missing", SKIP)}),
    ),
    case(
        "ns_all_lame",
        ("ns", "ns.all_lame"),
        result("mx", f("mx.lookup_failed", ERROR)),
        result("dmarc", f("dmarc.lookup_failed", ERROR)),
        result("ns", f("ns.all_lame"), f("ns.lame"), f("ns.no_address")),
        claimed=frozenset(
            {
                ("mx.lookup_failed", SKIP),
                ("dmarc.lookup_failed", SKIP),
                ("ns.lame", SKIP),
                ("ns.no_address", SKIP),
            }
        ),
    ),
    case(
        "ns_not_delegated",
        ("ns", "ns.not_delegated"),
        result("mx", mx_ok(1)),
        result("ns", f("ns.not_delegated"), f("ns.ok", PASS)),
    ),
    case(
        "dns_failing",
        ("mx", "mx.lookup_failed"),
        result("mx", f("mx.lookup_failed", ERROR)),
        result("dmarc", f("dmarc.lookup_failed", ERROR)),
        result("dnsbl", f("dnsbl.query_refused", ERROR)),
        claimed=frozenset({("dmarc.lookup_failed", SKIP)}),
    ),
    case(
        "dnssec_mx_bogus",
        ("dnssec", "dnssec.mx_bogus"),
        result("mx", f("mx.target_lookup_failed", ERROR), mx_ok(1)),
        result("address", f("address.lookup_failed", ERROR)),
        result("dnssec", f("dnssec.validated", PASS), f("dnssec.mx_bogus")),
        claimed=frozenset({("mx.target_lookup_failed", SKIP), ("address.lookup_failed", SKIP)}),
    ),
    case(
        "null_mx",
        ("mx", "mx.null"),
        result("mx", f("mx.null", INFO)),
        result("address", f("address.skipped", SKIP)),
    ),
    case(
        "no_mx_no_address",
        ("mx", "mx.none"),
        result("mx", f("mx.none")),
        result("address", f("address.none")),
        claimed=frozenset({("address.none", INFO)}),
    ),
    case(
        "mx_no_address",
        ("mx", "mx.target_no_address"),
        result("mx", f("mx.target_no_address"), mx_ok(1)),
        result("address", f("address.none")),
        claimed=frozenset({("address.none", INFO)}),
    ),
    case(
        "mx_ip_literal",
        ("mx", "mx.target_ip"),
        result("mx", f("mx.target_ip"), mx_ok(1)),
        result("address", f("address.none")),
        claimed=frozenset({("address.none", INFO)}),
    ),
    case(
        "mx_addresses_failing",
        ("mx", "mx.target_lookup_failed"),
        result("mx", f("mx.target_lookup_failed", ERROR), mx_ok(1)),
        result("address", f("address.lookup_failed", ERROR)),
        claimed=frozenset({("address.lookup_failed", SKIP)}),
    ),
    case(
        "no_public_address",
        ("address", "address.non_global"),
        result("address", f("address.non_global"), f("address.non_global"), address_ok(2)),
        result("ptr", f("ptr.missing"), f("ptr.missing")),
        claimed=frozenset({("ptr.missing", INFO)}),
    ),
    case(
        "port25_refused",
        ("smtp", "smtp.connection_refused"),
        result("smtp", f("smtp.connection_refused"), f("smtp.address_refused", INFO)),
        result("tls", f("tls.not_checked", SKIP)),
        result("dane", f("dane.no_tls")),
        claimed=frozenset({("dane.no_tls", INFO)}),
    ),
    case(
        "greeting_rejected",
        ("smtp", "smtp.greeting_rejected"),
        result("smtp", f("smtp.greeting_rejected"), f("smtp.banner_name_mismatch", INFO)),
        result("dane", f("dane.not_verified", ERROR)),
        claimed=frozenset({("dane.not_verified", INFO)}),
    ),
    case("not_smtp", ("smtp", "smtp.not_smtp"), result("smtp", f("smtp.not_smtp"))),
    case(
        "port25_silent",
        ("smtp", "smtp.connect_timeout"),
        result("smtp", f("smtp.connect_timeout", ERROR), f("smtp.connect_timeout", ERROR)),
        result("dane", f("dane.not_verified", ERROR)),
        claimed=frozenset({("dane.not_verified", SKIP)}),
    ),
    case(
        "mta_sts_mismatch",
        ("mta_sts", "mta_sts.mx_mismatch"),
        result("mx", mx_ok(2)),
        result("mta_sts", f("mta_sts.mx_mismatch")),
    ),
    case("dane_mismatch", ("dane", "dane.mismatch"), result("dane", f("dane.mismatch"))),
    case(
        "no_starttls",
        ("smtp", "smtp.starttls_missing"),
        result("smtp", f("smtp.starttls_missing")),
        result("dane", f("dane.no_tls")),  # its own rule ranks lower: claimed here
        claimed=frozenset({("dane.no_tls", INFO)}),
    ),
    case(
        "dane_no_tls",
        ("dane", "dane.no_tls"),
        result("smtp", f("smtp.ok", PASS)),
        result("dane", f("dane.no_tls")),
    ),
    *(
        case(
            name,
            ("spf", code),
            result("spf", f(code), f("spf.ip_permerror")),
            claimed=frozenset({("spf.ip_permerror", INFO)}),
        )
        for name, code in SPF_PERMERROR.items()
    ),
    case(
        "spf_ip_fail",
        ("spf", "spf.ip_not_authorised"),
        result("spf", f("spf.ip_not_authorised")),
    ),
    case(
        "dnsbl_listed",
        ("dnsbl", "dnsbl.listed"),
        result("dnsbl", f("dnsbl.policy_listed", WARN), f("dnsbl.listed")),
    ),
    case("cert_expired", ("tls", "tls.cert_expired"), result("tls", f("tls.cert_expired"))),
    case(
        "cert_not_yet_valid",
        ("tls", "tls.cert_not_yet_valid"),
        result("tls", f("tls.cert_not_yet_valid")),
    ),
    case(
        "spf_temperror",
        ("spf", "spf.lookup_failed"),
        result("mx", mx_ok(1)),
        result("spf", f("spf.lookup_failed", ERROR), f("spf.ip_temperror", ERROR)),
        claimed=frozenset({("spf.ip_temperror", INFO)}),
    ),
    case("dkim_broken", ("dkim", "dkim.invalid"), result("dkim", f("dkim.invalid"))),
    case(
        "some_mx_unusable",
        ("mx", "mx.target_no_address"),
        result("mx", f("mx.target_no_address"), mx_ok(2)),
    ),
    case(
        "some_address_private",
        ("address", "address.non_global"),
        result("address", f("address.non_global"), address_ok(2)),
        result("ptr", f("ptr.missing")),  # may be the public address's: not claimed
    ),
    case(
        "some_port25_down",
        ("smtp", "smtp.connection_refused"),
        result("smtp", f("smtp.ok", PASS), f("smtp.connection_refused")),
    ),
    case(
        "no_greeting",
        ("smtp", "smtp.no_banner"),
        result("smtp", f("smtp.no_banner", WARN), f("smtp.address_refused", INFO)),
    ),
    case(
        "mx_cname",
        ("mx", "mx.target_cname"),
        result("mx", f("mx.target_cname"), mx_ok(1)),
    ),
    case("null_mx_mixed", ("mx", "mx.null_mixed"), result("mx", f("mx.null_mixed"))),
    case(
        "ns_some_unusable",
        ("ns", "ns.lame"),
        result("ns", f("ns.lame"), f("ns.unresponsive"), f("ns.ok", PASS)),
    ),
    case("spf_missing", ("spf", "spf.missing"), result("spf", f("spf.missing"))),
    case(
        "ns_stale",
        ("ns", "ns.serial_mismatch"),
        result("ns", f("ns.serial_mismatch", WARN), f("ns.single", WARN), f("ns.ok", PASS)),
    ),
    case("no_reverse_dns", ("ptr", "ptr.unconfirmed"), result("ptr", f("ptr.unconfirmed"))),
    case("dmarc_multiple", ("dmarc", "dmarc.multiple"), result("dmarc", f("dmarc.multiple"))),
    case("dmarc_invalid", ("dmarc", "dmarc.invalid"), result("dmarc", f("dmarc.invalid"))),
    case(
        "dmarc_policy_invalid",
        ("dmarc", "dmarc.policy_invalid"),
        result("dmarc", f("dmarc.policy_invalid"), f("dmarc.policy_none", WARN)),
    ),
    case("spf_plus_all", ("spf", "spf.plus_all"), result("spf", f("spf.plus_all"))),
    case("dmarc_missing", ("dmarc", "dmarc.missing"), result("dmarc", f("dmarc.missing"))),
    case(
        "dmarc_reports_refused",
        ("dmarc", "dmarc.ruf_unauthorized"),
        result("dmarc", f("dmarc.ruf_unauthorized")),
    ),
]


def rule_named(name: str) -> Rule:
    return next(r for r in RULES if r.name == name)


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.rule)
def test_each_rule_names_its_cause_and_claims_its_consequences(c: Case) -> None:
    rule = rule_named(c.rule)

    diagnosed = diagnose(report(*c.results))

    assert diagnosed.cause == Cause(*c.cause)
    assert diagnosed.headline.startswith(rule.headline.format(domain=DOMAIN))
    assert consequences(diagnosed) == {(code, status, c.cause[1]) for code, status in c.claimed}


def test_every_rule_has_its_case_and_its_own_name() -> None:
    names = [r.name for r in RULES]

    assert sorted({c.rule for c in CASES}) == sorted(names)
    assert len(set(names)) == len(names)


def test_every_template_needs_only_the_domain() -> None:
    for rule in RULES:
        for template in (rule.headline, rule.fact):
            text = template.format(domain=DOMAIN)

            assert DOMAIN in text, rule.name
            assert "{" not in text, rule.name
        assert rule.headline.endswith("."), rule.name
        assert not rule.fact.endswith("."), rule.name  # it is a clause inside a sentence


# ---- the codes rules name are codes the checks emit -------------------------------------------------
def emitted_pieces(check: str) -> set[str]:
    """Every string constant in the check's own modules (f-string pieces too: "smtp." + a verdict's
    "connection_refused", "{check_id}" + ".cert_expired")."""
    module = ROOT / "checks" / f"{check}.py"
    files = [module] if module.exists() else sorted((ROOT / "checks" / check).glob("*.py"))
    if check == "tls":  # tls findings are worded once for both port 25 and the client ports
        files = sorted((ROOT / "checks" / "tls").glob("*.py"))
    return {
        node.value
        for path in files
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


# Built from a tag name: f"dmarc.{tag}_unauthorized" for tag in ("rua", "ruf").
PIECED_TOGETHER = {"dmarc.rua_unauthorized", "dmarc.ruf_unauthorized"}


def named_codes() -> set[str]:
    codes: set[str] = set()
    for rule in RULES:
        codes.update(rule.triggers, rule.consequences)
        if rule.coverage is not None:
            population = rule.coverage.population
            codes.update(rule.coverage.down, rule.coverage.unknown, population.extras)
            codes.update([population.listed_by] if population.listed_by else [])
    return {c for c in codes if "*" not in c}


def test_every_code_a_rule_names_is_emitted_by_its_check() -> None:
    unknown = []
    for code in sorted(named_codes() - PIECED_TOGETHER):
        check, _, rest = code.partition(".")
        pieces = emitted_pieces(check)
        if not {code, rest, f".{rest}"} & pieces:
            unknown.append(code)

    assert unknown == []


def test_the_code_check_would_catch_a_misspelt_code() -> None:
    assert not {"mx.nx_domain", "nx_domain", ".nx_domain"} & emitted_pieces("mx")
