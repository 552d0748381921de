"""The delivery state machine (pure): keys, grace periods, what an attempt does and what follows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from bot.digest.delivery import (
    BASE_BACKOFF,
    EVENT_TYPE,
    MAX_BACKOFF,
    SETTLE,
    Attempt,
    Delivery,
    Next,
    Outcome,
    Post,
    PostState,
    Step,
    abandoned,
    after,
    backoff,
    carries,
    digest_key,
    grace_for,
    is_late,
    metadata,
    on_demand_key,
    step,
)
from bot.digest.schedule import Cadence, When

DUE = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
POST = Post(
    "digest:T1:C1:2024-05-01T09:00Z", "T1", "C1", {"text": "hi"}, DUE, DUE + timedelta(hours=4)
)


def claimed(attempt: int = 1, doubt: datetime | None = None) -> Delivery:
    return Delivery(POST, attempt, doubt)


def test_keys_name_the_channel_and_the_slot_whoever_makes_the_digest() -> None:
    assert digest_key("T1", "C1", DUE) == "digest:T1:C1:2024-05-01T09:00Z"
    asked = datetime(2024, 5, 1, 9, 17, 42, tzinfo=UTC)
    assert on_demand_key("T1", "C1", asked) == "digest:T1:C1:now:2024-05-01T09:17Z"
    assert on_demand_key("T1", "C1", asked + timedelta(seconds=10)) == on_demand_key(
        "T1", "C1", asked
    )


def test_the_grace_period_follows_the_cadence_and_never_reaches_the_next_digest() -> None:
    assert grace_for(When(Cadence.HOURLY)) == timedelta(minutes=45)
    assert grace_for(When(Cadence.DAILY)) == timedelta(hours=4)
    assert grace_for(When(Cadence.WEEKLY)) == timedelta(hours=12)
    assert grace_for(When(Cadence.DAILY), timedelta(hours=2)) == timedelta(hours=2)
    assert grace_for(When(Cadence.HOURLY), timedelta(hours=3)) == timedelta(hours=1)


def test_the_metadata_carries_the_key_and_finds_only_its_own_post() -> None:
    mine = {"ts": "1.2", "metadata": metadata(POST)}
    other = {"ts": "1.3", "metadata": {"event_type": EVENT_TYPE, "event_payload": {"key": "x"}}}
    stripped = {"ts": "1.4", "metadata": {"event_type": EVENT_TYPE}}  # no include_all_metadata

    assert carries(mine, POST.key)
    assert not carries(other, POST.key)
    assert not carries(stripped, POST.key)
    assert not carries({"ts": "1.5", "text": POST.key}, POST.key)


@pytest.mark.parametrize(
    ("minutes", "doubt", "expected"),
    [
        (1, False, Step.POST),
        (1, True, Step.LOOK_THEN_POST),
        (240, False, Step.DROP),
        (240, True, Step.LOOK_THEN_DROP),
    ],
)
def test_an_attempt_looks_first_when_in_doubt_and_only_looks_once_too_late(
    minutes: int, doubt: bool, expected: Step
) -> None:
    delivery = claimed(doubt=DUE if doubt else None)

    assert step(delivery, DUE + timedelta(minutes=minutes)) is expected


def test_a_post_made_or_found_is_posted_and_nothing_more() -> None:
    now = DUE + timedelta(minutes=1)
    for outcome in (Outcome.POSTED, Outcome.FOUND):
        assert after(claimed(), Attempt(outcome, ts="1.2"), started=now, now=now) == Next(
            PostState.POSTED
        )


def test_a_failure_stays_due_with_back_off_and_a_doubt_is_remembered() -> None:
    now = DUE + timedelta(minutes=1)

    refused = after(
        claimed(),
        Attempt(Outcome.NOT_POSTED, "HTTP 429", retry_after=120),
        started=now,
        now=now,
        jitter=lambda: 0.0,
    )
    hung_up = after(
        claimed(3),
        Attempt(Outcome.IN_DOUBT, "ServerDisconnectedError"),
        started=now,
        now=now,
        jitter=lambda: 1.0,
    )
    unread = after(
        claimed(2, DUE),
        Attempt(Outcome.LOOKUP_FAILED, "HTTP 503"),
        started=now,
        now=now,
        jitter=lambda: 0.0,
    )
    looked = after(
        claimed(2, DUE),
        Attempt(Outcome.NOT_POSTED, "HTTP 429"),
        started=now,
        now=now,
        jitter=lambda: 0.0,
    )

    assert refused == Next(PostState.PENDING, now + timedelta(seconds=120), None, "HTTP 429")
    assert hung_up.state is PostState.PENDING
    assert hung_up.retry_at == now + BASE_BACKOFF * 4
    assert hung_up.in_doubt_since == now
    assert unread.in_doubt_since == DUE  # still unknown since the first doubtful attempt
    assert unread.retry_at == now + SETTLE
    assert looked.in_doubt_since is None  # looked, not there, and this attempt surely failed


def test_back_off_doubles_with_jitter_up_to_a_cap() -> None:
    low = [backoff(n, lambda: 0.0) for n in range(1, 8)]
    high = [backoff(n, lambda: 1.0) for n in range(1, 8)]

    assert low[0] == BASE_BACKOFF / 2
    assert high[0] == BASE_BACKOFF
    assert high[1] == BASE_BACKOFF * 2
    assert all(a <= b for a, b in pairwise(high))
    assert high[-1] == MAX_BACKOFF
    assert backoff(1000, lambda: 1.0) == MAX_BACKOFF


def test_past_the_grace_period_a_failure_is_dropped_with_the_last_error() -> None:
    late = DUE + timedelta(hours=4)

    dropped = after(claimed(9), Attempt(Outcome.NOT_POSTED, "HTTP 503"), started=late, now=late)

    assert dropped.state is PostState.DROPPED
    assert dropped.reason == "grace period passed (last: HTTP 503)"


def test_slack_refusing_the_channel_stops_and_refusing_the_message_drops() -> None:
    now = DUE + timedelta(minutes=1)

    archived = after(claimed(), Attempt(Outcome.PERMANENT, "is_archived"), started=now, now=now)
    invalid = after(claimed(), Attempt(Outcome.REJECTED, "invalid_blocks"), started=now, now=now)
    blind = after(
        claimed(2, DUE), Attempt(Outcome.UNVERIFIABLE, "missing_scope"), started=now, now=now
    )

    assert archived == Next(PostState.STOPPED, reason="Slack said is_archived")
    assert invalid.state is PostState.DROPPED
    assert "invalid_blocks" in invalid.reason
    assert blind.state is PostState.DROPPED  # at most once wins: never a blind second post
    assert "missing_scope" in blind.reason


def test_an_attempt_cut_short_is_in_doubt_and_waits_for_slack_to_settle() -> None:
    now = DUE + timedelta(minutes=1)

    assert abandoned(claimed(), started=now) == Next(
        PostState.PENDING, now + SETTLE, now, "shutdown"
    )
    assert abandoned(claimed(2, DUE), started=now).in_doubt_since == DUE


def test_a_post_is_late_after_five_minutes() -> None:
    assert not is_late(POST, DUE + timedelta(minutes=5))
    assert is_late(POST, DUE + timedelta(minutes=6))
