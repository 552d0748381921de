"""The fix bundle, assembled from hand-made reports: reconciliation (one SPF record, one DMARC
record, one MX set), what stays a comment, and a snippet dnspython reads as a zone."""

from __future__ import annotations

import dns.rdatatype
import dns.zone

from checks.bundle.assemble import assemble
from checks.bundle.result import Action, Bundle, Entry
from checks.model import CheckResult, Finding, Record, Report, Status

D = "example.test"


def report(*results: tuple[str, list[Finding]]) -> Report:
    return Report(D, tuple(CheckResult(cid, cid.upper(), tuple(fs), 1) for cid, fs in results), 5)


def txt(name: str, text: str) -> Record:
    return Record(name, "TXT", f'"{text}"')


def mx_ok(*hosts: str) -> Finding:
    return Finding("mx.ok", Status.PASS, "MX records.", evidence=hosts)


def parsed(bundle: Bundle) -> dns.zone.Zone:
    return dns.zone.from_text(bundle.zone, origin=D, relativize=False, check_origin=False)


def live(bundle: Bundle) -> dict[tuple[str, str], list[str]]:
    """The snippet's live records, as dnspython reads them: (name, type) -> values."""
    out: dict[tuple[str, str], list[str]] = {}
    for name, node in parsed(bundle).nodes.items():
        for rdataset in node.rdatasets:
            key = (name.to_text(), dns.rdatatype.to_text(rdataset.rdtype))
            out[key] = sorted(r.to_text() for r in rdataset)
    return out


def entry(bundle: Bundle, name: str, rdtype: str) -> Entry:
    return next(e for e in bundle.entries if e.name == name and e.type == rdtype)


def test_two_findings_proposing_the_same_spf_record_give_one_record() -> None:
    record = txt(f"{D}.", "v=spf1 mx ~all")
    spf = [
        Finding("spf.plus_all", Status.FAIL, "+all.", record=record, evidence=("v=spf1 +all",)),
        Finding("spf.neutral_all", Status.WARN, "?all.", record=record),
    ]

    bundle = assemble(report(("spf", spf)))

    assert live(bundle) == {(f"{D}.", "TXT"): ['"v=spf1 mx ~all"']}
    assert entry(bundle, f"{D}.", "TXT").current == ("v=spf1 +all",)
    assert '; replaces the SPF record at example.test: "v=spf1 +all"' in bundle.zone


def test_different_dmarc_proposals_keep_the_worst_findings_and_note_the_other() -> None:
    name = f"_dmarc.{D}."
    dmarc = [
        Finding(
            "dmarc.policy_invalid", Status.FAIL, "p=block.", record=txt(name, "v=DMARC1; p=none")
        ),
        Finding(
            "dmarc.policy_none", Status.WARN, "p=none.", record=txt(name, "v=DMARC1; p=reject")
        ),
    ]

    bundle = assemble(report(("dmarc", dmarc)))

    assert live(bundle) == {(name, "TXT"): ['"v=DMARC1; p=none"']}
    assert [r.code for r in entry(bundle, name, "TXT").reasons] == ["dmarc.policy_invalid"]
    assert any("dmarc.policy_none (warn) proposes" in n and "p=reject" in n for n in bundle.notes)


def test_spf_and_dmarc_records_at_the_apex_are_different_records() -> None:
    spf = Finding("spf.missing", Status.FAIL, "No SPF.", record=txt(f"{D}.", "v=spf1 mx ~all"))
    other = Finding("x.y", Status.WARN, "A note.", record=txt(f"{D}.", "site-verification=1"))

    bundle = assemble(report(("spf", [spf]), ("x", [other])))

    assert live(bundle)[(f"{D}.", "TXT")] == ['"site-verification=1"', '"v=spf1 mx ~all"']


def test_an_ip_literal_mx_becomes_a_name_with_that_address() -> None:
    mx = [
        mx_ok("10 192.0.2.31", "20 mx2.example.test"),
        Finding(
            "mx.target_ip",
            Status.FAIL,
            "The MX 192.0.2.31 is an IP address.",
            record=Record(f"{D}.", "MX", f"10 mail.{D}."),
        ),
    ]

    bundle = assemble(report(("mx", mx)))

    assert live(bundle)[(f"{D}.", "MX")] == [f"10 mail.{D}.", f"20 mx2.{D}."]
    assert live(bundle)[(f"mail.{D}.", "A")] == ["192.0.2.31"]
    assert entry(bundle, f"{D}.", "MX").current == ("10 192.0.2.31.", f"20 mx2.{D}.")


def test_a_cname_mx_is_replaced_and_the_other_hosts_kept() -> None:
    mx = [
        mx_ok("10 alias.example.test", "20 mx2.example.test"),
        Finding(
            "mx.target_cname",
            Status.FAIL,
            "An alias.",
            record=Record(f"{D}.", "MX", f"10 real.{D}."),
        ),
    ]

    bundle = assemble(report(("mx", mx)))

    assert live(bundle) == {(f"{D}.", "MX"): [f"10 real.{D}.", f"20 mx2.{D}."]}


def test_an_implicit_mx_made_explicit_keeps_the_address_mail_goes_to() -> None:
    mx = [
        Finding(
            "mx.implicit",
            Status.WARN,
            "No MX.",
            record=Record(f"{D}.", "MX", f"10 mail.{D}."),
            evidence=("192.0.2.80", "2001:db8::80"),
        )
    ]

    bundle = assemble(report(("mx", mx)))

    assert live(bundle) == {
        (f"{D}.", "MX"): [f"10 mail.{D}."],
        (f"mail.{D}.", "A"): ["192.0.2.80"],
        (f"mail.{D}.", "AAAA"): ["2001:db8::80"],
    }


def test_a_value_to_fill_in_stays_a_comment_and_so_does_the_mx_that_needs_it() -> None:
    mx = [Finding("mx.none", Status.FAIL, "No MX.", record=Record(f"{D}.", "MX", f"10 mail.{D}."))]

    bundle = assemble(report(("mx", mx)))

    assert live(bundle) == {}
    assert [e.action for e in bundle.entries] == [Action.FILL_IN, Action.FILL_IN]
    assert f"; mail.{D}. 3600 IN A <address of your mail server>" in bundle.zone.splitlines()
    assert f"; {D}. 3600 IN MX 10 mail.{D}." in bundle.zone.splitlines()


def test_records_for_other_zones_and_the_parents_ds_are_comments() -> None:
    auth = Finding(
        "dmarc.rua_unauthorized",
        Status.FAIL,
        "Reports to collector.test are not authorised.",
        record=txt(f"{D}._report._dmarc.collector.test.", "v=DMARC1"),
    )
    ds = Finding(
        "dnssec.ds_missing", Status.WARN, "No DS.", record=Record(f"{D}.", "DS", "1 13 2 AB")
    )

    bundle = assemble(report(("dmarc", [auth]), ("dnssec", [ds])))

    assert live(bundle) == {}
    assert {e.action for e in bundle.entries} == {Action.ELSEWHERE}
    assert "; ask the admins of collector.test to publish it" in bundle.zone
    assert "registrar" in bundle.zone


def test_mta_sts_comes_as_a_testing_policy_and_a_record_that_waits_for_it() -> None:
    sts = Finding(
        "mta_sts.none",
        Status.INFO,
        "No MTA-STS.",
        record=txt(f"_mta-sts.{D}.", "v=STSv1; id=1"),
    )

    bundle = assemble(
        report(("mx", [mx_ok("10 mx1.example.test", "20 mx2.example.test")]), ("mta_sts", [sts]))
    )

    [policy] = bundle.files
    assert policy.path == f"https://mta-sts.{D}/.well-known/mta-sts.txt"
    assert policy.content == (
        f"version: STSv1\nmode: testing\nmx: mx1.{D}\nmx: mx2.{D}\nmax_age: 604800\n"
    )
    assert live(bundle) == {}
    assert f'; _mta-sts.{D}. 3600 IN TXT "v=STSv1; id=1"' in bundle.zone.splitlines()


def test_optional_proposals_are_named_not_bundled() -> None:
    bimi = Finding(
        "bimi.missing", Status.INFO, "No BIMI.", record=txt(f"default._bimi.{D}.", "v=BIMI1")
    )

    bundle = assemble(report(("bimi", [bimi])))

    assert bundle.entries == ()
    assert any("bimi.missing" in n for n in bundle.notes)
    assert "Nothing to publish" in bundle.zone


def test_remote_text_cannot_add_a_line_to_the_snippet() -> None:
    hostile = f"v=spf1 +all\n{D}. 60 IN A 203.0.113.66\r\u2028; x"
    spf = [
        Finding(
            "spf.plus_all",
            Status.FAIL,
            f'Bad record:\n{D}. 60 IN TXT "owned"',
            record=txt(f"{D}.", "v=spf1 ~all"),
            evidence=(hostile,),
        )
    ]

    bundle = assemble(report(("spf", spf)))

    assert live(bundle) == {(f"{D}.", "TXT"): ['"v=spf1 ~all"']}
    assert all(line.isprintable() for line in bundle.zone.splitlines())


def test_a_record_with_a_control_character_is_left_out() -> None:
    spf = [
        Finding("spf.plus_all", Status.FAIL, "+all.", record=txt(f"{D}.", "v=spf1\n~all")),
    ]

    bundle = assemble(report(("spf", spf)))

    assert bundle.entries == ()
    assert any("control characters" in n for n in bundle.notes)


def test_what_records_cannot_fix_is_listed_once_per_code() -> None:
    address = [Finding("address.non_global", Status.FAIL, "Private.") for _ in range(3)]

    bundle = assemble(report(("address", address)))

    assert any("address.non_global (fail) x3" in n for n in bundle.notes)


def test_a_check_that_could_not_tell_is_named_as_a_gap() -> None:
    mx = [Finding("mx.lookup_failed", Status.ERROR, "Timeout.")]

    bundle = assemble(report(("mx", mx)))

    assert any("Could not check everything (mx)" in n for n in bundle.notes)
