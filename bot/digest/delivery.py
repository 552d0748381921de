"""One delivery path for every scheduled post (pure): its key, how long it is worth posting, and
what follows each attempt.

A scheduled post (a digest's slot, a "tell me when it's live" follow-up's last word; alerts and
recoveries later) is a `Post` with a stable `key`, kept in the store's outbox. The intent is
recorded before Slack is asked, and the key travels in the message's metadata. An attempt that may
have reached Slack without its outcome being recorded (a crash, a timeout, a hang-up, a 5xx, a
shutdown mid-request) leaves the post *in doubt*: before it is posted again, the channel's history
(a thread's replies, for a post in a thread) since then is searched for the key
(`Step.LOOK_THEN_POST`). So a post is made at most once; and, until its grace period passes, a
failed one stays due and is retried with back-off and jitter, so it is made at least once.

    PENDING ──claim──► POSTING ──posted, or found in the history──────► POSTED
       ▲                  │ ──Slack will never take it (channel gone…)──► STOPPED (its schedule too)
       │                  │ ──grace passed, or the history cannot tell──► DROPPED
       └──retry_at────────┘ ──failed, in doubt, or the look-up failed
    A POSTING row whose lease ran out (its process died) is claimed again, in doubt.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from bot.digest.schedule import Cadence, When

EVENT_TYPE: Final = "mxbot_scheduled_post"  # the metadata event type our scheduled posts carry
POST_LEASE: Final = timedelta(minutes=5)  # one attempt; every wait inside it is bounded below it
ATTEMPT_SECONDS: Final = 120.0  # the longest one Slack call of an attempt may take
SETTLE: Final = timedelta(seconds=30)  # a post left in doubt is looked for no sooner than this
LOOKBACK_MARGIN: Final = timedelta(minutes=10)  # clocks differ: search the history from earlier
BASE_BACKOFF: Final = timedelta(seconds=30)
MAX_BACKOFF: Final = timedelta(minutes=15)
LATE_AFTER: Final = timedelta(minutes=5)  # a post later than this says when it was due
ON_DEMAND_GRACE: Final = timedelta(minutes=15)  # `/mx digest now`: someone is waiting for it
DEFAULT_GRACE: Final = {
    Cadence.HOURLY: timedelta(minutes=45),
    Cadence.DAILY: timedelta(hours=4),
    Cadence.WEEKLY: timedelta(hours=12),
}
# Slack will never take a post in this channel with this token: the schedule stops (its
# watch-list is kept) until someone acts (`/mx watch …`, `/mx digest now`).
PERMANENT: Final = frozenset(
    {
        "channel_not_found",
        "is_archived",
        "not_in_channel",
        "account_inactive",
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "restricted_action",
        "not_installed",  # ours: no bot token for the workspace any more
    }
)
# Slack's own errors that mean it may have done part of the work: look before posting again.
DOUBTFUL: Final = frozenset(
    {"internal_error", "fatal_error", "request_timeout", "service_unavailable"}
)
RETRYABLE: Final = frozenset({"ratelimited", "rate_limited"})  # surely not posted; try again


class PostState(StrEnum):
    PENDING = "pending"
    POSTING = "posting"
    POSTED = "posted"
    DROPPED = "dropped"
    STOPPED = "stopped"


class Outcome(StrEnum):
    """What one attempt learned."""

    POSTED = "posted"  # Slack answered ok
    FOUND = "found"  # an earlier attempt had posted it: its message is in the history
    NOT_POSTED = "not_posted"  # surely not posted (no connection, a 429, an error answer)
    IN_DOUBT = "in_doubt"  # it may have been posted (a timeout, a hang-up, a 5xx, a shutdown)
    LOOKUP_FAILED = "lookup_failed"  # the history could not be read this time
    UNVERIFIABLE = "unverifiable"  # the history can never tell (no history scope, too busy)
    REJECTED = "rejected"  # Slack refuses this message itself (a bug of ours): drop the post
    PERMANENT = "permanent"  # Slack refuses every post here: stop the schedule


class Step(StrEnum):
    """What an attempt does, decided before it starts."""

    POST = "post"
    LOOK_THEN_POST = "look_then_post"  # an earlier attempt may have posted it
    LOOK_THEN_DROP = "look_then_drop"  # past its grace, in doubt: record it if it was posted
    DROP = "drop"  # past its grace, never sent


@dataclass(frozen=True, slots=True)
class Post:
    """A message to deliver once: what, where, its key, and until when it is worth posting."""

    key: str
    team_id: str
    channel_id: str
    message: Mapping[str, Any]  # Block Kit: text and blocks
    due_at: datetime
    expires_at: datetime
    kind: str = "digest"
    schedule_id: int | None = None  # a digest's schedule: a permanent error stops it

    @property
    def thread_ts(self) -> str:
        """The thread the post answers in (a follow-up's), "" for a channel post: it rides in
        the message, as `chat.postMessage` takes it."""
        return str(self.message.get("thread_ts") or "")


@dataclass(frozen=True, slots=True)
class Delivery:
    """A post claimed for one attempt."""

    post: Post
    attempt: int  # this attempt's number, from 1
    in_doubt_since: datetime | None = None  # an earlier attempt, from then, may have posted it
    last_error: str = ""  # what stopped the previous attempt


@dataclass(frozen=True, slots=True)
class Attempt:
    outcome: Outcome
    error: str = ""  # Slack's error code, the HTTP status, or the exception's name
    ts: str = ""  # the message's ts, when posted or found
    retry_after: float = 0.0  # seconds Slack asked us to wait


@dataclass(frozen=True, slots=True)
class Next:
    """What the outbox records after an attempt."""

    state: PostState
    retry_at: datetime | None = None
    in_doubt_since: datetime | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Queued:
    """A digest handed to the outbox: whether the producer still held its schedule, and the keys
    of older posts of that schedule it superseded (dropped unposted: the new one says more)."""

    held: bool
    superseded: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Waiting:
    """A post whose time has come, not made yet, waiting for its next attempt."""

    post: Post
    retry_at: datetime
    reason: str


@dataclass
class Tally:
    """What a pass delivered (an accumulator: one per pass)."""

    posted: int = 0
    found: int = 0  # posted by an earlier, interrupted attempt; recorded now
    retrying: int = 0
    dropped: int = 0
    stopped: int = 0
    problems: list[str] = field(default_factory=list)  # one line per post not made

    @property
    def failed(self) -> int:
        return self.retrying + self.dropped + self.stopped

    def add(self, other: Tally) -> None:
        self.posted += other.posted
        self.found += other.found
        self.retrying += other.retrying
        self.dropped += other.dropped
        self.stopped += other.stopped
        self.problems.extend(other.problems)


# `/mx digest now` as the Slack app gets it: (team, channel) -> what was delivered, or None when
# the channel has no digest or one is being made.
DigestNow = Callable[[str, str], Awaitable[Tally | None]]


# ---- keys and time --------------------------------------------------------------------------------


def digest_key(team_id: str, channel_id: str, slot: datetime) -> str:
    """A scheduled digest's key: one per channel and slot, whichever instance makes it."""
    return f"digest:{team_id}:{channel_id}:{slot:%Y-%m-%dT%H:%MZ}"


def on_demand_key(team_id: str, channel_id: str, now: datetime) -> str:
    """`/mx digest now`: asking twice within a minute posts one digest."""
    return f"digest:{team_id}:{channel_id}:now:{now:%Y-%m-%dT%H:%MZ}"


def grace_for(when: When, override: timedelta | None = None) -> timedelta:
    """How long after its slot a digest is still worth posting: never past the next one."""
    return min(override or DEFAULT_GRACE[when.cadence], when.period)


def metadata(post: Post) -> dict[str, Any]:
    """The message metadata that lets a later attempt find this post in the channel."""
    return {"event_type": EVENT_TYPE, "event_payload": {"key": post.key, "kind": post.kind}}


def carries(message: Mapping[str, Any], key: str) -> bool:
    """Whether a message from the channel's history is the post with this key."""
    meta = message.get("metadata") or {}
    payload = meta.get("event_payload") or {}
    return bool(meta.get("event_type") == EVENT_TYPE and payload.get("key") == key)


def is_late(post: Post, now: datetime) -> bool:
    return now - post.due_at > LATE_AFTER


def describe(post: Post) -> str:
    """The post, for a log line or an operator: "digest for channel C1 (team T1) due …"."""
    return (
        f"{post.kind} for channel {post.channel_id} (team {post.team_id}) due {stamp(post.due_at)}"
    )


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


# ---- the state machine ----------------------------------------------------------------------------


def step(delivery: Delivery, now: datetime) -> Step:
    """What this attempt does."""
    expired = now >= delivery.post.expires_at
    doubt = delivery.in_doubt_since is not None
    if expired:
        return Step.LOOK_THEN_DROP if doubt else Step.DROP
    return Step.LOOK_THEN_POST if doubt else Step.POST


def after(
    delivery: Delivery,
    attempt: Attempt,
    *,
    started: datetime,
    now: datetime,
    jitter: Callable[[], float] = random.random,  # spreading retries, not a secret
) -> Next:
    """The post's next state, given what the attempt that started at `started` learned."""
    match attempt.outcome:
        case Outcome.POSTED | Outcome.FOUND:
            return Next(PostState.POSTED)
        case Outcome.PERMANENT:
            return Next(PostState.STOPPED, reason=f"Slack said {attempt.error}")
        case Outcome.REJECTED:
            return Next(PostState.DROPPED, reason=f"Slack refused the message: {attempt.error}")
        case Outcome.UNVERIFIABLE:
            return Next(
                PostState.DROPPED,
                reason=f"an earlier attempt may have posted it and the history cannot tell "
                f"({attempt.error}); not posting it twice",
            )
    doubt = _doubt(delivery, attempt, started)
    if now >= delivery.post.expires_at:
        error = attempt.error or delivery.last_error
        last = f" (last: {error})" if error else ""
        return Next(PostState.DROPPED, in_doubt_since=doubt, reason=f"grace period passed{last}")
    wait = max(backoff(delivery.attempt, jitter), timedelta(seconds=attempt.retry_after))
    if doubt is not None:
        wait = max(wait, SETTLE)
    return Next(PostState.PENDING, retry_at=now + wait, in_doubt_since=doubt, reason=attempt.error)


def abandoned(delivery: Delivery, *, started: datetime) -> Next:
    """The attempt was cut short (a shutdown): it may have reached Slack, so look before posting
    again, once Slack has had time to finish what it received."""
    doubt = min(delivery.in_doubt_since or started, started)
    return Next(
        PostState.PENDING, retry_at=started + SETTLE, in_doubt_since=doubt, reason="shutdown"
    )


def backoff(attempt: int, jitter: Callable[[], float]) -> timedelta:
    """Exponential, capped, with "equal jitter": between half and all of the step."""
    doublings: int = min(max(attempt - 1, 0), 16)
    whole = min(MAX_BACKOFF, BASE_BACKOFF * (1 << doublings))
    return whole / 2 + whole / 2 * min(max(jitter(), 0.0), 1.0)


def _doubt(delivery: Delivery, attempt: Attempt, started: datetime) -> datetime | None:
    """Since when the post may exist in the channel, after this attempt."""
    earlier = delivery.in_doubt_since
    match attempt.outcome:
        case Outcome.IN_DOUBT:
            return min(earlier or started, started)
        case Outcome.LOOKUP_FAILED:
            return earlier or started
        case _:  # looked and not found (or never sent), then surely not posted this time
            return None
