"""The SPF repairs: edits proposed by findings, applied in order to one corrected record."""

from __future__ import annotations

from checks.model import Finding, Status
from checks.spf.parse import parse
from checks.spf.repair import (
    Append,
    Drop,
    Proposal,
    Replace,
    attach,
    corrected,
    merged,
    without_bad_terms,
)


def test_edits_apply_in_the_order_they_were_proposed() -> None:
    record = parse("v=spf1 mx a:gone.example.test +all")
    edits = (
        Replace("spf.plus_all", "+all", "~all"),
        Drop("spf.void_lookups", frozenset({"a:gone.example.test"})),
    )

    value = corrected("example.test", record, edits)

    assert value is not None
    assert value.value == '"v=spf1 mx ~all"'


def test_no_edits_or_no_change_gives_no_record() -> None:
    record = parse("v=spf1 mx -all")

    assert corrected("example.test", record, ()) is None
    assert corrected("example.test", record, (Drop("spf.x", frozenset({"ptr"})),)) is None


def test_every_finding_that_proposed_an_edit_carries_the_same_record() -> None:
    record = parse("v=spf1 mx")
    asked = Finding("spf.no_all", Status.WARN, "no all")
    other = Finding("spf.too_large", Status.WARN, "large")
    proposal = Proposal((asked,)) + Proposal((other,), (Append("spf.no_all", "~all"),))

    findings = attach("example.test", record, proposal)

    assert [f.code for f in findings] == ["spf.no_all", "spf.too_large"]
    assert findings[0].record is not None
    assert findings[0].record.value == '"v=spf1 mx ~all"'
    assert findings[1].record is None


def test_merging_keeps_one_ending_only_when_all_records_agree() -> None:
    assert merged(("v=spf1 a -all", "v=spf1 mx -all")) == "v=spf1 a mx -all"
    assert merged(("v=spf1 a -all", "v=spf1 mx ?all")) == "v=spf1 a mx ~all"
    assert merged(("v=spf1 a -all", "v=spf1 redirect=x.example.test")) is None


def test_bad_terms_are_removed_one_by_one() -> None:
    assert without_bad_terms("v=spf1 ip4:1.2.3.999 mx foo -all") == "v=spf1 mx -all"
    assert without_bad_terms("spf1 mx") is None
