"""`/mx watch`, `/mx unwatch` and `/mx watches`: a channel's watch-list and its digest schedule.

    watch example.com                       add (digest: the channel's, or daily at 09:00 UTC)
    watch example.com hourly                … and post the digest every hour
    watch example.com daily [HH:MM]         … every day at HH:MM UTC (default 09:00)
    watch example.com weekly [mon] [HH:MM]  … every week (default Monday 09:00 UTC)
    watch example.com [when] alert [after N] … and alert between digests, after N runs in a row
    watch example.com alert off             … and stop alerting
    unwatch example.com
    history example.com                     the record values that changed, with dates
    watches                                 this channel's list and schedule
    digest now                              post this channel's digest now (`bot.slack.digest_now`)

A change to the list is announced in the channel (`response_type: in_channel`), naming who made
it; the rest is answered to the asker alone. `parse_watch` is pure: None when the text is not one of these commands, a `WatchCommand`
otherwise, or `WatchUsageError` (a `bot.commands.UsageError`) naming the closest valid usage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from bot.commands import UsageError
from bot.digest.alerts import DEFAULT_THRESHOLD, MAX_THRESHOLD
from bot.digest.history import MAX_LISTED, render_history
from bot.digest.schedule import Cadence, Schedule, When, weekday_index
from bot.render.blocks import clip, context_block, escape, render_text, section_block
from bot.store.watch import AddOutcome, WatchStore
from checks.target import Target, TargetError, normalise

MAX_TEXT: Final = 1000
MAX_SECTION: Final = 3000

USAGE_WATCH: Final = "watch example.com daily 09:00"
USAGE_UNWATCH: Final = "unwatch example.com"
USAGE_LIST: Final = "watches"
USAGE_DIGEST: Final = "digest now"
USAGE_ALERT: Final = "watch example.com alert after 3"
USAGE_HISTORY: Final = "history example.com"
WATCH_USAGES: Final = (
    (
        "watch example.com [hourly | daily HH:MM | weekly mon HH:MM]",
        "watch a domain in this channel",
    ),
    (
        "watch example.com alert [after N]",
        "also alert here between digests when it fails, a certificate nears expiry or an "
        "address is listed (after N checks in a row, default 2); `alert off` stops",
    ),
    ("unwatch example.com", "stop watching it"),
    ("history example.com", "a watched domain's record changes (MX, SPF, DMARC, …), with dates"),
    ("watches", "this channel's watch-list and digest schedule"),
    ("digest now", "post this channel's digest now"),
)

_VERBS: Final = {
    "watch": "watch",
    "unwatch": "unwatch",
    "watches": "list",
    "watchlist": "list",
    "digest": "digest",
    "history": "history",
}
_FILLER: Final = frozenset({"at", "on", "every", "utc", "z", "gmt", "please", "pls"})
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,20}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{1,20}$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?:z|utc)?$", re.IGNORECASE)

Kind = Literal["watch", "unwatch", "list", "digest", "history"]
_ALERT_WORDS: Final = frozenset({"alert", "alerts", "alerting"})
Message = dict[str, Any]


class WatchUsageError(UsageError):
    """Not a valid watch command; `usage` is the closest valid form (without the `/mx`)."""


@dataclass(frozen=True, slots=True)
class WatchCommand:
    kind: Kind
    target: Target | None = None
    when: When | None = None  # None: keep the channel's schedule (or the default for a new one)
    alert: int | None = None  # alert after this many runs in a row; 0: stop; None: unchanged

    @property
    def text(self) -> str:
        """The canonical text; `parse_watch(cmd.text) == cmd`."""
        if self.kind == "digest":
            return USAGE_DIGEST
        if self.kind == "list" or self.target is None:
            return "watches"
        if self.kind == "history":
            return f"history {self.target.name}"
        parts = [self.kind, self.target.name]
        when = self.when
        if when is not None:
            parts.append(when.cadence.value)
            if when.cadence is Cadence.WEEKLY:
                parts.append(("mon", "tue", "wed", "thu", "fri", "sat", "sun")[when.weekday])
            if when.cadence is not Cadence.HOURLY:
                parts.append(f"{when.hour:02d}:{when.minute:02d}")
        if self.alert is not None:
            parts.extend(["alert", f"after {self.alert}" if self.alert else "off"])
        return " ".join(parts)


def parse_watch(text: str) -> WatchCommand | None:
    """Parse a watch command; None when the text is some other command."""
    tokens = _tokens(text[: MAX_TEXT + 1])
    if not tokens or tokens[0].lower() not in _VERBS:
        return None
    if len(text) > MAX_TEXT:
        raise WatchUsageError("That is too long for one command.", USAGE_WATCH)
    kind: Kind = _VERBS[tokens[0].lower()]  # type: ignore[assignment]
    rest = tokens[1:]
    if kind == "list":
        if rest:
            raise WatchUsageError("`watches` takes nothing after it.", USAGE_LIST)
        return WatchCommand("list")
    if kind == "digest":
        if [t.lower() for t in rest] not in ([], ["now"]):
            raise WatchUsageError("`digest now` posts this channel's digest now.", USAGE_DIGEST)
        return WatchCommand("digest")
    usage = {"watch": USAGE_WATCH, "history": USAGE_HISTORY}.get(kind, USAGE_UNWATCH)
    if kind == "history":  # "history of example.com"
        rest = [t for t in rest if t.lower() not in ("of", "for")]
    if not rest:
        raise WatchUsageError(f"Tell me which domain to {kind}.", usage)
    target = _domain(rest[0], usage)
    if kind in ("unwatch", "history"):
        if len(rest) > 1:
            raise WatchUsageError(f"`{kind}` takes one domain.", usage)
        return WatchCommand(kind, target)
    words, alert = _alert([t for t in rest[1:] if t.lower() not in _FILLER])
    return WatchCommand("watch", target, _when(words), alert)


async def answer(
    text: str,
    *,
    store: WatchStore,
    team_id: str,
    channel_id: str,
    user_id: str,
    prefix: str = "/mx",
    now: datetime | None = None,
) -> Message | None:
    """The whole seam for a listener: None when `text` is not a watch command, else the reply
    (the outcome, or the closest usage for a malformed one), ready for `ack(**…)`."""
    try:
        cmd = parse_watch(text)
    except UsageError as exc:
        return _text(
            f"{escape(exc.reason)}\nTry: `{escape(prefix)} {escape(exc.usage)}` "
            f"(or `{escape(prefix)} help`)"
        )
    if cmd is None:
        return None
    return await execute(
        cmd, store=store, team_id=team_id, channel_id=channel_id, user_id=user_id, now=now
    )


def asks_for_digest(text: str) -> bool:
    """Whether the text is `digest now` (run by the app, not answered here)."""
    try:
        cmd = parse_watch(text)
    except UsageError:
        return False
    return cmd is not None and cmd.kind == "digest"


def watch_command_for(domain: str) -> WatchCommand:
    """The command a "Watch" button on a report stands for (raises TargetError on junk)."""
    target = normalise(domain)
    if target.is_address:
        raise TargetError("only domains can be watched")
    return WatchCommand("watch", target)


async def execute(
    cmd: WatchCommand,
    *,
    store: WatchStore,
    team_id: str,
    channel_id: str,
    user_id: str,
    now: datetime | None = None,
) -> Message:
    """Do it and say what happened, as a message ready for `ack(**…)` or `respond(**…)`."""
    now = now or datetime.now(UTC)
    if cmd.kind == "digest":  # run by the app (`bot.slack.digest_now`), which has the engine
        return _text("Digests are not run by this mxbot.")
    if cmd.kind == "list" or cmd.target is None:
        return await _list(store, team_id, channel_id)
    name = cmd.target.name
    if cmd.kind == "history":
        changes = await store.history.of(team_id, name, limit=MAX_LISTED + 1)
        return render_history(
            cmd.target.display,
            changes[:MAX_LISTED],
            keep=store.history.keep,
            more=len(changes) > MAX_LISTED,
        )
    if cmd.kind == "unwatch":
        removed = await store.remove_watch(team_id, channel_id, name)
        if not removed:
            return _text(f"*{_shown(cmd.target)}* is not on this channel's watch-list.")
        left = await store.watches(team_id, channel_id)
        tail = f" {len(left)} left." if left else " The list is empty, so digests stop."
        return _announce(f"Stopped watching *{_shown(cmd.target)}* here{_by(user_id)}.{tail}")
    outcome = await store.add_watch(team_id, channel_id, name, user_id=user_id, now=now)
    if outcome is AddOutcome.FULL:
        return _text(
            f"This channel already watches {store.max_watches} domains, the most one channel can. "
            f"Unwatch one first (`/mx {escape(USAGE_UNWATCH)}`), or watch it from another channel."
        )
    schedule = await store.set_schedule(team_id, channel_id, cmd.when, now=now)
    if cmd.alert is not None:
        await store.alerts.set(team_id, channel_id, name, cmd.alert, now=now)
    alerting = (await store.alerts.thresholds(team_id, channel_id)).get(name, 0)
    count = len(await store.watches(team_id, channel_id))
    first = (
        f"Now watching *{_shown(cmd.target)}* in this channel{_by(user_id)}"
        if outcome is AddOutcome.ADDED
        else f"*{_shown(cmd.target)}* was already on this channel's watch-list"
    )
    text = (
        f"{first} ({count} of {store.max_watches}).\n"
        f"Digest: {_schedule_line(schedule)}. {_alert_line(alerting, store)}"
        "See the list with `/mx watches`."
    )
    changed = outcome is AddOutcome.ADDED or cmd.when is not None or cmd.alert is not None
    return _announce(text) if changed else _text(text)


def render_home_watches(watches: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """App Home blocks for a workspace's watch-lists (`WatchStore.team_watches`), at most 20."""
    blocks: list[dict[str, Any]] = [
        {"type": "divider"},
        section_block("*Watch-lists in this workspace*"),
    ]
    if not watches:
        blocks.append(context_block(f"None yet: type `/mx {escape(USAGE_WATCH)}` in a channel."))
        return blocks
    for channel, domains in list(watches.items())[:20]:
        # A channel link (<#C…>) notifies no one; only ids Slack could have issued get one.
        where = f"<#{channel}>" if _CHANNEL_ID.match(channel) else escape(channel)
        names = ", ".join(escape(_display(d)) for d in domains)
        blocks.append(section_block(f"{where}: {len(domains)} watched · {names}"))
    return blocks


def render_watch_help() -> str:
    """Usage lines for `/mx help` (mrkdwn, escaped)."""
    return "\n".join(f"`/mx {escape(form)}`: {escape(what)}" for form, what in WATCH_USAGES)


# ---- parsing ------------------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    text = _MENTION.sub(" ", text).replace("\u00a0", " ")
    parts = re.findall(r"<[^<>]*>|[^\s,;]+", text)
    tokens = [p if p.startswith("<") else p.strip("\"'`()[]{}!?") for p in parts]
    return [t for t in tokens if t]


def _domain(word: str, usage: str) -> Target:
    try:
        target = normalise(word)
    except TargetError as exc:
        raise WatchUsageError(f"{str(exc).rstrip('.')}.", usage) from None
    if target.is_address:
        raise WatchUsageError("Only domains can be watched, not IP addresses.", usage)
    return target


def _alert(words: list[str]) -> tuple[list[str], int | None]:
    """`alert [after N | N | on | off]` anywhere after the domain: the words left, and the
    threshold (None when not mentioned, 0 for off)."""
    at = next((i for i, w in enumerate(words) if w.lower() in _ALERT_WORDS), None)
    if at is None:
        return words, None
    rest = [w.lower() for w in words[at + 1 :]]
    if rest[:1] == ["after"]:
        rest = rest[1:]
        if not rest or not rest[0].isdigit():
            raise WatchUsageError("Say after how many checks in a row to alert.", USAGE_ALERT)
    taken, threshold = 0, DEFAULT_THRESHOLD
    if rest and rest[0].isdigit():
        taken, threshold = 1, int(rest[0])
        if not 1 <= threshold <= MAX_THRESHOLD:
            raise WatchUsageError(f"Alert after 1 to {MAX_THRESHOLD} checks in a row.", USAGE_ALERT)
    elif rest and rest[0] in ("off", "no", "stop", "none"):
        taken, threshold = 1, 0
    elif rest and rest[0] == "on":
        taken = 1
    skip = taken + (1 if words[at + 1 : at + 2] and words[at + 1].lower() == "after" else 0)
    return words[:at] + words[at + 1 + skip :], threshold


def _when(words: list[str]) -> When | None:
    if not words:
        return None
    cadence_word, rest = words[0].lower(), words[1:]
    try:
        cadence = Cadence(cadence_word)
    except ValueError:
        raise WatchUsageError(
            f"{words[0]!r} is not a schedule; use hourly, daily or weekly.", USAGE_WATCH
        ) from None
    if cadence is Cadence.HOURLY:
        if rest:
            raise WatchUsageError("`hourly` takes no time.", "watch example.com hourly")
        return When(Cadence.HOURLY, 0, 0)
    if cadence is Cadence.DAILY:
        if len(rest) > 1:
            raise WatchUsageError("Give one time of day, such as 09:00.", USAGE_WATCH)
        hour, minute = _clock(rest[0], USAGE_WATCH) if rest else (9, 0)
        return When(Cadence.DAILY, hour, minute)
    return _weekly(rest)


def _weekly(words: list[str]) -> When:
    usage = "watch example.com weekly mon 09:00"
    day: int | None = None
    clock: tuple[int, int] | None = None
    for word in words:
        index = weekday_index(word)
        if index is not None and day is None:
            day = index
        elif _CLOCK.match(word) and clock is None:
            clock = _clock(word, usage)
        else:
            raise WatchUsageError(f"{word!r} is not a weekday or a time (HH:MM UTC).", usage)
    hour, minute = clock or (9, 0)
    return When(Cadence.WEEKLY, hour, minute, 0 if day is None else day)


def _clock(word: str, usage: str) -> tuple[int, int]:
    match = _CLOCK.match(word)
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise WatchUsageError(f"{word!r} is not a time of day; use HH:MM in UTC.", usage)
    return int(match.group(1)), int(match.group(2))


# ---- replies ------------------------------------------------------------------------------------


async def _list(store: WatchStore, team_id: str, channel_id: str) -> Message:
    watches = await store.watches(team_id, channel_id)
    if not watches:
        return _text(
            f"This channel watches no domains yet. Start with `/mx {escape(USAGE_WATCH)}`."
        )
    schedule = await store.schedule(team_id, channel_id)
    head = f"*This channel watches {len(watches)} of {store.max_watches} domains.*"
    if schedule is not None:
        head += f"\nDigest: {_schedule_line(schedule)}."
        stopped = await store.stop_reason(schedule.id)
        if stopped:
            head += (
                f"\nDigests are stopped: {escape(stopped)}. `/mx {escape(USAGE_DIGEST)}` "
                "or `/mx watch …` here starts them again."
            )
    alerting = await store.alerts.thresholds(team_id, channel_id)
    names = [
        f"• {escape(_display(w.domain))}"
        + (f" :bell: alerts after {alerting[w.domain]}" if w.domain in alerting else "")
        for w in watches
    ]
    sections = [head, *_pack(names)]
    blocks = [section_block(s) for s in sections[:49]]
    fallback = f"This channel watches {len(watches)} domains: " + ", ".join(
        _display(w.domain) for w in watches
    )
    return {"text": clip(escape(fallback), MAX_SECTION), "blocks": blocks}


def _alert_line(threshold: int, store: WatchStore) -> str:
    if not threshold:
        return ""
    minutes = int(store.alerts.interval.total_seconds() // 60)
    return (
        f"Alerts: here, when it fails, a certificate nears expiry or an address is listed, "
        f"after {threshold} check{'s' if threshold != 1 else ''} in a row "
        f"(checked every {minutes} min). "
    )


def _schedule_line(schedule: Schedule) -> str:
    stamp = schedule.next_run_at.astimezone(UTC).strftime("%a %Y-%m-%d %H:%M UTC")
    return f"{schedule.when.describe()}, next on {stamp}"


def _shown(target: Target) -> str:
    return escape(target.display)


def _display(name: str) -> str:
    try:
        return normalise(name).display
    except TargetError:
        return name


def _pack(lines: list[str]) -> list[str]:
    packed: list[str] = []
    for line in lines:
        line = clip(line, MAX_SECTION)
        if packed and len(packed[-1]) + 1 + len(line) <= MAX_SECTION:
            packed[-1] += "\n" + line
        else:
            packed.append(line)
    return packed


def _text(mrkdwn: str) -> Message:
    """A one-section message for the asker alone; `mrkdwn` is already escaped."""
    return render_text(mrkdwn)


def _announce(mrkdwn: str) -> Message:
    """A change to the channel's watch-list, told to the whole channel."""
    return {**render_text(mrkdwn), "response_type": "in_channel"}


def _by(user_id: str) -> str:
    """ " (by @someone)": a mention of who changed the list, when the id is one Slack issues."""
    return f" (by <@{user_id}>)" if _USER_ID.match(user_id) else ""
