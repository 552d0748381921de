""" "Tell me when it's live" (pure): a follow-up's plain values, when it looks next, what a look
means for it, and the key and shape of the one post that ends it.

A follow-up is started from one look (`checks.live`) that is not live yet: it follows those
records until every name server and every resolver give one answer (live), or until the longest
TTL that look saw, plus a margin, has passed (at most a day: `checks.live.wait.limit_for`): by
then every cache has dropped the old answer, so what still disagrees will not fix itself. Between
looks it backs off as a failed post does (30 s doubling to 15 minutes, with jitter), sooner when
the last resolver's cache runs out sooner, and never past the give-up time.

    FOLLOWING ──claim──► (one look) ──live────────────────────► LIVE     (one post, by the outbox)
        ▲                    │ ──give-up time passed───────────► GAVE_UP  (one post, by the outbox)
        └──next look─────────┘ ──not yet
    FOLLOWING ──cancel (the button, `/mx live cancel`)─────────► CANCELLED (nothing more is posted)
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from bot.digest.delivery import Post, backoff
from checks.live.result import LiveReport, Verdict, Wanted
from checks.live.wait import limit_for

KIND: Final = "followup"  # the outbox's kind, and the metric label of its posts
LEASE: Final = timedelta(minutes=5)  # one look (within the report budget) and its recording
POST_GRACE: Final = timedelta(hours=1)  # how long the post that ends a follow-up is worth posting
KEEP_ENDED: Final = timedelta(days=30)  # ended follow-ups, then pruned
MAX_RECORDS: Final = 8  # records one follow-up follows

# A look at records of a domain: `checks.live.survey.survey`, bound to the settings.
Look = Callable[[str, Sequence[Wanted]], Awaitable[LiveReport]]
Jitter = Callable[[], float]


class State(StrEnum):
    FOLLOWING = "following"
    LIVE = "live"
    GAVE_UP = "gave_up"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Followed:
    """One record set followed, and the answer it should converge to: the newest authoritative
    answer when the follow-up started (() for "no record")."""

    wanted: Wanted
    answer: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Request:
    """A follow-up to start: who asked, where to answer, and what to follow until when."""

    team_id: str
    channel_id: str
    thread_ts: str
    user_id: str
    domain: str
    records: tuple[Followed, ...]
    serial: int | None
    created_at: datetime
    next_look_at: datetime
    give_up_at: datetime


@dataclass(frozen=True, slots=True)
class Followup:
    """A stored follow-up."""

    id: int
    request: Request
    state: State = State.FOLLOWING
    looks: int = 0  # looks made since it started (the one that started it not counted)
    last: str = ""  # the last look's sentence

    @property
    def where(self) -> str:
        """For a log line: "follow-up 7 of example.com (team T1, channel C1)"."""
        r = self.request
        return f"follow-up {self.id} of {r.domain} (team {r.team_id}, channel {r.channel_id})"


@dataclass(frozen=True, slots=True)
class AlreadyLive:
    """Nothing to follow: every server and resolver give one answer already."""

    report: LiveReport


@dataclass(frozen=True, slots=True)
class Unknown:
    """Nothing to follow: no name server answered for some record, so no answer to wait for."""

    report: LiveReport


@dataclass(frozen=True, slots=True)
class Decision:
    """What one look means: the follow-up ends (`ending`), or looks again at `next_look_at`."""

    ending: State | None
    next_look_at: datetime | None = None
    changed: tuple[Followed, ...] = ()  # live, but on another answer than when it started


def start(
    report: LiveReport,
    *,
    where: tuple[str, str, str, str],
    now: datetime,
    jitter: Jitter = random.random,  # spreading looks, not a secret
) -> Request | AlreadyLive | Unknown:
    """A follow-up of the records of `report` (the look made when the user asked), answering in
    `where` = (team, channel, thread ts, user); or why there is nothing to follow."""
    if report.live:
        return AlreadyLive(report)
    if not report.records or any(r.new is None for r in report.records):
        return Unknown(report)
    records = tuple(Followed(r.wanted, r.new or ()) for r in report.records)
    team, channel, thread, user = where
    give_up = now + timedelta(seconds=limit_for(report))
    return Request(
        team,
        channel,
        thread,
        user,
        report.domain,
        records[:MAX_RECORDS],
        report.serial,
        now,
        min(now + _pause(report, 1, jitter), give_up),
        give_up,
    )


def decide(
    followup: Followup, report: LiveReport | None, *, now: datetime, jitter: Jitter = random.random
) -> Decision:
    """After a look (None: the look itself failed): live, given up, or when to look again."""
    if report is not None and report.live:
        return Decision(State.LIVE, changed=changed(followup, report))
    give_up = followup.request.give_up_at
    if now >= give_up:
        return Decision(State.GAVE_UP)
    pause = _pause(report, followup.looks + 2, jitter)  # the pause before the look after this one
    return Decision(None, min(now + pause, give_up))


def changed(followup: Followup, report: LiveReport) -> tuple[Followed, ...]:
    """Records whose answer, now live, is not the one they were followed for: the zone moved on."""
    now = {r.wanted: r.new for r in report.records}
    return tuple(
        Followed(f.wanted, now.get(f.wanted) or ())
        for f in followup.request.records
        if now.get(f.wanted) is not None and now.get(f.wanted) != f.answer
    )


def _pause(report: LiveReport | None, looks: int, jitter: Jitter) -> timedelta:
    """Back off, but look again just after the last resolver's cache runs out when that is sooner."""
    pause = backoff(looks, jitter)
    if report is not None and report.verdict is Verdict.RESOLVERS_STALE and report.wait_s:
        pause = min(pause, timedelta(seconds=report.wait_s + 1))
    return pause


# ---- the post that ends it ------------------------------------------------------------------------


def key(followup: Followup, ending: State) -> str:
    """The outbox key of a follow-up's last post: one per follow-up and ending, whoever makes it."""
    r = followup.request
    return f"live:{r.team_id}:{r.channel_id}:{r.thread_ts}:{followup.id}:{ending.value}"


def post(followup: Followup, ending: State, message: dict[str, Any], *, now: datetime) -> Post:
    """The post in the follow-up's thread, worth posting for `POST_GRACE`."""
    r = followup.request
    return Post(
        key(followup, ending),
        r.team_id,
        r.channel_id,
        {**message, "thread_ts": r.thread_ts},
        now,
        now + POST_GRACE,
        kind=KIND,
    )


def active_key(request: Request) -> str:
    """One follow-up at a time of the same records in the same thread (a double click): a digest
    of where and what, short enough for a unique index."""
    labels = ",".join(sorted(f.wanted.label for f in request.records))
    r = request
    where = f"{r.team_id}:{r.channel_id}:{r.thread_ts}:{r.domain}:{labels}"
    return hashlib.sha256(where.encode()).hexdigest()


# ---- stored form ---------------------------------------------------------------------------------


def records_to_json(records: Sequence[Followed]) -> str:
    return json.dumps(
        [
            {
                "name": f.wanted.name,
                "type": f.wanted.rdtype,
                "kind": f.wanted.kind,
                "answer": list(f.answer),
            }
            for f in records
        ],
        ensure_ascii=False,
    )


def records_from_json(text: str) -> tuple[Followed, ...]:
    return tuple(
        Followed(Wanted(r["name"], r["type"], r.get("kind", "")), tuple(r.get("answer") or ()))
        for r in json.loads(text)
    )
