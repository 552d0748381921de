"""`/mx fix example.com` in Slack: a placeholder, the checks run to the end, then the fix bundle.

Admitted and acknowledged like a report (rate limits, the queue); the message is the bundle
rendered by `bot.render.fix`, escaped and inside Slack's limits, with *Tell me when it's live*
for the records it changes when the app keeps follow-ups. There is no progress per check: the
bundle needs them all.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import Command
from bot.render import blocks, fix, followup
from bot.slack.deps import Deps, Where
from bot.slack.replies import post_placeholder, update_placeholder
from checks.bundle.assemble import assemble
from checks.model import Report

log = logging.getLogger(__name__)


async def run_fix(deps: Deps, client: AsyncWebClient, cmd: Command, where: Where) -> None:
    """Post a placeholder, run the checks (queued behind the concurrency cap), post the bundle."""
    target = cmd.target
    assert target is not None  # noqa: S101 -- the grammar gives every fix command a target
    placeholder = await post_placeholder(deps, client, where, fix.render_progress(target.name))
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
                await update_placeholder(
                    deps, client, where, placeholder, blocks.render_text(notice)
                )
        raise
    except Exception:  # a bug: logged with where it happened, never shown
        log.exception(
            "fix bundle for %s failed (team %s, channel %s)", target.name, where.team, where.channel
        )
        notice = f"Sorry, the fix bundle for {blocks.escape(target.name)} failed on my side; try again later."
        await update_placeholder(deps, client, where, placeholder, blocks.render_text(notice))
        return
    deps.metrics.report_done(report.status, report.results, report.duration_ms / 1000)
    bundle = assemble(report)
    message = fix.render_blocks(bundle, command=cmd.text)
    if deps.follows:
        message = followup.with_button(
            message, followup.button(bundle.domain, followup.bundled(bundle))
        )
    await update_placeholder(deps, client, where, placeholder, message)


async def _run(deps: Deps, cmd: Command) -> Report:
    running = deps.engine(cmd)
    async for _ in running:
        pass
    return running.report
