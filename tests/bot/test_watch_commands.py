"""Watch-lists: the `/mx watch` grammar, the store on a real SQLite file, and atomic claims."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from bot.commands import UsageError
from bot.digest.schedule import Cadence, When
from bot.digest.snapshot import DomainSnapshot, FindingState, snapshot_from_json, snapshot_to_json
from bot.slack.watch_commands import (
    WatchCommand,
    WatchUsageError,
    answer,
    execute,
    parse_watch,
    render_home_watches,
    watch_command_for,
)
from bot.store.watch import AddOutcome, WatchStore
from checks.model import Status

NOW = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)  # a Wednesday
TEAM, CHANNEL, USER = "T1", "C1", "U1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WatchStore]:
    watch_store = WatchStore(f"sqlite:///{tmp_path / 'mxbot.db'}")
    watch_store.create_all()
    yield watch_store
    watch_store.close()


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
        ("  WATCHES ", WatchCommand("list")),
        ("watchlist", WatchCommand("list")),
    ],
)
def test_every_form_of_the_grammar_parses(text: str, expected: WatchCommand) -> None:
    parsed = parse_watch(text)

    assert parsed is not None
    assert (parsed.kind, parsed.when) == (expected.kind, expected.when)
    if parsed.kind != "list":
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
        ("watch " + "a" * 2000, "watch example.com"),
    ],
)
def test_junk_gets_the_closest_usage(text: str, usage_start: str) -> None:
    with pytest.raises(WatchUsageError) as caught:
        parse_watch(text)

    assert isinstance(caught.value, UsageError)  # handlers catch one exception type
    assert caught.value.usage.startswith(usage_start)


def test_canonical_text_parses_back_to_the_same_command() -> None:
    for text in [
        "watch example.com",
        "watch example.com hourly",
        "watch example.com daily 07:30",
        "watch example.com weekly sat 18:00",
        "unwatch example.com",
        "watches",
    ]:
        parsed = parse_watch(text)
        assert parsed is not None
        assert parse_watch(parsed.text) == parsed


@given(st.text(max_size=300))
def test_hostile_text_never_crashes_the_parser(text: str) -> None:
    for candidate in (text, "watch " + text, "watch example.com " + text, "unwatch " + text):
        with contextlib.suppress(WatchUsageError):
            parse_watch(candidate)


# ---- store --------------------------------------------------------------------------------------


async def test_watch_lists_round_trip_per_channel(store: WatchStore) -> None:
    assert (
        await store.add_watch(TEAM, CHANNEL, "b.example", user_id=USER, now=NOW) is AddOutcome.ADDED
    )
    assert (
        await store.add_watch(TEAM, CHANNEL, "a.example", user_id=USER, now=NOW) is AddOutcome.ADDED
    )
    assert (
        await store.add_watch(TEAM, CHANNEL, "a.example", user_id=USER, now=NOW)
        is AddOutcome.ALREADY
    )
    await store.add_watch(TEAM, "C2", "c.example", user_id=USER, now=NOW)

    watches = await store.watches(TEAM, CHANNEL)

    assert [w.domain for w in watches] == ["a.example", "b.example"]
    assert watches[0].created_at == NOW
    assert watches[0].added_by == USER
    assert await store.team_watches(TEAM) == {
        CHANNEL: ["a.example", "b.example"],
        "C2": ["c.example"],
    }
    assert await store.watches("T2", CHANNEL) == []


async def test_a_channel_holds_at_most_the_limit(tmp_path: Path) -> None:
    small = WatchStore(f"sqlite:///{tmp_path / 'small.db'}", max_watches=3)
    small.create_all()
    for i in range(3):
        await small.add_watch(TEAM, CHANNEL, f"d{i}.example", user_id=USER, now=NOW)

    outcome = await small.add_watch(TEAM, CHANNEL, "d3.example", user_id=USER, now=NOW)

    assert outcome is AddOutcome.FULL
    assert len(await small.watches(TEAM, CHANNEL)) == 3
    small.close()


async def test_schedules_round_trip_and_the_last_unwatch_removes_them(store: WatchStore) -> None:
    await store.add_watch(TEAM, CHANNEL, "a.example", user_id=USER, now=NOW)
    default = await store.set_schedule(TEAM, CHANNEL, None, now=NOW)
    kept = await store.set_schedule(TEAM, CHANNEL, None, now=NOW)
    weekly = await store.set_schedule(TEAM, CHANNEL, When(Cadence.WEEKLY, 6, 15, 4), now=NOW)

    assert default.when == When(Cadence.DAILY, 9, 0)
    assert default.next_run_at == datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    assert kept == default
    assert weekly.id == default.id
    assert await store.schedule(TEAM, CHANNEL) == weekly
    assert weekly.next_run_at == datetime(2024, 5, 3, 6, 15, tzinfo=UTC)

    assert await store.remove_watch(TEAM, CHANNEL, "a.example") is True
    assert await store.remove_watch(TEAM, CHANNEL, "a.example") is False
    assert await store.schedule(TEAM, CHANNEL) is None


async def test_runs_keep_their_snapshot_and_only_posted_ones_count(store: WatchStore) -> None:
    await store.add_watch(TEAM, CHANNEL, "a.example", user_id=USER, now=NOW)
    schedule = await store.set_schedule(TEAM, CHANNEL, When(Cadence.HOURLY), now=NOW)
    snap = {
        "a.example": DomainSnapshot(
            "a.example",
            Status.FAIL,
            (FindingState("spf", "spf.missing", Status.FAIL, "<!channel>"),),
        )
    }
    later = NOW + timedelta(hours=1)
    assert await store.claim(schedule.id, "me", now=later)

    finished = await store.finish(
        schedule.id,
        "me",
        ran_at=later,
        snapshot=snap,
        posted=True,
        next_run_at=later + timedelta(hours=1),
    )
    assert await store.claim(schedule.id, "me", now=later + timedelta(hours=1))
    await store.finish(
        schedule.id,
        "me",
        ran_at=later + timedelta(hours=1),
        snapshot={},
        posted=False,
        next_run_at=later + timedelta(hours=2),
    )

    run = await store.last_run(schedule.id)
    assert finished
    assert run is not None
    assert run.ran_at == later
    assert run.posted
    assert run.snapshot == snap
    assert run.status is Status.FAIL
    unposted = await store.last_run(schedule.id, posted_only=False)
    assert unposted is not None
    assert not unposted.posted
    assert snapshot_from_json(snapshot_to_json(snap)) == snap


async def test_a_schedule_is_claimed_only_when_due_and_unleased(store: WatchStore) -> None:
    await store.add_watch(TEAM, CHANNEL, "a.example", user_id=USER, now=NOW)
    schedule = await store.set_schedule(TEAM, CHANNEL, When(Cadence.DAILY, 9, 0), now=NOW)
    due = schedule.next_run_at

    early = await store.claim_next("a", now=due - timedelta(seconds=1))
    first = await store.claim_next("a", now=due)
    second = await store.claim_next("b", now=due + timedelta(minutes=1))
    after_lease = await store.claim_next("b", now=due + timedelta(minutes=16))

    assert early is None
    assert first == schedule
    assert second is None  # a holds the lease
    assert after_lease == schedule  # a died; b takes over
    assert not await store.finish(
        schedule.id, "a", ran_at=due, snapshot={}, posted=True, next_run_at=due + timedelta(days=1)
    )  # a's lease is gone: its late finish changes nothing


def test_two_instances_racing_for_due_schedules_never_both_win(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    setup = WatchStore(url)
    setup.create_all()
    ids = []
    for i in range(20):
        channel = f"C{i}"
        WatchStore.add_watch.sync(setup, TEAM, channel, "a.example", user_id=USER, now=NOW)
        ids.append(
            WatchStore.set_schedule.sync(setup, TEAM, channel, When(Cadence.HOURLY), now=NOW).id
        )
    instances = [WatchStore(url), WatchStore(url)]
    due = NOW + timedelta(hours=1)
    barrier = threading.Barrier(2)
    won: dict[str, list[int]] = {"one": [], "two": []}

    def race(name: str, instance: WatchStore) -> None:
        for schedule_id in ids:
            barrier.wait(timeout=5)
            if WatchStore.claim.sync(
                instance, schedule_id, name, now=due, lease=timedelta(minutes=15)
            ):
                won[name].append(schedule_id)

    threads = [
        threading.Thread(target=race, args=(name, inst))
        for name, inst in zip(won, instances, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(won["one"] + won["two"]) == ids  # every schedule claimed exactly once
    assert not set(won["one"]) & set(won["two"])
    for instance in [setup, *instances]:
        instance.close()


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
