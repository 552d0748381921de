"""The follow-up's state machine (pure): what a look that starts one means, when it looks next,
when it gives up, and its keys and stored form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.digest.followup import (
    AlreadyLive,
    Decision,
    Followed,
    Followup,
    Request,
    State,
    Unknown,
    active_key,
    decide,
    key,
    post,
    records_from_json,
    records_to_json,
    start,
)
from checks.live.result import LiveReport, RecordLive, Verdict, Wanted

NOW = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
SPF = Wanted("example.com", "TXT", "SPF")
DKIM = Wanted("s1._domainkey.example.com", "TXT")
WHERE = ("T1", "C1", "1700000000.000100", "U1")


def report(
    verdict: Verdict, *, ttl: int = 300, wait_s: int = 0, new: tuple[str, ...] | None = ("a",)
) -> LiveReport:
    records = (
        RecordLive(SPF, verdict, "spf.", new, wait_s=wait_s, longest_ttl=ttl),
        RecordLive(DKIM, Verdict.LIVE, "dkim.", (), longest_ttl=60),
    )
    return LiveReport("example.com", "example.com", records, verdict, "sentence.", 7)


def followup(looks: int = 0, *, give_up: timedelta = timedelta(seconds=330)) -> Followup:
    records = (Followed(SPF, ("a",)), Followed(DKIM, ()))
    request = Request(*WHERE[:3], WHERE[3], "example.com", records, 7, NOW, NOW, NOW + give_up)
    return Followup(5, request, looks=looks)


def test_a_look_not_live_yet_starts_following_its_current_answers_until_the_longest_ttl() -> None:
    started = start(report(Verdict.SERVERS_DISAGREE), where=WHERE, now=NOW, jitter=lambda: 0.0)

    assert isinstance(started, Request)
    assert started.records == (Followed(SPF, ("a",)), Followed(DKIM, ()))
    assert (started.team_id, started.channel_id, started.thread_ts, started.user_id) == WHERE
    assert started.serial == 7
    assert started.next_look_at == NOW + timedelta(seconds=15)  # half of 30 s, jittered
    assert started.give_up_at == NOW + timedelta(seconds=330)  # 300 s and 30 s


def test_the_give_up_time_is_a_tenth_more_than_the_ttl_and_at_most_a_day() -> None:
    hour = start(report(Verdict.SERVERS_DISAGREE, ttl=3600), where=WHERE, now=NOW)
    week = start(report(Verdict.SERVERS_DISAGREE, ttl=7 * 86400), where=WHERE, now=NOW)

    assert isinstance(hour, Request)
    assert isinstance(week, Request)
    assert hour.give_up_at == NOW + timedelta(seconds=3960)
    assert week.give_up_at == NOW + timedelta(days=1)


def test_nothing_is_followed_when_it_is_live_already_or_the_answer_is_unknown() -> None:
    assert isinstance(start(report(Verdict.LIVE), where=WHERE, now=NOW), AlreadyLive)
    assert isinstance(start(report(Verdict.UNKNOWN, new=None), where=WHERE, now=NOW), Unknown)


def test_it_looks_again_doubling_the_pause_up_to_fifteen_minutes() -> None:
    behind = report(Verdict.SERVERS_DISAGREE)
    far = timedelta(days=1)

    pauses = [
        decide(followup(n, give_up=far), behind, now=NOW, jitter=lambda: 1.0).next_look_at
        for n in range(7)
    ]

    assert [(p - NOW).total_seconds() for p in pauses if p] == [60, 120, 240, 480, 900, 900, 900]


def test_a_resolver_cache_running_out_sooner_brings_the_next_look_forward() -> None:
    cached = report(Verdict.RESOLVERS_STALE, wait_s=9)

    decided = decide(followup(3), cached, now=NOW, jitter=lambda: 1.0)

    assert decided == Decision(None, NOW + timedelta(seconds=10))


def test_it_never_looks_past_the_give_up_time_and_gives_up_there() -> None:
    behind = report(Verdict.SERVERS_DISAGREE)

    last = decide(followup(4), behind, now=NOW + timedelta(seconds=300), jitter=lambda: 1.0)
    gave_up = decide(followup(5), behind, now=NOW + timedelta(seconds=330))
    failed_look = decide(followup(5), None, now=NOW + timedelta(seconds=331))

    assert last.next_look_at == NOW + timedelta(seconds=330)
    assert gave_up.ending is State.GAVE_UP
    assert failed_look.ending is State.GAVE_UP


def test_live_ends_it_and_names_records_that_moved_on_since() -> None:
    moved = LiveReport(
        "example.com",
        "example.com",
        (RecordLive(SPF, Verdict.LIVE, "", ("b",)), RecordLive(DKIM, Verdict.LIVE, "", ())),
        Verdict.LIVE,
        "",
    )

    decided = decide(followup(), moved, now=NOW + timedelta(days=2))

    assert decided.ending is State.LIVE  # live counts even past the give-up time
    assert decided.changed == (Followed(SPF, ("b",)),)


def test_keys_name_the_thread_the_follow_up_and_how_it_ended() -> None:
    ending = post(followup(), State.GAVE_UP, {"text": "t", "blocks": []}, now=NOW)

    assert key(followup(), State.LIVE) == "live:T1:C1:1700000000.000100:5:live"
    assert ending.key == "live:T1:C1:1700000000.000100:5:gave_up"
    assert ending.thread_ts == "1700000000.000100"
    assert (ending.kind, ending.due_at, ending.expires_at) == (
        "followup",
        NOW,
        NOW + timedelta(hours=1),
    )


def test_the_same_records_in_the_same_thread_share_an_active_key() -> None:
    one = followup().request
    reordered = Request(*WHERE[:3], WHERE[3], "example.com", one.records[::-1], 7, NOW, NOW, NOW)
    elsewhere = Request("T1", "C1", "1.2", "U1", "example.com", one.records, 7, NOW, NOW, NOW)

    assert active_key(one) == active_key(reordered)
    assert active_key(one) != active_key(elsewhere)
    assert len(active_key(one)) == 64


def test_records_survive_their_stored_form() -> None:
    records = followup().request.records

    assert records_from_json(records_to_json(records)) == records
