"""Alerts between digests: the debounced state machine, and end to end through the outbox to the
Slack Web API stand-in, on SQLite and a real PostgreSQL: an alert after N failing checks in a row,
its recovery, nothing for a flapping domain, a certificate under 14 days, a newly listed address,
and one post per transition however many instances check."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.digest.alerts import (
    AlertWatch,
    Condition,
    Reading,
    State,
    Transition,
    alert_key,
    render,
    states_from_json,
    states_to_json,
    step,
)
from bot.digest.scheduler import EngineRunner, single_team
from bot.digest.watchdog import run_alerts
from bot.slack.watch_commands import parse_watch
from bot.store.alerts import AlertBook
from bot.store.watch import WatchStore
from checks.model import Cause, CheckResult, Fact, Finding, Report, Status
from tests.bot.blockkit_support import validate
from tests.bot.postgres_support import race
from tests.bot.test_scheduler import client_on
from tests.fakes.slackapi import SlackApi

NOW = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
EVERY = timedelta(minutes=15)
TEAM, CHANNEL, DOMAIN = "T1", "C1", "a.example"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mxbot.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(url: str) -> Iterator[WatchStore]:
    made = WatchStore(url, alert_interval=EVERY)
    made.create_all()
    yield made
    made.close()


@pytest.fixture
async def api() -> AsyncIterator[SlackApi]:
    server = await SlackApi().start()
    yield server
    await server.stop()


def report(
    status: Status = Status.PASS, *, expires: datetime | None = None, listed: int | None = None
) -> Report:
    code = "smtp.connection_refused" if status is Status.FAIL else "mx.ok"
    results = [CheckResult("smtp", "SMTP", (Finding(code, status, "port 25 says <!channel>"),), 1)]
    if expires is not None:
        fact = Fact("tls.not_after", expires.timestamp(), "mx.a.example")
        results.append(
            CheckResult("tls", "TLS", (Finding("tls.ok", Status.PASS, "ok", facts=(fact,)),), 1)
        )
    if listed is not None:
        fact = Fact("dnsbl.listed", listed, "bl.test")
        results.append(
            CheckResult(
                "dnsbl", "DNSBL", (Finding("dnsbl.ok", Status.PASS, "ok", facts=(fact,)),), 1
            )
        )
    failing = status is Status.FAIL
    return Report(
        DOMAIN,
        tuple(results),
        1,
        headline="Mail to a.example cannot be delivered: <!channel> refused on port 25."
        if failing
        else "",
        cause=Cause("smtp", code) if failing else None,
    )


class Script:
    """A canned engine: the next report of a list, one per check, counting the checks."""

    def __init__(self, *reports: Report) -> None:
        self.reports = list(reports)
        self.checked = 0

    def runner(self) -> EngineRunner:
        async def run(domain: str) -> Report:
            self.checked += 1
            await asyncio.sleep(0)  # let another instance's pass interleave
            return self.reports[min(self.checked - 1, len(self.reports) - 1)]

        return run


async def alerting(store: WatchStore, threshold: int = 2) -> None:
    await store.add_watch(TEAM, CHANNEL, DOMAIN, user_id="U1", now=NOW)
    await store.set_schedule(TEAM, CHANNEL, None, now=NOW)
    assert await store.alerts.set(TEAM, CHANNEL, DOMAIN, threshold, now=NOW)


async def passes(store: WatchStore, api: SlackApi, script: Script, count: int) -> list[int]:
    """`count` alert passes, one per interval from NOW; the posts made by each."""
    made = []
    for index in range(count):
        tally = await run_alerts(
            store=store,
            engine_runner=script.runner(),
            client_for_team=single_team(client_on(api)),
            now=NOW + index * EVERY,
            owner="me",
        )
        made.append(tally.posted)
    return made


def posted_texts(api: SlackApi) -> list[str]:
    return [str(c.params["blocks"][0]["text"]["text"]) for c in api.calls_to("chat.postMessage")]


def posted_keys(api: SlackApi) -> list[str]:
    return [
        str(c.params["metadata"]["event_payload"]["key"]) for c in api.calls_to("chat.postMessage")
    ]


# ---- the state machine ---------------------------------------------------------------------------


def run_readings(bad: list[bool | None], threshold: int = 2) -> list[Transition]:
    state, made = State(), []
    for index, value in enumerate(bad):
        state, transition = step(
            state, Reading(Condition.FAILING, value, "why"), threshold, NOW + index * EVERY
        )
        if transition is not None:
            made.append(transition)
    return made


def test_an_alert_takes_n_bad_runs_in_a_row_and_its_recovery_n_good_ones() -> None:
    made = run_readings([True, True, True, False, False, False])

    assert [(t.alert, t.since) for t in made] == [(True, NOW), (False, NOW)]


def test_a_flapping_domain_never_alerts() -> None:
    assert run_readings([True, False, True, False, True, False, True]) == []


def test_an_alerting_domain_that_flaps_stays_alerting_without_more_posts() -> None:
    made = run_readings([True, True, False, True, False, True, False, False])

    assert [t.alert for t in made] == [True, False]
    assert made[1].since == NOW  # the recovery names the alert it clears


def test_unmeasured_runs_neither_count_nor_break_a_streak() -> None:
    assert [t.alert for t in run_readings([True, None, True], threshold=2)] == [True]
    assert run_readings([None, None, None]) == []


def test_the_threshold_is_the_watch_s() -> None:
    assert run_readings([True, True], threshold=3) == []
    assert len(run_readings([True, True, True], threshold=3)) == 1


def test_states_survive_the_database_round_trip() -> None:
    states = {Condition.FAILING: State(True, 1, NOW, NOW - EVERY, "why <b>")}

    assert states_from_json(states_to_json(states)) == states


def test_keys_name_the_transition_and_fit_the_outbox() -> None:
    long = "x" * 60 + "." + "y" * 60 + "." + "z" * 60 + ".example"
    watch = AlertWatch(1, TEAM, CHANNEL, long, 2, {})
    alert = Transition(Condition.FAILING, True, NOW, "why")

    assert alert_key(AlertWatch(1, TEAM, CHANNEL, DOMAIN, 2, {}), alert) == (
        "alert:T1:C1:a.example:failing:2024-05-01T08:30:00Z"
    )
    assert len(alert_key(watch, alert)) <= 200


def test_the_message_is_escaped_and_valid_block_kit() -> None:
    watch = AlertWatch(1, TEAM, CHANNEL, DOMAIN, 2, {})
    message = render(watch, Transition(Condition.FAILING, True, NOW, "<!channel> refused"), NOW)

    validate(message)
    assert "&lt;!channel&gt; refused" in str(message["blocks"])
    assert "<!channel>" not in str(message)


# ---- end to end ----------------------------------------------------------------------------------


async def test_an_alert_after_n_failing_checks_then_a_recovery(
    store: WatchStore, api: SlackApi
) -> None:
    await alerting(store)
    script = Script(*[report(Status.FAIL)] * 3, *[report()] * 3)

    made = await passes(store, api, script, 6)

    assert made == [0, 1, 0, 0, 1, 0]
    assert posted_keys(api) == [
        "alert:T1:C1:a.example:failing:2024-05-01T08:30:00Z",
        "recovery:T1:C1:a.example:failing:2024-05-01T08:30:00Z",
    ]
    alert, recovery = posted_texts(api)
    assert "*a.example* is failing" in alert
    assert "&lt;!channel&gt; refused on port 25" in alert  # the diagnosis, escaped
    assert "*a.example* no longer fails" in recovery
    assert [c.params["channel"] for c in api.calls_to("chat.postMessage")] == [CHANNEL, CHANNEL]


async def test_a_flapping_domain_posts_nothing(store: WatchStore, api: SlackApi) -> None:
    await alerting(store)
    script = Script(*[report(Status.FAIL), report()] * 4)

    made = await passes(store, api, script, 8)

    assert sum(made) == 0
    assert api.calls_to("chat.postMessage") == []
    assert script.checked == 8


async def test_a_watch_is_checked_on_its_own_cadence(store: WatchStore, api: SlackApi) -> None:
    await alerting(store)
    script = Script(report())
    client = single_team(client_on(api))

    for minutes in (0, 5, 14, 15, 16):
        await run_alerts(
            store=store,
            engine_runner=script.runner(),
            client_for_team=client,
            now=NOW + timedelta(minutes=minutes),
            owner="me",
        )

    assert script.checked == 2  # at 08:30 and 08:45


async def test_a_certificate_under_fourteen_days_alerts(store: WatchStore, api: SlackApi) -> None:
    await alerting(store)
    soon = report(expires=NOW + timedelta(days=10))
    renewed = report(expires=NOW + timedelta(days=90))
    script = Script(report(expires=NOW + timedelta(days=30)), soon, soon, renewed, renewed)

    made = await passes(store, api, script, 5)

    assert made == [0, 0, 1, 0, 1]
    alert, recovery = posted_texts(api)
    assert "has a certificate about to expire" in alert
    assert "mx.a.example expires on 2024-05-11 (9 days left)" in alert
    assert "valid for more than 14 days again" in recovery
    assert posted_keys(api)[0] == "alert:T1:C1:a.example:certificate:2024-05-01T08:45:00Z"


async def test_a_newly_listed_address_alerts(store: WatchStore, api: SlackApi) -> None:
    await alerting(store, threshold=3)
    script = Script(report(listed=0), *[report(listed=1)] * 3, report())  # then no answer at all

    made = await passes(store, api, script, 6)

    assert made == [0, 0, 0, 1, 0, 0]  # a blocklist that did not answer clears nothing
    assert "is on a blocklist" in posted_texts(api)[0]
    assert "bl.test" in posted_texts(api)[0]


async def test_turning_alerts_off_or_unwatching_stops_the_checks(
    store: WatchStore, api: SlackApi
) -> None:
    await alerting(store)
    script = Script(report(Status.FAIL))
    await passes(store, api, script, 1)

    await store.alerts.set(TEAM, CHANNEL, DOMAIN, 0, now=NOW)
    await passes(store, api, script, 3)
    await alerting(store)
    await store.remove_watch(TEAM, CHANNEL, DOMAIN)
    await passes(store, api, script, 3)

    assert script.checked == 1
    assert await store.alerts.thresholds(TEAM, CHANNEL) == {}


async def test_two_instances_post_each_alert_once(url: str, api: SlackApi) -> None:
    instances = [WatchStore(url, alert_interval=EVERY) for _ in range(2)]
    instances[0].create_all()
    await alerting(instances[0])
    script = Script(*[report(Status.FAIL)] * 4, *[report()] * 4)
    client = single_team(client_on(api))

    for index in range(8):
        await asyncio.gather(
            *(
                run_alerts(
                    store=instance,
                    engine_runner=script.runner(),
                    client_for_team=client,
                    now=NOW + index * EVERY,
                    owner=f"instance{number}",
                )
                for number, instance in enumerate(instances)
            )
        )

    assert script.checked == 8  # each pass's check made by one instance
    assert [k.split(":")[0] for k in posted_keys(api)] == ["alert", "recovery"]
    for instance in instances:
        instance.close()


def test_instances_racing_for_one_due_watch_claim_it_once(url: str, store: WatchStore) -> None:
    asyncio.run(alerting(store))
    instances = {name: WatchStore(url) for name in ("one", "two", "three")}
    won: dict[str, int] = {}

    def claimer(name: str) -> Callable[[], None]:
        def body() -> None:
            got = AlertBook.claim_next.sync(instances[name].alerts, name, now=NOW)
            won[name] = 0 if got is None else 1

        return body

    race({name: claimer(name) for name in instances})

    assert sum(won.values()) == 1
    for instance in instances.values():
        instance.close()


# ---- the grammar ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "alert", "canonical"),
    [
        ("watch a.example alert", 2, "watch a.example alert after 2"),
        ("watch a.example alert after 3", 3, "watch a.example alert after 3"),
        ("watch a.example daily 10:00 alert 4", 4, "watch a.example daily 10:00 alert after 4"),
        ("watch a.example alert off", 0, "watch a.example alert off"),
        ("watch a.example", None, "watch a.example"),
    ],
)
def test_alerts_are_asked_for_on_the_watch(text: str, alert: int | None, canonical: str) -> None:
    cmd = parse_watch(text)

    assert cmd is not None
    assert cmd.alert == alert
    assert cmd.text == canonical
    assert parse_watch(cmd.text) == cmd
