"""Authentication-Results and ARC-Authentication-Results as receivers wrote them, read with
authres: the final receiver's verdicts count, earlier ones are noted, broken ones are skipped."""

from __future__ import annotations

from checks.message.reported import judge, parse, read
from checks.model import Status
from tests.findings import code_set

GOOGLE = (
    "mx.google.com; dkim=pass header.i=@sender.test header.s=s1 header.b=abc; "
    "spf=pass (google.com: domain of alice@sender.test designates 192.0.2.25 as permitted sender) "
    "smtp.mailfrom=alice@sender.test; dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=sender.test"
)


def test_a_google_field_is_read_method_by_method() -> None:
    results = parse(GOOGLE)

    assert [(r.authserv, r.method, r.result) for r in results] == [
        ("mx.google.com", "dkim", "pass"),
        ("mx.google.com", "spf", "pass"),
        ("mx.google.com", "dmarc", "pass"),
    ]
    assert results[1].prop("smtp.mailfrom") == "alice@sender.test"


def test_only_the_final_receivers_verdict_counts_and_earlier_ones_are_noted() -> None:
    fields = [
        (
            "Authentication-Results",
            "mx.receiver.test; dkim=fail header.d=sender.test; dmarc=fail header.from=sender.test",
        ),
        ("ARC-Authentication-Results", "i=1; lists.list.test; dkim=pass header.d=sender.test"),
        ("Authentication-Results", "forged.test; dkim=pass header.d=sender.test"),
    ]

    results, unreadable = read(fields)
    findings = judge(results, unreadable)

    assert code_set(findings) == {
        ("authres.dkim", Status.FAIL),
        ("authres.dmarc", Status.FAIL),
        ("authres.earlier", Status.INFO),
        ("authres.arc_recorded", Status.INFO),
    }


def test_an_unreadable_field_is_noted_not_fatal() -> None:
    results, unreadable = read(
        [("Authentication-Results", ";;; = = ="), ("Authentication-Results", GOOGLE)]
    )

    assert unreadable == [";;; = = ="]
    assert ("authres.unreadable", Status.INFO) in code_set(judge(results, unreadable))


def test_a_softfail_is_a_warning_and_none_a_note() -> None:
    results, _ = read(
        [("Authentication-Results", "mx.test; spf=softfail smtp.mailfrom=a.test; dkim=none")]
    )

    assert code_set(judge(results, [])) == {
        ("authres.spf", Status.WARN),
        ("authres.dkim", Status.INFO),
    }
