"""The Slack app's test harness: its real aiohttp server on 127.0.0.1, signed requests in, Web API
calls out to a local stand-in (`tests.fakes.slackapi.SlackApi`), a canned engine by default.

Test modules wrap `harness_factory` in a fixture; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import Command
from bot.digest.delivery import DigestNow, Tally
from bot.digest.followup import Look
from bot.digest.scheduler import digest_now, single_team
from bot.metrics import Metrics
from bot.settings import AppSettings, Secret
from bot.slack.app import build_app
from bot.slack.engine_binding import DiagnoseMessage, RunChecks, RunLive
from bot.slack.inflight import InFlight
from bot.slack.server import build_web_app, start_http
from bot.store.db import Store
from bot.store.watch import WatchStore
from checks.engine import order
from checks.model import CheckResult, Finding, Record, Report, Status
from tests.fakes.slackapi import BOT_TOKEN, BOT_USER, TEAM, Call, SlackApi, signature

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
HOSTILE = "<!channel> <@U123> wake up"


# ---- canned engine ------------------------------------------------------------------------------


def result(cid: str, status: Status, message: str = "", **kw: Any) -> CheckResult:
    finding = Finding(f"{cid}.x", status, message or f"{cid} is {status.value}", **kw)
    return CheckResult(cid, cid.upper(), (finding,), 3)


CANNED = (
    result("mx", Status.PASS, "2 MX records."),
    result(
        "spf",
        Status.FAIL,
        f"The SPF record says {HOSTILE}.",
        fix="Publish a record that ends in -all.",
        record=Record("example.com.", "TXT", '"v=spf1 mx -all"'),
        evidence=(HOSTILE,),
    ),
)


@dataclass
class Canned:
    """An engine that yields fixed results; with `hold`, it waits after the first one."""

    results: Sequence[CheckResult] = CANNED
    hold: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)
    commands: list[Command] = field(default_factory=list)

    def __call__(self, command: Command) -> CannedRun:
        self.commands.append(command)
        return CannedRun(self, command)

    def plan(self, command: Command) -> list[tuple[str, str]]:
        return [(r.id, r.title) for r in self.results]


class CannedRun:
    """One canned report: the results one by one, then the `Report` the engine would hand back."""

    def __init__(self, engine: Canned, command: Command) -> None:
        self._engine = engine
        self._command = command
        self._report: Report | None = None

    def __aiter__(self) -> AsyncIterator[CheckResult]:
        return self._run()

    @property
    def report(self) -> Report:
        assert self._report is not None, "the canned report was not read to the end"
        return self._report

    async def _run(self) -> AsyncIterator[CheckResult]:
        started = time.monotonic()
        for index, item in enumerate(self._engine.results):
            if self._engine.hold and index == 1:
                await asyncio.wait_for(self._engine.release.wait(), 5)
            yield item
        target = self._command.target
        assert target is not None
        self._report = Report(
            domain=target.name,
            results=tuple(order(self._engine.results)),
            duration_ms=round((time.monotonic() - started) * 1000),
            display_name=target.unicode,
        )


class CountingStore(Store):
    """The real store, also telling the test about every event-id claim."""

    def __init__(self, url: str, **kw: str) -> None:
        super().__init__(url, **kw)
        self.claims: list[tuple[str, bool]] = []
        self.claimed = asyncio.Condition()

    async def claim_event(self, event_id: str) -> bool:
        first = await super().claim_event(event_id)
        async with self.claimed:
            self.claims.append((event_id, first))
            self.claimed.notify_all()
        return first


# ---- the harness --------------------------------------------------------------------------------


@dataclass
class Harness:
    api: SlackApi
    url: str
    store: CountingStore
    http: aiohttp.ClientSession
    metrics: Metrics
    in_flight: InFlight = field(default_factory=InFlight)
    watch_store: WatchStore | None = None
    secret: str = SECRET

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
        sign: bool = True,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> tuple[int, str, float]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        sent = {"Content-Type": content_type, **(headers or {})}
        if sign:
            sent["X-Slack-Request-Timestamp"] = ts
            sent["X-Slack-Signature"] = signature(secret or self.secret, ts, body)
        data = body.encode()
        started = time.perf_counter()
        # aiohttp wants large bodies as a file-like object (a ResourceWarning otherwise)
        sent_data = io.BytesIO(data) if len(data) > 64 * 1024 else data
        async with self.http.post(f"{self.url}/slack/events", data=sent_data, headers=sent) as r:
            text = await r.text()
            return r.status, text, time.perf_counter() - started

    async def command(
        self,
        text: str,
        *,
        team: str = TEAM,
        user: str = "U1",
        channel: str = "C1",
        response_url: str | None = None,
        fields: dict[str, str] | None = None,
        **kw: Any,
    ) -> tuple[int, str, float]:
        """A signed slash command; `fields` adds or replaces form fields (channel_name, …)."""
        form = {
            "token": "legacy",
            "team_id": team,
            "team_domain": "test",
            "channel_id": channel,
            "channel_name": "ops",
            "user_id": user,
            "user_name": "ann",
            "command": "/mx",
            "text": text,
            "api_app_id": "A1",
            "trigger_id": "1.2.3",
            "response_url": response_url or self.api.response_url("cmd"),
            **(fields or {}),
        }
        return await self.post(urlencode(form), "application/x-www-form-urlencoded", **kw)

    async def event(
        self, event: dict[str, Any], *, event_id: str = "Ev1", **kw: Any
    ) -> tuple[int, str, float]:
        body = {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "A1",
            "type": "event_callback",
            "event": event,
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        }
        return await self.post(json.dumps(body), "application/json", **kw)

    async def click(
        self,
        action_id: str,
        value: str,
        message_ts: str,
        *,
        thread_ts: str | None = None,
        user: str = "U1",
        **kw: Any,
    ) -> tuple[int, str, float]:
        """A signed click on a button of the message `message_ts` (in the thread `thread_ts`)."""
        in_thread = {"thread_ts": thread_ts} if thread_ts else {}
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM},
            "user": {"id": user, "team_id": TEAM},
            "api_app_id": "A1",
            "channel": {"id": "C1"},
            "trigger_id": "1.2.3",
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": "C1",
                **in_thread,
            },
            "message": {"ts": message_ts, "type": "message", **in_thread},
            "response_url": self.api.response_url("click"),
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "mx_actions",
                    "value": value,
                    "action_ts": "1",
                }
            ],
        }
        return await self.interact(payload, **kw)

    async def shortcut(
        self, message: dict[str, Any], *, channel: str = "C1", user: str = "U1", **kw: Any
    ) -> tuple[int, str, float]:
        """The "Diagnose with mxbot" message shortcut, used on `message` in `channel`."""
        payload = {
            "type": "message_action",
            "callback_id": "mx_diagnose_message",
            "trigger_id": "1.2.3",
            "team": {"id": TEAM, "domain": "test"},
            "channel": {"id": channel, "name": "ops"},
            "user": {"id": user, "team_id": TEAM},
            "message_ts": message.get("ts", ""),
            "message": {"type": "message", **message},
            "response_url": self.api.response_url("shortcut"),
            "api_app_id": "A1",
            "token": "legacy",
        }
        return await self.interact(payload, **kw)

    async def submit_view(
        self, view: dict[str, Any], values: dict[str, Any], *, user: str = "U1", **kw: Any
    ) -> tuple[int, str, float]:
        """A modal's view_submission: `view` as opened, with the inputs' `values`."""
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM, "domain": "test"},
            "user": {"id": user, "team_id": TEAM},
            "api_app_id": "A1",
            "token": "legacy",
            "trigger_id": "1.2.4",
            "view": {"id": "V1", "team_id": TEAM, **view, "state": {"values": values}},
        }
        return await self.interact(payload, **kw)

    async def interact(self, payload: dict[str, Any], **kw: Any) -> tuple[int, str, float]:
        """Any interactivity payload, form-encoded as Slack sends it."""
        return await self.post(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", **kw
        )


MakeHarness = Callable[..., Awaitable[Harness]]


@asynccontextmanager
async def harness_factory(tmp_path: Path) -> AsyncIterator[MakeHarness]:
    """`make(run=…, plan=…, watch=…, digests=…, live=…, look=…, clock=…, **AppSettings overrides)`
    starts one app on a fresh store; `digests` adds `/mx digest now`, made from the canned
    results; `look` offers "tell me when it's live" (its follow-ups kept in the watch store,
    `Harness.watch_store`), started at `clock`'s time."""
    slack_api = await SlackApi().start()
    cleanups: list[Callable[[], Awaitable[None]]] = []

    async def make(
        run: RunChecks | None = None,
        plan: Any = None,
        *,
        watch: bool = False,
        diagnose: DiagnoseMessage | None = None,
        digests: bool = False,
        live: RunLive | None = None,
        look: Look | None = None,
        clock: Callable[[], datetime] | None = None,
        **overrides: Any,
    ) -> Harness:
        canned = Canned()
        config = AppSettings(
            bot_token=Secret(BOT_TOKEN),
            signing_secret=Secret(SECRET),
            api_url=slack_api.base_url,
            update_interval=0.2,
        )
        config = replace(config, **overrides)
        store = CountingStore(f"sqlite:///{tmp_path}/mxbot.db", client_id=config.client_id)
        store.create_all()
        metrics = Metrics()
        in_flight = InFlight()
        watch_store = None
        if watch or digests or look:
            watch_store = WatchStore(store.engine)
            watch_store.create_all()
        app = build_app(
            config,
            engine=run or canned,
            store=store,
            metrics=metrics,
            plan=plan or canned.plan,
            watch_store=watch_store,
            in_flight=in_flight,
            diagnose=diagnose,
            digest_now=_digests_now(watch_store, slack_api) if digests and watch_store else None,
            live=live,
            look=look,
            clock=clock,
        )
        runner, port = await start_http(
            build_web_app(app, metrics=metrics, store=store), "127.0.0.1", 0
        )
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

        async def cleanup() -> None:
            await http.close()
            await runner.cleanup()
            store.close()

        cleanups.append(cleanup)
        return Harness(
            slack_api, f"http://127.0.0.1:{port}", store, http, metrics, in_flight, watch_store
        )

    try:
        yield make
    finally:
        for cleanup in cleanups:
            await cleanup()
        await slack_api.stop()


def _digests_now(watch_store: WatchStore, api: SlackApi) -> DigestNow:
    """`/mx digest now` on the stand-in: canned reports, posted through the one delivery path."""
    client = AsyncWebClient(token="xoxb-test-token", base_url=api.base_url)

    async def runner(domain: str) -> Report:
        return Report(domain, tuple(order(CANNED)), 3)

    def now_for(team_id: str, channel_id: str) -> Awaitable[Tally | None]:
        return digest_now(
            store=watch_store,
            engine_runner=runner,
            client_for_team=single_team(client),
            team_id=team_id,
            channel_id=channel_id,
            now=datetime.now(UTC),
            owner="harness",
        )

    return now_for


def blocks_text(call: Call) -> str:
    return json.dumps(call.params.get("blocks", []), ensure_ascii=False)


def buttons(call: Call) -> dict[str, str]:
    actions = [b for b in call.params["blocks"] if b["type"] == "actions"]
    return {e["action_id"]: e["value"] for e in actions[0]["elements"]} if actions else {}


async def final_update(api: SlackApi, count: int = 1) -> Call:
    """The `count`th chat.update that carries the finished report (it has buttons)."""
    await api.wait_until(
        lambda: len([c for c in api.calls_to("chat.update") if buttons(c)]) >= count
    )
    return [c for c in api.calls_to("chat.update") if buttons(c)][count - 1]
