"""Slack listeners: `/mx`, mentions, App Home and the report buttons.

Every report follows one flow: acknowledge at once (before any network work), post a placeholder,
update that same message as results stream in (at most one `chat.update` per `update_interval`),
finish with the full report. Where the bot cannot post (not in the channel, a DM it cannot open)
the report goes through the request's `response_url` instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.commands import Command, UsageError, parse, without_mention
from bot.metrics import Metrics
from bot.render import blocks
from bot.render.blocks import Message
from bot.settings import AppSettings
from bot.slack import watch_commands
from bot.slack.engine_binding import Plan, RunChecks
from bot.slack.inflight import InFlight
from bot.slack.limits import RateLimiter, ReportGate
from bot.store.db import Store
from bot.store.watch import WatchStore
from checks import registry
from checks.engine import order
from checks.model import CheckResult, Report
from checks.target import TargetError

log = logging.getLogger(__name__)

# chat.postMessage errors after which the request's response_url can still reach the user.
FALLBACK_ERRORS = frozenset(
    {"not_in_channel", "channel_not_found", "cannot_dm_bot", "restricted_action", "is_archived"}
)


@dataclass
class Deps:
    """What the listeners need; built once by `bot.slack.app.build_app`."""

    settings: AppSettings
    engine: RunChecks
    store: Store
    plan: Plan
    metrics: Metrics
    user_limit: RateLimiter
    channel_limit: RateLimiter
    gate: ReportGate
    watch_store: WatchStore | None = None  # watch-lists and digests, when the app keeps them
    in_flight: InFlight = field(default_factory=InFlight)


@dataclass(frozen=True, slots=True)
class Where:
    """Where a report goes and who asked for it."""

    team: str
    channel: str
    user: str
    thread_ts: str | None = None
    response_url: str | None = None


def register(app: AsyncApp, deps: Deps) -> None:
    """Attach every listener to `app`."""
    app.command("/mx")(_command(deps))
    app.event("app_mention")(_mention(deps))
    app.event("app_home_opened")(_home(deps))
    # Message events (message_changed and the like) reach apps subscribed to channel messages;
    # they carry no command: acknowledged (so Slack does not retry them) and dropped.
    app.event("message")(_ignore)
    app.action(blocks.RERUN)(_rerun(deps))
    app.action(blocks.DETAILS)(_details(deps))
    app.action(blocks.WATCH)(_watch(deps))

    @app.error
    async def on_error(error: Exception) -> None:
        # Never log the request body: it carries response URLs and the verification token.
        log.error("listener failed: %s", type(error).__name__, exc_info=error)


# ---- listeners ----------------------------------------------------------------------------------


def _command(deps: Deps) -> Callable[..., Awaitable[None]]:
    async def on_mx(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        where = Where(
            team=command.get("team_id", ""),
            channel=command.get("channel_id", ""),
            user=command.get("user_id", ""),
            response_url=command.get("response_url"),
        )
        request = Request(command.get("text", ""), where, "/mx")
        await triage(deps, client, request, answer=lambda message: ack(**message), accept=ack)

    return on_mx


def _mention(deps: Deps) -> Callable[..., Awaitable[None]]:
    async def on_mention(
        body: dict[str, Any],
        event: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        # Slack retries (X-Slack-Retry-Num) and duplicate deliveries carry the same event_id.
        event_id = body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}"
        if not await deps.store.claim_event(event_id):
            log.info("event %s already handled; not running it again", event_id)
            return
        ignored = _ignored_mention(event, context.bot_user_id or "")
        if ignored:
            log.info("event %s ignored: %s", event_id, ignored)
            return
        where = Where(
            team=context.team_id or body.get("team_id", ""),
            channel=event.get("channel", ""),
            user=event.get("user", ""),
            thread_ts=event.get("thread_ts") or event.get("ts"),
        )
        request = Request(event.get("text", ""), where, "@mxbot", context.bot_user_id or "")
        await triage(
            deps, client, request, answer=lambda message: _ephemeral(deps, client, where, message)
        )

    return on_mention


async def _ignore() -> None:
    return None


def _home(deps: Deps) -> Callable[..., Awaitable[None]]:
    async def on_home(
        event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        if event.get("tab", "home") != "home":
            return
        recent = await deps.store.recent_reports(context.team_id or "", limit=10)
        lines = [
            blocks.HistoryLine(s.status, blocks.display_name(s.report), s.command, s.created_at)
            for s in recent
        ]
        tail: list[dict[str, Any]] = []
        if deps.watch_store is not None:
            watches = await deps.watch_store.team_watches(context.team_id or "")
            tail = watch_commands.render_home_watches(watches)
        view = blocks.render_home(_catalogue(), lines, help_extra=_watch_help(deps), tail=tail)
        try:
            await client.views_publish(user_id=event.get("user", ""), view=view)
        except SlackApiError as exc:
            _api_error(
                deps, "views.publish", exc, Where(context.team_id or "", "", event.get("user", ""))
            )

    return on_home


def _rerun(deps: Deps) -> Callable[..., Awaitable[None]]:
    async def on_rerun(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        await ack()
        where = _where_from_action(body)
        request = Request(action.get("value", ""), where, "/mx")
        await triage(
            deps, client, request, answer=lambda message: _reply(deps, respond, where, message)
        )

    return on_rerun


def _details(deps: Deps) -> Callable[..., Awaitable[None]]:
    async def on_details(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        await ack()
        where = _where_from_action(body)
        value = action.get("value", "")
        known = value.isdigit() and len(value) < 16
        stored = await deps.store.get_report(int(value), team_id=where.team) if known else None
        if stored is None:
            text = "That report is no longer available; press Re-run for a fresh one."
            await _reply(deps, respond, where, blocks.render_text(text))
            return
        thread = _thread_of(body)
        for part in blocks.render_details(stored.report):
            if thread is None:  # an ephemeral message has no thread: answer the user alone
                await _reply(deps, respond, where, part)
                continue
            try:
                await client.chat_postMessage(
                    channel=where.channel,
                    thread_ts=thread,
                    unfurl_links=False,
                    unfurl_media=False,
                    **part,
                )
            except SlackApiError as exc:
                _api_error(deps, "chat.postMessage", exc, where)
                await _reply(deps, respond, where, part)

    return on_details


def _watch(deps: Deps) -> Callable[..., Awaitable[None]]:
    async def on_watch(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        where = _where_from_action(body)
        if deps.watch_store is None:
            text = "Watch-lists are not enabled on this mxbot."
            await _reply(deps, respond, where, blocks.render_text(text))
            return
        try:
            cmd = watch_commands.watch_command_for(action.get("value", ""))
        except TargetError as exc:
            text = f"That cannot be watched: {blocks.escape(str(exc))}."
            await _reply(deps, respond, where, blocks.render_text(text))
            return
        message = await watch_commands.execute(
            cmd,
            store=deps.watch_store,
            team_id=where.team,
            channel_id=where.channel,
            user_id=where.user,
        )
        await _reply(deps, respond, where, message)

    return on_watch


# ---- the shared path ----------------------------------------------------------------------------


Answer = Callable[[Message], Awaitable[object]]  # a reply only the asker sees


@dataclass(frozen=True, slots=True)
class Request:
    """What a listener read from Slack: the text, where it came from, and how to quote commands."""

    text: str  # as typed; a mention's text still carries the bot's <@…>
    where: Where
    prefix: str  # "/mx" or "@mxbot", for usage and help replies
    bot_user: str | None = None  # a mention's bot user id: its <@…> is not part of the command

    @property
    def command_text(self) -> str:
        """The text without the bot's own mention, as watch-list commands read it."""
        if self.bot_user is None:
            return self.text
        return without_mention(self.text, self.bot_user)


async def _accepted() -> None:
    return None


async def triage(
    deps: Deps,
    client: AsyncWebClient,
    request: Request,
    answer: Answer,
    accept: Callable[[], Awaitable[object]] = _accepted,
) -> None:
    """The one path of every request: a watch-list reply, usage, help, a refusal, or a report.

    Args:
        answer: replies to the asker alone (the slash command's ack, an ephemeral message, or
            the request's response_url).
        accept: runs just before a report starts (the slash command's empty ack).
    """
    watching = await _watch_reply(deps, request)
    if watching is not None:
        await answer(watching)
        return
    try:
        cmd = parse(request.text, bot_user=request.bot_user or "")
    except UsageError as exc:
        await answer(_usage(exc, request.prefix))
        return
    if cmd.kind == "help":
        await answer(_help(deps, request.prefix))
        return
    refusal = _admit(deps, request.where)
    if refusal:
        await answer(blocks.render_text(refusal))
        return
    await accept()  # within 3 s, before any network work
    await run_report(deps, client, cmd, request.where)


async def _watch_reply(deps: Deps, request: Request) -> Message | None:
    """The reply to a watch/unwatch/watches command, or None when the request is something else."""
    if deps.watch_store is None:
        return None
    where = request.where
    return await watch_commands.answer(
        request.command_text,
        store=deps.watch_store,
        team_id=where.team,
        channel_id=where.channel,
        user_id=where.user,
        prefix=request.prefix,
    )


def _watch_help(deps: Deps) -> str:
    return watch_commands.render_watch_help() if deps.watch_store is not None else ""


def _help(deps: Deps, prefix: str) -> Message:
    return blocks.render_help(prefix, _catalogue(), _watch_help(deps))


def _ignored_mention(event: dict[str, Any], bot_user: str) -> str:
    """Why a mention gets no answer ("" when it gets one).

    Bots (other apps, or this one) are not answered, so two bots cannot keep each other busy.
    Editing a message that mentions the bot makes Slack send `app_mention` again, with a new event
    id and an `edited` field: the original already ran (or was answered with usage), so not twice.
    (An edit that adds the mention to an old message is not answered either: post it anew.)
    """
    if event.get("bot_id") or event.get("subtype") == "bot_message":
        return "posted by a bot"
    if bot_user and event.get("user") == bot_user:
        return "posted by this bot"
    if event.get("edited"):
        return "an edit of a message already answered"
    return ""


# ---- the report flow ----------------------------------------------------------------------------


async def run_report(deps: Deps, client: AsyncWebClient, cmd: Command, where: Where) -> None:
    """Placeholder, progressive updates, final report; queued behind the concurrency cap."""
    target = cmd.target
    assert target is not None  # noqa: S101 -- help commands never get here
    planned = list(deps.plan(cmd))
    ahead = deps.gate.ahead()
    message = _Message(deps, client, where)
    if not await message.post(blocks.render_progress(target, [], planned, queued=ahead)):
        return
    try:
        with deps.in_flight.track():
            async with deps.gate.slot():
                report = await _collect(deps, cmd, planned, message, queued=ahead > 0)
    except asyncio.CancelledError:  # shutting down (a deploy): say so rather than hang
        notice = f"mxbot restarted before checking {blocks.escape(target.name)} finished; press Re-run or try again."
        with suppress(Exception):
            async with asyncio.timeout(3):
                await message.update(blocks.render_text(notice), final=True)
        raise
    except Exception:  # a bug must not leave "Checking…" up forever; logged, never shown
        log.exception(
            "report on %s failed (team %s, channel %s)", target.name, where.team, where.channel
        )
        notice = f"Sorry, checking {blocks.escape(target.name)} failed on my side; press Re-run or try again later."
        await message.update(blocks.render_text(notice), final=True)
        return
    deps.metrics.report_done(report.status, report.results, report.duration_ms / 1000)
    report_id = await deps.store.add_report(
        report, team_id=where.team, channel_id=where.channel, user_id=where.user, command=cmd.text
    )
    final = blocks.render(
        report,
        command=cmd.text,
        when=datetime.now(UTC),
        report_id=str(report_id),
        watchable=deps.watch_store is not None,
    )
    await message.update(final, final=True)


async def _collect(
    deps: Deps, cmd: Command, planned: list[tuple[str, str]], message: _Message, *, queued: bool
) -> Report:
    """Update the placeholder as results arrive; the finished `Report` is the engine's own."""
    target = cmd.target
    assert target is not None  # noqa: S101 -- checked by the caller
    results: list[CheckResult] = []

    def progress() -> Message:
        done_ids = {r.id for r in results}
        pending = [(cid, title) for cid, title in planned if cid not in done_ids]
        return blocks.render_progress(target, order(results), pending)

    running = deps.engine(cmd)
    throttle = Throttle(deps.settings.update_interval, lambda: message.update(progress()))
    if queued:
        throttle.poke()  # the "queued" placeholder becomes the running one
    try:
        async for result in running:
            results.append(result)
            throttle.poke()
    finally:
        await throttle.close()
    return running.report


class Throttle:
    """Calls `flush` soon after `poke`, but never twice within `interval` seconds.

    The first poke flushes at once (the first verdicts matter most); later pokes coalesce.
    """

    def __init__(self, interval: float, flush: Callable[[], Awaitable[None]]) -> None:
        self._interval = interval
        self._flush = flush
        self._dirty = False
        self._last: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._flushing = False

    def poke(self) -> None:
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        """Stop: a flush in flight finishes, a scheduled one is dropped (the final message follows)."""
        self._dirty = False
        task = self._task
        if task is None or task.done():
            return
        if not self._flushing:
            task.cancel()
        with suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while self._dirty:
            if self._last is not None:
                wait = self._last + self._interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)  # close() cancels this sleep
            self._dirty = False
            self._last = time.monotonic()
            self._flushing = True
            try:
                await self._flush()
            finally:
                self._flushing = False


class _Message:
    """The report's message: posted with chat.postMessage, or through response_url as a fallback."""

    def __init__(self, deps: Deps, client: AsyncWebClient, where: Where) -> None:
        self._deps = deps
        self._client = client
        self._where = where
        self._channel = where.channel
        self._ts: str | None = None
        self._webhook: AsyncWebhookClient | None = None

    async def post(self, message: Message) -> bool:
        """Post the placeholder; False when the user cannot be reached at all."""
        try:
            response = await self._client.chat_postMessage(
                channel=self._where.channel,
                thread_ts=self._where.thread_ts,
                unfurl_links=False,
                unfurl_media=False,
                **message,
            )
        except SlackApiError as exc:
            code = _api_error(self._deps, "chat.postMessage", exc, self._where)
            if code in FALLBACK_ERRORS and self._where.response_url:
                self._webhook = _webhook(self._where.response_url)
                return await self._send_webhook({"response_type": "in_channel", **message})
            await _tell(self._deps, self._client, self._where, code)
            return False
        self._ts = response.get("ts")
        self._channel = response.get("channel") or self._channel
        return True

    async def update(self, message: Message, *, final: bool = False) -> None:
        if self._webhook is not None:
            # A response_url takes 5 messages in 30 minutes: skip progress, send the result.
            if final:
                await self._send_webhook(
                    {"replace_original": True, "response_type": "in_channel", **message}
                )
            return
        try:
            await self._client.chat_update(channel=self._channel, ts=self._ts or "", **message)
        except SlackApiError as exc:
            code = _api_error(self._deps, "chat.update", exc, self._where)
            if final:
                await _tell(self._deps, self._client, self._where, code)

    async def _send_webhook(self, payload: dict[str, Any]) -> bool:
        assert self._webhook is not None  # noqa: S101 -- set by the caller
        response = await self._webhook.send_dict(payload)
        if response.status_code != 200:
            self._deps.metrics.slack_error("response_url", str(response.status_code))
            log.warning(
                "response_url answered %s for channel %s team %s",
                response.status_code,
                self._where.channel,
                self._where.team,
            )
            return False
        return True


# ---- helpers ------------------------------------------------------------------------------------


def _admit(deps: Deps, where: Where) -> str:
    """ "" when the report may run; otherwise the reason, for the user."""
    user_key, channel_key = f"{where.team}:{where.user}", f"{where.team}:{where.channel}"
    wait_user = deps.user_limit.retry_after(user_key)
    if wait_user:
        deps.metrics.refusal("user_rate")
        return (
            f"You have asked for {deps.user_limit.per_minute} reports in the last minute; "
            f"try again in {wait_user:.0f} s."
        )
    wait_channel = deps.channel_limit.retry_after(channel_key)
    if wait_channel:
        deps.metrics.refusal("channel_rate")
        return (
            f"This channel has had {deps.channel_limit.per_minute} reports in the last minute; "
            f"try again in {wait_channel:.0f} s."
        )
    if deps.gate.full:
        deps.metrics.refusal("queue_full")
        return f"I am busy with {deps.gate.running} reports and {deps.gate.waiting} more waiting; try again in a minute."
    deps.user_limit.record(user_key)
    deps.channel_limit.record(channel_key)
    return ""


def _usage(exc: UsageError, prefix: str) -> Message:
    text = f"{blocks.escape(exc.reason)}\nTry: `{prefix} {blocks.escape(exc.usage)}` (or `{prefix} help`)"
    return blocks.render_text(text)


def _catalogue() -> list[tuple[str, str]]:
    return [(c.ID, c.TITLE) for c in registry.CHECKS]


def _where_from_action(body: dict[str, Any]) -> Where:
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id", ""
    )
    message = body.get("message") or {}
    return Where(
        team=(body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id", ""),
        channel=channel,
        user=(body.get("user") or {}).get("id", ""),
        thread_ts=message.get("thread_ts") or (body.get("container") or {}).get("thread_ts"),
        response_url=body.get("response_url"),
    )


def _thread_of(body: dict[str, Any]) -> str | None:
    """The thread a clicked message belongs to (or starts); None for an ephemeral message."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    if container.get("is_ephemeral") or not (message or container.get("message_ts")):
        return None
    thread = (
        message.get("thread_ts")
        or container.get("thread_ts")
        or message.get("ts")
        or container.get("message_ts")
    )
    return str(thread) if thread else None


async def _reply(deps: Deps, respond: AsyncRespond, where: Where, message: Message) -> bool:
    """An ephemeral answer through the request's response_url; a failure is logged, not raised."""
    try:
        response = await respond(response_type="ephemeral", replace_original=False, **message)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:  # ValueError: no response_url
        code = type(exc).__name__
    else:
        if response.status_code == 200:
            return True
        code = str(response.status_code)
    deps.metrics.slack_error("response_url", code)
    log.warning(
        "response_url answered %s (team %s, channel %s, user %s)",
        code,
        where.team,
        where.channel,
        where.user,
    )
    return False


async def _ephemeral(deps: Deps, client: AsyncWebClient, where: Where, message: Message) -> None:
    try:
        await client.chat_postEphemeral(
            channel=where.channel, user=where.user, thread_ts=where.thread_ts, **message
        )
    except SlackApiError as exc:
        _api_error(deps, "chat.postEphemeral", exc, where)


async def _tell(deps: Deps, client: AsyncWebClient, where: Where, code: str) -> None:
    """Tell the waiting user that their report could not be posted, if any way is left."""
    text = f"I could not post the report here (Slack said `{blocks.escape(code)}`)."
    if code in {"not_in_channel", "channel_not_found"}:
        text += " Invite me with `/invite @mxbot`, or use `/mx` so I can answer you directly."
    if where.response_url:
        response = await _webhook(where.response_url).send_dict(
            {"response_type": "ephemeral", "replace_original": False, "text": text}
        )
        if response.status_code == 200:
            return
    if code not in {"token_revoked", "invalid_auth", "account_inactive", "not_authed"}:
        await _ephemeral(deps, client, where, blocks.render_text(text))


def _api_error(deps: Deps, method: str, exc: SlackApiError, where: Where) -> str:
    code = str(exc.response.get("error") or exc.response.status_code)
    deps.metrics.slack_error(method, code)
    log.warning(
        "Slack %s failed: %s (team %s, channel %s, user %s)",
        method,
        code,
        where.team,
        where.channel,
        where.user,
    )
    return code


def _webhook(url: str) -> AsyncWebhookClient:
    return AsyncWebhookClient(
        url, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)]
    )
