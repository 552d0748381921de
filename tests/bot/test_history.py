"""Record history: each record value kept once with when it was first and last seen, changes as
before → after in the digest (real checks on the DNS test server, posted to the Web API stand-in)
and in `/mx history`, retention, on SQLite and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.digest.history import Change, Observation, Seen, observe, render_history
from bot.digest.scheduler import make_runner, run_due, single_team
from bot.slack.watch_commands import answer
from bot.store.watch import WatchStore
from bot.store.watch_tables import RecordRow
from checks.model import CheckResult, Fact, Finding, Report, Status
from checks.net.services import Services
from checks.settings import Settings
from tests.bot.blockkit_support import validate
from tests.bot.test_scheduler import HEALTHY, client_on, shown, watch
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.slackapi import SlackApi

NOW = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
TEAM, DOMAIN = "T1", "a.example"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mxbot.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(url: str) -> Iterator[WatchStore]:
    made = WatchStore(url, history_keep=timedelta(days=30))
    made.create_all()
    yield made
    made.close()


@pytest.fixture
async def api() -> AsyncIterator[SlackApi]:
    server = await SlackApi().start()
    yield server
    await server.stop()


def seen(*values: tuple[str, str, str], complete: tuple[str, ...] = ()) -> Observation:
    return Observation(tuple(Seen(*v) for v in values), frozenset(complete))


def rows(store: WatchStore) -> int:
    with Session(store.engine) as session:
        return int(session.scalar(select(func.count(RecordRow.id))) or 0)


async def test_only_changes_are_kept(store: WatchStore) -> None:
    spf = ("spf.record", "", "v=spf1 mx -all")
    first = await store.history.record(TEAM, DOMAIN, seen(spf), now=NOW)
    same = await store.history.record(TEAM, DOMAIN, seen(spf), now=NOW + timedelta(hours=1))
    changed = await store.history.record(
        TEAM, DOMAIN, seen(("spf.record", "", "v=spf1 a -all")), now=NOW + timedelta(hours=2)
    )

    assert first == [Change(DOMAIN, "spf.record", "", None, "v=spf1 mx -all", NOW)]
    assert same == []
    assert changed == [
        Change(
            DOMAIN, "spf.record", "", "v=spf1 mx -all", "v=spf1 a -all", NOW + timedelta(hours=2)
        )
    ]
    assert rows(store) == 2
    listed = await store.history.of(TEAM, DOMAIN)
    assert [(c.before, c.after) for c in listed] == [
        ("v=spf1 mx -all", "v=spf1 a -all"),
        (None, "v=spf1 mx -all"),
    ]
    since = await store.history.changes(TEAM, [DOMAIN], since=NOW + timedelta(minutes=90))
    assert [c.after for c in since] == ["v=spf1 a -all"]
    assert await store.history.of("T2", DOMAIN) == []  # another workspace sees none of it


async def test_a_selector_gone_from_a_whole_look_is_recorded_gone(store: WatchStore) -> None:
    key = ("dkim.key", "s1", "v=DKIM1; p=AAA")
    await store.history.record(TEAM, DOMAIN, seen(key), now=NOW)

    unknown = await store.history.record(TEAM, DOMAIN, seen(), now=NOW + timedelta(hours=1))
    gone = await store.history.record(
        TEAM, DOMAIN, seen(complete=("dkim.key",)), now=NOW + timedelta(hours=2)
    )

    assert unknown == []  # the DKIM check errored: nothing is known
    assert [(c.subject, c.before, c.after) for c in gone] == [("s1", "v=DKIM1; p=AAA", "")]


async def test_values_last_seen_before_the_retention_are_pruned(store: WatchStore) -> None:
    await store.history.record(TEAM, "old.example", seen(("mx.set", "", "10 mx.old")), now=NOW)
    await store.history.record(TEAM, DOMAIN, seen(("mx.set", "", "10 mx1")), now=NOW)
    for day in range(1, 40):  # a.example's MX seen every day; old.example unwatched
        await store.history.record(
            TEAM,
            DOMAIN,
            seen(("mx.set", "", "10 mx2" if day >= 5 else "10 mx1")),
            now=NOW + timedelta(days=day),
        )

    kept = await store.history.of(TEAM, DOMAIN)

    assert await store.history.of(TEAM, "old.example") == []
    assert [c.after for c in kept] == ["10 mx2"]  # 10 mx1 was last seen 35 days ago
    assert rows(store) == 1


def test_a_report_s_values_and_certificate_dates_are_observed() -> None:
    facts = (
        Fact("tls.not_after", datetime(2025, 1, 31, 12, tzinfo=UTC).timestamp(), "mx.a.example"),
        Fact("tls.fingerprint", 0, "mx.a.example", "ab" * 32),
    )
    report = Report(
        DOMAIN,
        (
            CheckResult("tls", "TLS", (Finding("tls.ok", Status.PASS, "ok", facts=facts),), 1),
            CheckResult("dkim", "DKIM", (Finding("dkim.lookup_failed", Status.ERROR, "x"),), 1),
        ),
        1,
    )

    observed = observe(report)

    assert set(observed.seen) == {
        Seen("tls.expiry", "mx.a.example", "2025-01-31 12:00 UTC"),
        Seen("tls.fingerprint", "mx.a.example", "ab" * 32),
    }
    assert "tls.fingerprint" in observed.complete
    assert "dkim.key" not in observed.complete


async def test_the_digest_shows_records_before_and_after(
    store: WatchStore, api: SlackApi, dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.load_zone(HEALTHY, "a.test")
    await watch(store, "C1", "a.test")
    runner = make_runner(settings, checks=["mx", "spf", "dmarc"], services=Services())
    clients = single_team(client_on(api))
    first_at = NOW + timedelta(minutes=30)
    await run_due(
        store=store, engine_runner=runner, client_for_team=clients, now=first_at, owner="me"
    )
    dns_server.clear()
    dns_server.load_zone(
        HEALTHY.replace("v=spf1 mx -all", "v=spf1 mx include:<!channel>.test -all").replace(
            "@ MX 10 mx", "@ MX 20 mx"
        ),
        "a.test",
    )

    await run_due(
        store=store,
        engine_runner=runner,
        client_for_team=clients,
        now=first_at + timedelta(hours=1),
        owner="me",
    )

    one, two = (shown(p.params) for p in api.calls_to("chat.postMessage"))
    assert "Records changed" not in one
    assert "*Records changed since 2024-05-01 09:00 UTC*" in two
    assert "*a.test* MX: `10 mx.a.test` → `20 mx.a.test`" in two
    assert "*a.test* SPF: `v=spf1 mx -all` → `v=spf1 mx include:&lt;!channel&gt;.test -all`" in two
    assert "<!channel>" not in str(api.calls_to("chat.postMessage")[1].params)
    validate(dict(api.calls_to("chat.postMessage")[1].params))


async def test_mx_history_lists_the_changes_with_dates(store: WatchStore) -> None:
    await store.add_watch(TEAM, "C1", DOMAIN, user_id="U1", now=NOW)
    await store.history.record(
        TEAM, DOMAIN, seen(("dmarc.record", "_dmarc.a.example", "v=DMARC1; p=none")), now=NOW
    )
    await store.history.record(
        TEAM,
        DOMAIN,
        seen(("dmarc.record", "_dmarc.a.example", "v=DMARC1; p=reject <b>")),
        now=NOW + timedelta(days=2),
    )

    reply = await answer(
        f"history {DOMAIN}", store=store, team_id=TEAM, channel_id="C1", user_id="U1"
    )
    nothing = await answer(
        "history of b.example", store=store, team_id=TEAM, channel_id="C1", user_id="U1"
    )

    assert reply is not None
    assert nothing is not None
    text = "\n".join(b["text"]["text"] for b in reply["blocks"] if b["type"] == "section")
    assert text.splitlines() == [
        "*Record history of a.example* (newest first)",
        "• 2024-05-03 08:30 UTC · DMARC _dmarc.a.example: `v=DMARC1; p=none` → `v=DMARC1; p=reject &lt;b&gt;`",
        "• 2024-05-01 08:30 UTC · DMARC _dmarc.a.example first seen: `v=DMARC1; p=none`",
    ]
    assert "Kept for 30 days" in str(reply["blocks"][-1])
    assert "No record history for *b.example* yet" in str(nothing["blocks"])
    validate(reply)
    validate(nothing)


def test_a_long_history_stays_within_block_kit_limits() -> None:
    long = "v=spf1 " + " ".join(f"ip4:192.0.2.{i}" for i in range(200)) + " <!here> -all"
    changes = [
        Change(DOMAIN, "spf.record", "", long + str(i), long + str(i + 1), NOW + timedelta(hours=i))
        for i in range(60)
    ]

    message = render_history(DOMAIN, changes, keep=timedelta(days=400), more=True)

    validate(message)
    assert len(message["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in message["blocks"] if b["type"] == "section")
    assert "<!here>" not in str(message)
    assert "only the latest 60 changes" in str(message["blocks"][-1])
