"""Alerts between digests (pure): what a run says about each watched condition, the debounced
state machine over consecutive runs, and the alert or recovery post a transition makes.

Three conditions per alerting watch: the domain **fails** (a fail or error status: the report's
headline is the reason), a mail host's **certificate** expires within 14 days, an address is
**listed** on a blocklist. Each is a two-state machine with hysteresis:

    OK ──N bad runs in a row──► ALERTING   (one alert: key alert:T:C:domain:condition:since)
    ALERTING ──N good runs in a row──► OK  (one recovery: key recovery:T:C:domain:condition:since)

A run that contradicts the state adds one to the streak; one that agrees clears it; one that could
not measure the condition (no certificate seen, no blocklist answered) leaves it as it is. So a
flapping domain never reaches N in a row and posts nothing, and each transition posts once: its
key names the run that began it (`since`), whichever instance makes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from bot.digest.delivery import Post
from bot.render.blocks import EMOJI, context_block, escape, section_block
from checks.model import Report, Status

DEFAULT_THRESHOLD: Final = 2  # consecutive runs before an alert, and before its recovery
MAX_THRESHOLD: Final = 20
DEFAULT_INTERVAL: Final = timedelta(minutes=15)  # MXBOT_ALERT_INTERVAL
EXPIRY_WARNING: Final = timedelta(days=14)
ALERT_GRACE: Final = timedelta(hours=1)  # an alert not posted within this is dropped
MAX_KEY: Final = 200  # the outbox key's column
MAX_REASON: Final = 500
_BROKEN: Final = frozenset({Status.FAIL, Status.ERROR})


class Condition(StrEnum):
    FAILING = "failing"
    CERTIFICATE = "certificate"
    LISTED = "listed"


_WHAT: Final = {
    Condition.FAILING: "is failing",
    Condition.CERTIFICATE: "has a certificate about to expire",
    Condition.LISTED: "is on a blocklist",
}
_CLEARED: Final = {
    Condition.FAILING: "no longer fails",
    Condition.CERTIFICATE: "has a certificate valid for more than 14 days again",
    Condition.LISTED: "is off every blocklist",
}


@dataclass(frozen=True, slots=True)
class Reading:
    """What one run says of one condition: bad, good, or None (not measured this time)."""

    condition: Condition
    bad: bool | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class State:
    """Where one condition stands."""

    alerting: bool = False
    streak: int = 0  # runs in a row against the state
    streak_since: datetime | None = None  # the first of them
    since: datetime | None = None  # alerting: when the bad runs that raised it began
    reason: str = ""  # alerting: the latest reason


@dataclass(frozen=True, slots=True)
class Transition:
    condition: Condition
    alert: bool  # True: an alert; False: its recovery
    since: datetime  # the alert's start: the key of both
    reason: str


@dataclass(frozen=True, slots=True)
class AlertWatch:
    """A watched domain that alerts, as claimed for one check."""

    watch_id: int
    team_id: str
    channel_id: str
    domain: str
    threshold: int
    states: Mapping[Condition, State]


def read(report: Report, now: datetime) -> tuple[Reading, ...]:
    """The three conditions in a finished report."""
    failing = report.status in _BROKEN
    reason = report.headline or _worst_message(report)
    return (
        Reading(Condition.FAILING, failing, reason if failing else ""),
        _certificate(report, now),
        _listed(report),
    )


def step(
    state: State, reading: Reading, threshold: int, now: datetime
) -> tuple[State, Transition | None]:
    """One run's effect on one condition, and the transition it completes, if any."""
    if reading.bad is None:
        return state, None
    if reading.bad == state.alerting:  # agrees: the streak against it is broken
        reason = reading.reason if state.alerting else state.reason
        return replace(state, streak=0, streak_since=None, reason=reason), None
    first = state.streak_since or now
    streak = state.streak + 1
    if streak < threshold:
        return replace(state, streak=streak, streak_since=first), None
    if reading.bad:
        return State(True, since=first, reason=reading.reason), Transition(
            reading.condition, True, first, reading.reason
        )
    return State(), Transition(reading.condition, False, state.since or first, state.reason)


def advance(
    watch: AlertWatch, readings: Sequence[Reading], now: datetime
) -> tuple[dict[Condition, State], list[Transition]]:
    """Every condition moved on by one run."""
    states = dict(watch.states)
    transitions = []
    for reading in readings:
        state, made = step(states.get(reading.condition, State()), reading, watch.threshold, now)
        states[reading.condition] = state
        if made is not None:
            transitions.append(made)
    return states, transitions


# ---- posts --------------------------------------------------------------------------------------


def alert_key(watch: AlertWatch, transition: Transition) -> str:
    """`alert:T:C:domain:condition:since` (`recovery:…` for its recovery); a domain too long for
    the outbox's key is replaced by its hash."""
    kind = "alert" if transition.alert else "recovery"
    since = transition.since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = [kind, watch.team_id, watch.channel_id, watch.domain, transition.condition.value, since]
    key = ":".join(parts)
    if len(key) > MAX_KEY:
        parts[3] = hashlib.sha256(watch.domain.encode()).hexdigest()[:32]
        key = ":".join(parts)
    return key


def post_for(watch: AlertWatch, transition: Transition, now: datetime) -> Post:
    """The transition as a scheduled post, worth posting for an hour."""
    return Post(
        key=alert_key(watch, transition),
        team_id=watch.team_id,
        channel_id=watch.channel_id,
        message=render(watch, transition, now),
        due_at=now,
        expires_at=now + ALERT_GRACE,
        kind="alert" if transition.alert else "recovery",
    )


def render(watch: AlertWatch, transition: Transition, now: datetime) -> dict[str, Any]:
    """One section and a context line; remote text (the reason, the domain) escaped."""
    domain = escape(watch.domain)
    reason = escape(_clip(transition.reason))
    runs = f"{watch.threshold} check{'s' if watch.threshold != 1 else ''} in a row"
    if transition.alert:
        head = f"{EMOJI[Status.FAIL]} *{domain}* {_WHAT[transition.condition]}"
        body = f"{head}\n{reason}" if reason else head
        note = f"Seen in {runs} since {_stamp(transition.since)}"
        text = f"{watch.domain} {_WHAT[transition.condition]}: {transition.reason}"
    else:
        head = f"{EMOJI[Status.PASS]} *{domain}* {_CLEARED[transition.condition]}"
        body = f"{head}\n_Was: {reason}_" if reason else head
        note = f"Clear in {runs}; alerting since {_stamp(transition.since)}"
        text = f"{watch.domain} {_CLEARED[transition.condition]}"
    context = f"{note} · `/mx {domain}` for the full report · checked {_stamp(now)}"
    return {
        "text": escape(_clip(text)),
        "blocks": [section_block(body), context_block(context)],
    }


# ---- states as stored ---------------------------------------------------------------------------


def states_to_json(states: Mapping[Condition, State]) -> str:
    return json.dumps({c.value: _state_json(s) for c, s in states.items()})


def states_from_json(text: str) -> dict[Condition, State]:
    data: dict[str, dict[str, Any]] = json.loads(text or "{}")
    return {
        Condition(name): _state_of(item) for name, item in data.items() if name in set(Condition)
    }


def _state_json(state: State) -> dict[str, Any]:
    return {
        "alerting": state.alerting,
        "streak": state.streak,
        "streak_since": _iso(state.streak_since),
        "since": _iso(state.since),
        "reason": state.reason,
    }


def _state_of(item: Mapping[str, Any]) -> State:
    return State(
        bool(item.get("alerting")),
        int(item.get("streak", 0)),
        _time(item.get("streak_since")),
        _time(item.get("since")),
        str(item.get("reason", "")),
    )


# ---- readings -----------------------------------------------------------------------------------


def _certificate(report: Report, now: datetime) -> Reading:
    expiries = [
        (fact.value, fact.subject)
        for result in report.results
        for fact in result.facts
        if fact.name == "tls.not_after"
    ]
    if not expiries:
        return Reading(Condition.CERTIFICATE, None)
    soonest, host = min(expiries)
    ends = datetime.fromtimestamp(soonest, UTC)
    if ends - now >= EXPIRY_WARNING:
        return Reading(Condition.CERTIFICATE, False)
    days = (ends - now).days
    when = ends.strftime("%Y-%m-%d")
    reason = (
        f"The certificate of {host} expired on {when}."
        if ends <= now
        else f"The certificate of {host} expires on {when} ({days} day{'s' if days != 1 else ''} left)."
    )
    return Reading(Condition.CERTIFICATE, True, reason)


def _listed(report: Report) -> Reading:
    listings = [
        (fact.subject, fact.value)
        for result in report.results
        for fact in result.facts
        if fact.name == "dnsbl.listed"
    ]
    if not listings:
        return Reading(Condition.LISTED, None)
    zones = sorted(zone for zone, count in listings if count > 0)
    if not zones:
        return Reading(Condition.LISTED, False)
    return Reading(Condition.LISTED, True, f"Mail addresses are listed on {', '.join(zones)}.")


def _worst_message(report: Report) -> str:
    for result in report.results:
        headline = result.headline
        if headline is not None and headline.status in _BROKEN:
            return headline.message
    return ""


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None
