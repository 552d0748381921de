"""`/mx fix example.com` in Slack: a placeholder, the checks run to the end, then the fix bundle.

Admitted and acknowledged like a report (rate limits, the queue); the message is the bundle
rendered by `bot.render.fix`, escaped and inside Slack's limits. There is no progress per check:
the bundle needs them all.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import Command
from bot.render import blocks, fix
from bot.render.blocks import Message
from bot.slack.deps import Deps, Where
from bot.slack.replies import api_error, tell
from checks.bundle.assemble import assemble
from checks.model import Report

log = logging.getLogger(__name__)


async def run_fix(deps: Deps, client: AsyncWebClient, cmd: Command, where: Where) -> None:
    """Post a placeholder, run the checks (queued behind the concurrency cap), post the bundle."""
    target = cmd.target
    assert target is not None  # noqa: S101 -- the grammar gives every fix command a target
    placeholder = await _post(deps, client, where, fix.render_progress(target.name))
    if placeholder is None:
        return
    try:
        with deps.in_flight.track():
            async with deps.gate.slot():
                report = await _run(deps, cmd)
    except asyncio.CancelledError:  # shutting down: say so rather than leave the placeholder
        notice = f"mxbot restarted before the fix bundle for {blocks.escape(target.name)} was ready; try again."
        with suppress(Exception):
            async with asyncio.timeout(3):
                await _update(deps, client, where, placeholder, blocks.render_text(notice))
        raise
    except Exception:  # a bug: logged with where it happened, never shown
        log.exception(
            "fix bundle for %s failed (team %s, channel %s)", target.name, where.team, where.channel
        )
        notice = f"Sorry, the fix bundle for {blocks.escape(target.name)} failed on my side; try again later."
        await _update(deps, client, where, placeholder, blocks.render_text(notice))
        return
    deps.metrics.report_done(report.status, report.results, report.duration_ms / 1000)
    message = fix.render_blocks(assemble(report), command=cmd.text)
    await _update(deps, client, where, placeholder, message)


async def _run(deps: Deps, cmd: Command) -> Report:
    running = deps.engine(cmd)
    async for _ in running:
        pass
    return running.report


async def _post(
    deps: Deps, client: AsyncWebClient, where: Where, message: Message
) -> tuple[str, str] | None:
    """(channel, ts) of the placeholder, or None when it could not be posted (the user is told)."""
    try:
        response = await client.chat_postMessage(
            channel=where.channel,
            thread_ts=where.thread_ts,
            unfurl_links=False,
            unfurl_media=False,
            **message,
        )
    except SlackApiError as exc:
        await tell(deps, client, where, api_error(deps, "chat.postMessage", exc, where))
        return None
    return str(response.get("channel") or where.channel), str(response.get("ts") or "")


async def _update(
    deps: Deps, client: AsyncWebClient, where: Where, posted: tuple[str, str], message: Message
) -> None:
    channel, ts = posted
    try:
        await client.chat_update(channel=channel, ts=ts, **message)
    except SlackApiError as exc:
        await tell(deps, client, where, api_error(deps, "chat.update", exc, where))
