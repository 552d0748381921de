"""The `/mx watch` grammar and its replies: every form parses, junk gets the closest usage, and
watch, unwatch and list answer in Block Kit from a store on a real SQLite file.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block
from sqlalchemy.orm import Session

from bot.commands import UsageError
from bot.digest.schedule import Cadence, When
from bot.slack.watch_commands import (
    WatchCommand,
    WatchUsageError,
    answer,
    execute,
    parse_watch,
    render_home_watches,
    watch_command_for,
)
from bot.store.watch import WatchStore
from bot.store.watch_tables import ScheduleStopRow, naive
from tests.bot.watch_support import CHANNEL, NOW, TEAM, USER, store

__all__ = ["store"]  # the fixture, imported so pytest finds it here


# ---- grammar ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("watch example.com", WatchCommand("watch", None, None)),
        ("watch Example.COM hourly", WatchCommand("watch", None, When(Cadence.HOURLY, 0, 0))),
        ("watch example.com daily", WatchCommand("watch", None, When(Cadence.DAILY, 9, 0))),
        ("watch example.com daily 17:45", WatchCommand("watch", None, When(Cadence.DAILY, 17, 45))),
        (
            "watch example.com daily at 7:05 UTC",
            WatchCommand("watch", None, When(Cadence.DAILY, 7, 5)),
        ),
        ("watch example.com weekly", WatchCommand("watch", None, When(Cadence.WEEKLY, 9, 0, 0))),
        (
            "watch example.com weekly fri",
            WatchCommand("watch", None, When(Cadence.WEEKLY, 9, 0, 4)),
        ),
        (
            "watch example.com weekly Sunday 23:59",
            WatchCommand("watch", None, When(Cadence.WEEKLY, 23, 59, 6)),
        ),
        (
            "watch example.com weekly 06:00 tue",
            WatchCommand("watch", None, When(Cadence.WEEKLY, 6, 0, 1)),
        ),
        ("unwatch example.com", WatchCommand("unwatch", None)),
        ("watches", WatchCommand("list")),
        ("digest now", WatchCommand("digest")),
        ("Digest", WatchCommand("digest")),
        ("  WATCHES ", WatchCommand("list")),
        ("watchlist", WatchCommand("list")),
    ],
)
def test_every_form_of_the_grammar_parses(text: str, expected: WatchCommand) -> None:
    parsed = parse_watch(text)

    assert parsed is not None
    assert (parsed.kind, parsed.when) == (expected.kind, expected.when)
    if parsed.kind in ("watch", "unwatch"):
        assert parsed.target is not None
        assert parsed.target.name == "example.com"


def test_slack_link_markup_mentions_and_idn_are_understood() -> None:
    cases = {
        "<@UBOT> watch <http://example.com|example.com> daily 08:00": "example.com",
        "watch <mailto:ops@Example.com|ops@Example.com>": "example.com",
        "watch https://example.com/contact": "example.com",
        "watch bücher.example": "xn--bcher-kva.example",
    }
    for text, name in cases.items():
        parsed = parse_watch(text)
        assert parsed is not None
        assert parsed.target is not None
        assert parsed.target.name == name


@pytest.mark.parametrize(
    "text",
    ["", "example.com", "spf example.com 192.0.2.1", "help", "watch.example.com", "watcher a.com"],
)
def test_other_commands_are_not_watch_commands(text: str) -> None:
    assert parse_watch(text) is None


@pytest.mark.parametrize(
    ("text", "usage_start"),
    [
        ("watch", "watch example.com"),
        ("unwatch", "unwatch example.com"),
        ("watches example.com", "watches"),
        ("watch 192.0.2.1", "watch example.com"),
        ("watch not_a_domain", "watch example.com"),
        ("watch example.com monthly", "watch example.com"),
        ("watch example.com daily 25:00", "watch example.com"),
        ("watch example.com daily 9:60", "watch example.com"),
        ("watch example.com daily 09:00 10:00", "watch example.com"),
        ("watch example.com hourly 09:00", "watch example.com hourly"),
        ("watch example.com weekly caturday", "watch example.com weekly"),
        ("watch example.com weekly mon tue", "watch example.com weekly"),
        ("unwatch a.com b.com", "unwatch example.com"),
        ("digest later", "digest now"),
        ("watch " + "a" * 2000, "watch example.com"),
    ],
)
def test_junk_gets_the_closest_usage(text: str, usage_start: str) -> None:
    with pytest.raises(WatchUsageError) as caught:
        parse_watch(text)

    assert isinstance(caught.value, UsageError)  # the Slack triage catches one exception type
    assert caught.value.usage.startswith(usage_start)


def test_canonical_text_parses_back_to_the_same_command() -> None:
    for text in [
        "watch example.com",
        "watch example.com hourly",
        "watch example.com daily 07:30",
        "watch example.com weekly sat 18:00",
        "unwatch example.com",
        "watches",
        "digest now",
    ]:
        parsed = parse_watch(text)
        assert parsed is not None
        assert parse_watch(parsed.text) == parsed


@given(st.text(max_size=300))
def test_hostile_text_never_crashes_the_parser(text: str) -> None:
    for candidate in (text, "watch " + text, "watch example.com " + text, "unwatch " + text):
        with contextlib.suppress(WatchUsageError):
            parse_watch(candidate)


# ---- execute ------------------------------------------------------------------------------------


def _text(message: dict[str, object]) -> str:
    blocks = message["blocks"]
    assert isinstance(blocks, list)
    for block in Block.parse_all(blocks):
        assert block is not None
        block.validate_json()
    return "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")


async def _run(store: WatchStore, text: str, channel: str = CHANNEL) -> dict[str, object]:
    cmd = parse_watch(text)
    assert cmd is not None
    return await execute(cmd, store=store, team_id=TEAM, channel_id=channel, user_id=USER, now=NOW)


async def test_watch_unwatch_and_list_answer_in_block_kit(store: WatchStore) -> None:
    added = await _run(store, "watch example.com weekly fri 10:00")
    again = await _run(store, "watch example.com")
    await _run(store, "watch bücher.example")
    listing = await _run(store, "watches")
    removed = await _run(store, "unwatch example.com")
    missing = await _run(store, "unwatch example.com")
    await _run(store, "unwatch bücher.example")
    empty = await _run(store, "watches")

    assert "Now watching *example.com*" in _text(added)
    assert "weekly on Friday at 10:00 UTC, next on Fri 2024-05-03 10:00 UTC" in _text(added)
    assert "already" in _text(again)
    assert "weekly on Friday" in _text(again)
    assert "watches 2 of 50 domains" in _text(listing)
    assert "bücher.example (xn--bcher-kva.example)" in _text(listing)
    assert "Stopped watching *example.com*" in _text(removed)
    assert "1 left" in _text(removed)
    assert "not on this channel's watch-list" in _text(missing)
    assert "watches no domains yet" in _text(empty)
    for message in (added, again, listing, removed, missing, empty):
        assert message["text"]


async def test_changes_are_for_the_channel_and_answers_for_the_asker(store: WatchStore) -> None:
    added = await _run(store, "watch example.com")
    again = await _run(store, "watch example.com")
    moved = await _run(store, "watch example.com hourly")
    listing = await _run(store, "watches")
    removed = await _run(store, "unwatch example.com")
    missing = await _run(store, "unwatch example.com")

    announced = [
        m.get("response_type") == "in_channel"
        for m in (added, again, moved, listing, removed, missing)
    ]
    assert announced == [True, False, True, False, True, False]
    assert f"(by <@{USER}>)" in _text(added)
    assert f"(by <@{USER}>)" in _text(removed)


async def test_the_list_says_when_slack_refused_the_channels_digests(store: WatchStore) -> None:
    await _run(store, "watch example.com")
    schedule = await store.schedule(TEAM, CHANNEL)
    assert schedule is not None
    with Session(store.engine) as session:
        session.add(
            ScheduleStopRow(
                schedule_id=schedule.id, reason="Slack said is_archived", stopped_at=naive(NOW)
            )
        )
        session.commit()

    listing = await _run(store, "watches")

    assert "Digests are stopped: Slack said is_archived" in _text(listing)
    assert "`/mx digest now`" in _text(listing)


async def test_the_fifty_first_domain_is_refused_clearly(store: WatchStore) -> None:
    for i in range(50):
        await store.add_watch(TEAM, CHANNEL, f"d{i:02d}.example", user_id=USER, now=NOW)

    refused = await _run(store, "watch one-more.example")
    listing = await _run(store, "watches")

    assert "already watches 50 domains" in _text(refused)
    assert len(await store.watches(TEAM, CHANNEL)) == 50
    assert "d49.example" in _text(listing)
    blocks = listing["blocks"]
    assert isinstance(blocks, list)
    assert len(blocks) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks)


def test_app_home_lists_each_channels_watches() -> None:
    blocks = render_home_watches(
        {"C0123ABCD": ["a.example", "xn--bcher-kva.example"], "<!here>": ["b.example"]}
    )

    texts = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert "<#C0123ABCD>: 2 watched · a.example, bücher.example (xn--bcher-kva.example)" in texts
    assert "&lt;!here&gt;: 1 watched · b.example" in texts
    assert render_home_watches({})[-1]["type"] == "context"
    for block in Block.parse_all(blocks):
        assert block is not None
        block.validate_json()


def test_the_watch_button_value_becomes_a_watch_command() -> None:
    assert watch_command_for("Example.com") == parse_watch("watch example.com")
    with pytest.raises(ValueError, match="only domains"):
        watch_command_for("192.0.2.1")


_vocabulary = st.sampled_from(
    [
        "watch",
        "unwatch",
        "watches",
        "example.com",
        "<http://a.example|a.example>",
        "192.0.2.1",
        "hourly",
        "daily",
        "weekly",
        "mon",
        "Sunday",
        "at",
        "utc",
        "09:00",
        "24:00",
        "9:5",
        "<!channel>",
        "<@U123>",
        "bücher.example",
        "..",
    ]
)


@given(st.lists(_vocabulary | st.text(max_size=12), max_size=8))
def test_grammar_shaped_junk_parses_or_gets_a_usage(words: list[str]) -> None:
    usage = ""
    parsed: WatchCommand | None = None
    try:
        parsed = parse_watch(" ".join(words))
    except WatchUsageError as exc:
        usage = exc.usage
    if usage:
        assert usage.split()[0] in {"watch", "unwatch", "watches"}
    elif parsed is not None:
        assert parse_watch(parsed.text) == parsed


async def test_answer_is_the_one_seam_for_listeners(store: WatchStore) -> None:
    async def say(text: str, prefix: str = "/mx") -> dict[str, object] | None:
        return await answer(
            text,
            store=store,
            team_id=TEAM,
            channel_id=CHANNEL,
            user_id=USER,
            prefix=prefix,
            now=NOW,
        )

    other = await say("example.com spf")
    bad = await say("<@UBOT> watch example.com <!channel>", "@mxbot")
    done = await say("watch example.com")

    assert other is None
    assert bad is not None
    assert "Try: `@mxbot watch example.com daily 09:00`" in _text(bad)
    assert "<!" not in str(bad)
    assert "&lt;!channel&gt;" in _text(bad)
    assert done is not None
    assert "Now watching *example.com*" in _text(done)
