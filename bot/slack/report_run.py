"""One report in Slack: a placeholder, throttled progress updates, then the finished report.

Acknowledged before this runs (no network work before the ack); the placeholder is updated as results
stream in (at most one `chat.update` per `update_interval`) and replaced by the engine's `Report`.
Where the bot cannot post (not in the channel, a DM it cannot open) the report goes through the
request's `response_url` instead.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.commands import Command
from bot.render import blocks, followup
from bot.render.blocks import Message
from bot.slack.deps import Deps, Where
from bot.slack.replies import api_error, tell, webhook
from bot.slack.throttle import Throttle
from checks.engine import order
from checks.model import CheckResult, Report

log = logging.getLogger(__name__)

# chat.postMessage errors after which the request's response_url can still reach the user.
FALLBACK_ERRORS = frozenset(
    {"not_in_channel", "channel_not_found", "cannot_dm_bot", "restricted_action", "is_archived"}
)


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
    await _finish(deps, cmd, where, report, message)


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


async def _finish(
    deps: Deps, cmd: Command, where: Where, report: Report, message: _Message
) -> None:
    """Count it, keep it (for Details and App Home), and replace the placeholder with it."""
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
    if deps.follows:  # the records its findings propose in the domain's zone, if any
        final = followup.with_button(
            final, followup.button(report.domain, followup.proposed(report))
        )
    await message.update(final, final=True)


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
            code = api_error(self._deps, "chat.postMessage", exc, self._where)
            if code in FALLBACK_ERRORS and self._where.response_url:
                self._webhook = webhook(self._where.response_url)
                return await self._send_webhook({"response_type": "in_channel", **message})
            await tell(self._deps, self._client, self._where, code)
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
            code = api_error(self._deps, "chat.update", exc, self._where)
            if final:
                await tell(self._deps, self._client, self._where, code)

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
