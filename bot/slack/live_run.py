"""`/mx live example.com [TYPE [NAME]]` in Slack: a placeholder, one look at every name server and
resolver (`checks.live`), then the answer in its place.

Admitted and acknowledged like a report (rate limits, the queue). An answer that is not live yet
carries *Tell me when it's live* (`bot.slack.follow_run`), when the app keeps follow-ups.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import Command
from bot.render import blocks, followup, live
from bot.slack.deps import Deps, Where
from bot.slack.replies import post_placeholder, update_placeholder
from checks.live.records import RecordError
from checks.live.result import Verdict

log = logging.getLogger(__name__)


async def run_live(deps: Deps, client: AsyncWebClient, cmd: Command, where: Where) -> None:
    """Post a placeholder, look (queued behind the concurrency cap), post the answer."""
    target = cmd.target
    assert target is not None  # noqa: S101 -- the grammar gives every live command a target
    name = blocks.escape(target.name)
    if deps.live is None:
        await post_placeholder(deps, client, where, blocks.render_text(_UNAVAILABLE))
        return
    placeholder = await post_placeholder(deps, client, where, live.render_progress(target.name))
    if placeholder is None:
        return
    try:
        with deps.in_flight.track():
            async with deps.gate.slot():
                report = await deps.live(cmd)
    except RecordError as exc:
        message = blocks.render_text(f"{blocks.escape(str(exc))}. Try: `/mx live {name} TXT @`")
        await update_placeholder(deps, client, where, placeholder, message)
        return
    except asyncio.CancelledError:  # shutting down: say so rather than leave the placeholder
        notice = f"mxbot restarted before it could tell whether {name} is live; ask again."
        with suppress(Exception):
            async with asyncio.timeout(3):
                await update_placeholder(
                    deps, client, where, placeholder, blocks.render_text(notice)
                )
        raise
    except Exception:  # a bug: logged with where it happened, never shown
        log.exception(
            "live %s failed (team %s, channel %s)", target.name, where.team, where.channel
        )
        notice = f"Sorry, looking at whether {name} is live failed on my side; try again later."
        await update_placeholder(deps, client, where, placeholder, blocks.render_text(notice))
        return
    message = live.render_blocks(report, command=cmd.text)
    if deps.follows and report.verdict in (Verdict.RESOLVERS_STALE, Verdict.SERVERS_DISAGREE):
        wanted = [r.wanted for r in report.records]
        message = followup.with_button(message, followup.button(target.name, wanted))
    await update_placeholder(deps, client, where, placeholder, message)


_UNAVAILABLE = "This mxbot does not follow DNS changes (`/mx live`); run `mxbot live` instead."
