"""Digests: what changed between two snapshots, and a message inside Slack's limits for any input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from bot.digest import render as digest
from bot.digest.snapshot import DomainSnapshot, FindingState
from checks.model import CheckResult, Finding, Report, Status

SINCE = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
WHEN = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)
HOSTILE = "<!channel> <!here> <@U123> <#C123> <https://evil.example|click> & ```"


def state(code: str, status: Status = Status.FAIL, message: str = "") -> FindingState:
    return FindingState(code.partition(".")[0], code, status, message or f"{code} happened.")


def snap(domain: str, *findings: FindingState) -> DomainSnapshot:
    status = Status.worst(f.status for f in findings) if findings else Status.PASS
    return DomainSnapshot(domain, status, findings)


def snapshot(*domains: DomainSnapshot) -> dict[str, DomainSnapshot]:
    return {d.domain: d for d in domains}


def validate(message: dict[str, Any]) -> None:
    """Slack's own validators, plus the limits they do not check, plus no live markup."""
    assert message["text"]
    assert len(message["text"]) <= 3000
    assert len(message["blocks"]) <= 50
    for block in Block.parse_all(message["blocks"]):
        assert block is not None
        block.validate_json()
    for block in message["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
    text = json.dumps(message, ensure_ascii=False)
    for token in ("<!", "<@", "<#", "<http"):
        assert token not in text
    assert "<" not in message["text"]
    assert "link_names" not in message


def shown(message: dict[str, Any]) -> str:
    return "\n".join(
        b["text"]["text"] for b in message["blocks"] if b["type"] in {"section", "header"}
    )


# ---- diff ---------------------------------------------------------------------------------------


def test_diff_splits_broken_codes_into_new_fixed_and_unchanged() -> None:
    before = snapshot(
        snap("a.example", state("spf.missing"), state("dmarc.missing")),
        snap("b.example", state("mx.ok", Status.PASS)),
        snap("gone.example", state("mx.none")),
    )
    after = snapshot(
        snap("a.example", state("spf.missing"), state("dmarc.policy_none", Status.WARN)),
        snap("b.example", state("mx.none"), state("smtp.timeout", Status.ERROR)),
        snap("new.example", state("dkim.weak_key")),
    )

    changes = digest.diff(before, after)

    by = {d.domain: d for d in changes.domains}
    assert [f.code for f in by["a.example"].still_broken] == ["spf.missing"]
    assert [f.code for f in by["a.example"].fixed] == ["dmarc.missing"]
    assert by["a.example"].newly_broken == ()
    assert [f.code for f in by["b.example"].newly_broken] == ["mx.none", "smtp.timeout"]
    assert by["b.example"].fixed == ()
    assert by["new.example"].is_new
    assert [f.code for f in by["new.example"].broken] == ["dkim.weak_key"]
    assert changes.removed == ("gone.example",)
    assert [d.domain for d in changes.newly_broken] == ["b.example"]
    assert [d.domain for d in changes.fixed] == ["a.example"]


def test_a_code_seen_twice_counts_once_and_warnings_are_not_problems() -> None:
    before = snapshot(snap("a.example", state("tls.expired", Status.ERROR), state("tls.expired")))
    after = snapshot(snap("a.example", state("tls.expired", Status.WARN)))

    changes = digest.diff(before, after)

    (domain,) = changes.domains
    assert [(f.code, f.status) for f in domain.fixed] == [("tls.expired", Status.FAIL)]
    assert domain.broken == ()


def test_an_unchanged_state_changes_nothing_and_a_first_digest_has_no_past() -> None:
    current = snapshot(snap("a.example", state("spf.missing")), snap("b.example"))

    same = digest.diff(current, current)
    first = digest.diff(None, current)

    assert same.newly_broken == ()
    assert same.fixed == ()
    assert same.removed == ()
    assert [f.code for f in same.domains[0].still_broken] == ["spf.missing"]
    assert all(d.is_new for d in first.domains)


def test_snapshot_keeps_every_finding_of_a_report() -> None:
    report = Report(
        "a.example",
        (
            CheckResult("mx", "MX", (Finding("mx.ok", Status.PASS, "Fine.", fix="-"),), 3),
            CheckResult(
                "spf",
                "SPF",
                (Finding("spf.missing", Status.FAIL, "No\nSPF.", fix="Publish one."),),
                4,
            ),
        ),
        7,
        headline="Mail from a.example may be junked or rejected: it publishes no SPF record.",
    )

    taken = digest.snapshot(report)

    assert taken.status is Status.FAIL
    assert taken.headline == report.headline
    assert taken.findings == (
        FindingState("mx", "mx.ok", Status.PASS, "Fine."),
        FindingState("spf", "spf.missing", Status.FAIL, "No SPF.", "Publish one."),
    )


# ---- rendering ----------------------------------------------------------------------------------


def test_the_digest_leads_with_the_headline_then_broken_then_changes_then_all_good() -> None:
    before = snapshot(
        snap("a.example", state("spf.missing")),
        snap("b.example"),
        snap("c.example", state("dmarc.missing")),
        *(snap(f"ok{i}.example") for i in range(9)),
    )
    after = snapshot(
        snap("a.example", state("spf.missing")),
        snap("b.example", state("mx.none", message="No mail exchanger.")),
        snap("c.example"),
        snap("d.example", state("dkim.weak_key")),
        *(snap(f"ok{i}.example") for i in range(8)),
    )

    message = digest.render_digest(
        after, digest.diff(before, after), since=SINCE, when=WHEN, schedule="daily at 09:00 UTC"
    )

    validate(message)
    text = shown(message)
    lead = "3 of 12 watched domains have problems; 1 newly broken and 1 fixed since 2024-05-01 09:00 UTC"
    assert lead in text
    assert message["text"].startswith(lead)
    broken, changed, good = (
        text.index("*Broken now*"),
        text.index("*Changed since"),
        text.index("All good (9)"),
    )
    assert broken < changed < good
    assert text.index("b.example") < text.index("a.example")  # the newly broken lead
    assert "\U0001f195 `mx.none` No mail exchanger." in text
    assert "*c.example* fixed: `dmarc.missing`" in text
    assert "Added: d.example" in text
    assert "No longer watched: ok8.example" in text
    assert "daily at 09:00 UTC" in json.dumps(message)


def test_a_broken_domain_gives_its_diagnosis_as_the_reason() -> None:
    why = "Mail to a.example cannot be delivered: a.example does not exist in DNS (NXDOMAIN)."
    broken = DomainSnapshot("a.example", Status.FAIL, (state("mx.nxdomain"),), headline=why)
    current = snapshot(broken, snap("b.example"))

    message = digest.render_digest(current, digest.diff(None, current), since=None, when=WHEN)

    validate(message)
    assert f"*a.example* _(new on the watch-list)_ — {why}" in shown(message)
    assert f"a.example: {why}" in message["text"]


def test_a_long_finding_is_shortened_at_a_word_and_keeps_its_fix() -> None:
    message = " ".join(f"word{i:03d}" for i in range(60))  # 479 characters of whole words
    long = FindingState(
        "spf", "spf.too_many_lookups", Status.FAIL, message, "Flatten the includes."
    )
    current = snapshot(snap("a.example", long))

    text = shown(digest.render_digest(current, digest.diff(None, current), since=None, when=WHEN))

    [line] = [x for x in text.splitlines() if "spf.too_many_lookups" in x]
    kept = line.split("` ", 1)[1].split(" *Fix:* ")[0]
    assert kept.endswith("…")
    assert all(w.startswith("word") and len(w) == 7 for w in kept.rstrip("…").split())
    assert line.endswith("*Fix:* Flatten the includes.")


def test_findings_that_do_not_fit_are_cut_whole_and_counted() -> None:
    noisy = "&<>" * 60 + " tail"  # escapes to five times its length
    fix = "publish the record " * 12
    findings = tuple(
        FindingState("c", f"c.broken{j}{'x' * 250}", Status.FAIL, noisy, f"Fix {j}: {fix}")
        for j in range(8)
    )
    current = snapshot(snap("a.example", *findings))

    message = digest.render_digest(current, digest.diff(None, current), since=None, when=WHEN)

    validate(message)
    [piece] = [b["text"]["text"] for b in message["blocks"] if "c.broken0" in json.dumps(b)]
    items = [x for x in piece.splitlines() if x.startswith("  • `")]
    assert 1 <= len(items) < 5
    assert all(f"*Fix:* Fix {n}: publish the record" in x for n, x in enumerate(items))
    assert all(x.endswith(" record…") for x in items)  # the fix shortened at a word, kept
    assert piece.endswith(f"  • _…and {8 - len(items)} more_")


def test_a_late_post_says_when_it_was_due_and_stays_within_the_limits() -> None:
    current = snapshot(snap("a.example", state("spf.missing")))
    message = digest.render_digest(current, digest.diff(None, current), since=None, when=WHEN)

    late = digest.late(message, SINCE)

    validate(late)
    assert late["blocks"][0] == message["blocks"][0]  # the header still leads
    assert "this was due at 2024-05-01 09:00 UTC" in late["blocks"][1]["elements"][0]["text"]
    assert late["text"].startswith("Posted late: this was due at 2024-05-01 09:00 UTC.")
    assert late["blocks"][2:] == message["blocks"][1:]


def test_words_cuts_between_words_and_never_inside_an_entity() -> None:
    assert digest.words("one two three", 100) == "one two three"
    assert digest.words("one   two\nthree", 100) == "one two three"
    assert digest.words("alpha beta gamma delta", 12) == "alpha beta…"
    assert digest.words("x" * 20, 10) == "x" * 9 + "…"
    assert digest.words("&amp;" * 5, 12) == "&amp;&amp;…"


def test_a_first_digest_says_nothing_about_changes() -> None:
    current = snapshot(snap("a.example", state("spf.missing")), snap("b.example"))

    message = digest.render_digest(current, digest.diff(None, current), since=None, when=WHEN)

    validate(message)
    assert "1 of 2 watched domains has problems" in shown(message)
    assert "since" not in shown(message)
    assert "Changed" not in shown(message)


def test_all_good_is_one_compact_line() -> None:
    current = snapshot(*(snap(f"d{i}.example") for i in range(12)))

    message = digest.render_digest(current, digest.diff(current, current), since=SINCE, when=WHEN)

    validate(message)
    assert "All 12 watched domains are fine; 0 newly broken since" in shown(message)
    assert "Nothing changed since" in shown(message)
    assert len(message["blocks"]) <= 5


def test_remote_text_is_shown_never_obeyed() -> None:
    before = snapshot(snap("a.example", state("spf.old", message=HOSTILE)))
    after = snapshot(
        DomainSnapshot(
            "a.example",
            Status.FAIL,
            (FindingState(HOSTILE, HOSTILE, Status.FAIL, HOSTILE),),
            display_name=HOSTILE,
            headline=HOSTILE,
        )
    )

    message = digest.render_digest(after, digest.diff(before, after), since=SINCE, when=WHEN)

    validate(message)
    assert "&lt;!channel&gt;" in shown(message)


_status = st.sampled_from(list(Status))
_words = st.text(min_size=0, max_size=400) | st.just(HOSTILE) | st.just("x" * 5000)
_finding = st.builds(FindingState, _words, _words, _status, _words, _words)
_domain = st.builds(
    DomainSnapshot,
    st.text(min_size=1, max_size=300) | st.just(HOSTILE),
    _status,
    st.lists(_finding, max_size=12).map(tuple),
    _words,
    _words,
)
_snapshot = st.lists(_domain, max_size=300).map(lambda ds: {d.domain: d for d in ds})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_snapshot, _snapshot, st.booleans())
def test_any_pair_of_snapshots_renders_within_every_limit(
    before: dict[str, DomainSnapshot], after: dict[str, DomainSnapshot], has_past: bool
) -> None:
    changes = digest.diff(before if has_past else None, after)

    message = digest.render_digest(
        after, changes, since=SINCE if has_past else None, when=WHEN, schedule=HOSTILE
    )

    validate(message)


def test_hundreds_of_broken_domains_still_fit_one_message() -> None:
    before = snapshot(*(snap(f"d{i:03d}.example", state("mx.ok", Status.PASS)) for i in range(400)))
    after = snapshot(
        *(
            snap(f"d{i:03d}.example", *(state(f"c{j}.broken", message="y" * 250) for j in range(8)))
            for i in range(400)
        )
    )

    message = digest.render_digest(after, digest.diff(before, after), since=SINCE, when=WHEN)

    validate(message)
    assert "400 of 400 watched domains have problems; 400 newly broken" in shown(message)
    assert "more sections not shown" in shown(message)
