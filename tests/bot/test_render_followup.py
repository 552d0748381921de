"""*Tell me when it's live* rendered (pure): the button and what its value carries, and every
message of a follow-up valid Block Kit, escaped, mentioning nobody but the asker."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.render import blocks, followup
from checks.bundle.result import Action, Bundle, Entry
from checks.live.result import LiveReport, RecordLive, Seen, State, Verdict, Wanted
from checks.model import CheckResult, Finding, Record, Report, Status
from tests.bot.blockkit_support import HOSTILE, no_live_markup, validate

NOW = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
SPF = Wanted("example.com", "TXT", "SPF")


def hostile_report(verdict: Verdict = Verdict.SERVERS_DISAGREE) -> LiveReport:
    """Every remote string says HOSTILE: the answers, a server's name, the sentence."""
    servers = (
        Seen(f"ns1.{HOSTILE}", "192.0.2.1", State.RECORDS, (f'"{HOSTILE}"',), 300, 1),
        Seen("ns2.example.com", "192.0.2.2", State.RECORDS, ('"v=spf1 -all"',), 300, 2),
    )
    record = RecordLive(SPF, verdict, HOSTILE, ('"v=spf1 -all"',), servers, longest_ttl=300)
    return LiveReport("example.com", "example.com", (record,), verdict, HOSTILE, 2)


def only_the_askers_mention(message: dict[str, Any], asker: str = "U0ASKER") -> None:
    """Nothing remote is markup; the one mention is the asker's."""
    validate(message)
    mention = f"<@{asker}>"
    no_live_markup(json.loads(json.dumps(message).replace(mention, "@asker")))


def test_every_follow_up_message_is_valid_escaped_and_mentions_only_the_asker() -> None:
    report = hostile_report()
    followed = [(SPF, (f'"{HOSTILE}"',))]

    messages = [
        followup.render_ack(
            followed,
            report,
            followup_id=7,
            give_up_at=NOW + timedelta(hours=2),
            now=NOW,
            asker="U0ASKER",
        ),
        followup.render_live(
            hostile_report(Verdict.LIVE),
            asker="U0ASKER",
            since=NOW,
            now=NOW + timedelta(minutes=4),
            looks=5,
            changed=followed,
        ),
        followup.render_gave_up(
            report, asker="U0ASKER", domain="example.com", last="", since=NOW, now=NOW, looks=9
        ),
        followup.render_gave_up(
            None, asker="U0ASKER", domain="example.com", last=HOSTILE, since=NOW, now=NOW, looks=9
        ),
        followup.render_cancelled("example.com", by="U0ASKER"),
    ]

    for message in messages:
        only_the_askers_mention(message)
    assert "&lt;!channel&gt;" in json.dumps(messages[0])
    assert "<@U0ASKER>" in messages[1]["text"]  # the notification names them


@pytest.mark.parametrize("user", ["<!channel>", "U1> <!here", "", "x" * 40])
def test_a_user_id_that_is_not_one_is_never_written_as_a_mention(user: str) -> None:
    message = followup.render_cancelled("example.com", by=user)

    no_live_markup(message)
    assert message["text"].startswith("🛑 Someone cancelled")


def test_the_other_answers_are_valid_and_escaped() -> None:
    report = hostile_report()

    for message in (
        followup.render_already_live(report),
        followup.render_unknown(report),
        followup.render_following("example.com", since=NOW, give_up_at=NOW),
        followup.render_cancel_answer("example.com", 2),
        followup.render_cancel_answer("example.com", 0),
    ):
        validate(message)
        no_live_markup(message)


def test_a_long_list_of_answers_stays_inside_the_section_limit() -> None:
    report = hostile_report()
    followed = [(Wanted(f"n{i}.example.com", "TXT"), ("x" * 390,)) for i in range(8)]

    ack = followup.render_ack(followed, report, followup_id=1, give_up_at=NOW, now=NOW, asker="U1")

    validate(ack)
    assert "```" in ack["blocks"][1]["text"]["text"]


# ---- the button ---------------------------------------------------------------------------------


def test_the_button_carries_the_records_relative_to_the_domain() -> None:
    wanted = [
        Wanted("example.com", "MX"),
        SPF,
        Wanted("_dmarc.example.com", "TXT", "DMARC"),
        Wanted("ns.other.example", "A"),  # another zone's record: not followed here
    ]

    button = followup.button("example.com", wanted)

    assert button is not None
    assert button["action_id"] == followup.FOLLOW
    assert followup.decode(button["value"]) == (
        "example.com",
        [("MX", "@", ""), ("TXT", "@", "SPF"), ("TXT", "_dmarc", "DMARC")],
    )
    validate({"text": "t", "blocks": [{"type": "actions", "elements": [button]}]})


def test_the_value_fits_a_button_however_long_the_names() -> None:
    label = "a" * 60
    wanted = [Wanted(f"{label}.{i}.{label}.example.com", "TXT") for i in range(40)]

    value = followup.encode("example.com", wanted)

    assert value is not None
    assert len(value) <= blocks.MAX_BUTTON_VALUE
    _, records = followup.decode(value)
    assert 0 < len(records) <= followup.MAX_RECORDS


def test_nothing_in_the_zone_makes_no_button() -> None:
    assert followup.button("example.com", [Wanted("example.org", "TXT")]) is None
    assert followup.button("example.com", []) is None


@pytest.mark.parametrize(
    "value",
    ["", "[]", '{"d": 1, "r": []}', '{"d": "a.com", "r": []}', '{"d": "a.com", "r": [["TXT"]]}'],
)
def test_a_value_that_is_not_ours_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match=r"."):  # json.JSONDecodeError is one
        followup.decode(value)


def test_a_report_proposes_the_records_its_findings_carry_with_their_kind() -> None:
    def finding(code: str, record: Record) -> Finding:
        return Finding(code, Status.FAIL, "m", record=record)

    results = (
        CheckResult(
            "spf", "SPF", (finding("spf.x", Record("example.com.", "TXT", '"v=spf1 mx -all"')),), 1
        ),
        CheckResult(
            "dmarc",
            "DMARC",
            (finding("dmarc.x", Record("_dmarc.example.com.", "TXT", '"v=DMARC1; p=none"')),),
            1,
        ),
        CheckResult(
            "ptr", "PTR", (finding("ptr.x", Record("1.2.0.192.in-addr.arpa.", "PTR", "a.")),), 1
        ),
    )

    wanted = followup.proposed(Report("example.com", results, 3))

    assert wanted == [SPF, Wanted("_dmarc.example.com", "TXT", "DMARC")]


def test_a_fix_bundle_follows_what_it_changes_in_the_zone() -> None:
    def entry(name: str, rdtype: str, kind: str, action: Action = Action.PUBLISH) -> Entry:
        return Entry(name, rdtype, kind, (), (), action)

    bundle = Bundle(
        "example.com",
        "example.com",
        (
            entry("example.com.", "TXT", "SPF"),
            entry("example.com.", "MX", "MX", Action.FILL_IN),
            entry("_smtp._tls.example.com.", "TXT", "TLS-RPT"),
            entry("example.com.", "DS", "DS", Action.ELSEWHERE),
        ),
        (),
        (),
        "",
    )

    assert followup.bundled(bundle) == [
        SPF,
        Wanted("example.com", "MX"),
        Wanted("_smtp._tls.example.com", "TXT"),
    ]


def test_the_button_joins_the_reports_own_row_or_makes_its_own() -> None:
    button = followup.button("example.com", [SPF])
    report_like = {
        "text": "t",
        "blocks": [
            {
                "type": "actions",
                "block_id": "mx_actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "mx_rerun",
                        "text": {"type": "plain_text", "text": "Re-run"},
                        "value": "x",
                    }
                ],
            }
        ],
    }
    plain = {"text": "t", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}]}

    joined = followup.with_button(report_like, button)
    own = followup.with_button(plain, button)

    assert [e["action_id"] for e in joined["blocks"][0]["elements"]] == [
        "mx_rerun",
        followup.FOLLOW,
    ]
    assert own["blocks"][-1]["block_id"] == "mx_follow"
    assert followup.with_button(plain, None) == plain
    validate(joined)
    validate(own)
