"""`/mx digest now`: this channel's digest now, outside its schedule, through the one delivery path.

The asker is answered at once (the digest takes as long as its checks); the digest itself is
posted to the channel by the scheduler's path (`Deps.digest_now`), claimed like a scheduled one,
so it never runs beside another digest of the channel. If it cannot be posted, the asker is told
why, to them alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_sdk.web.async_client import AsyncWebClient

from bot.render import blocks
from bot.render.blocks import Message
from bot.slack.deps import Deps, Where
from bot.slack.replies import ephemeral, webhook

Answer = Callable[[Message], Awaitable[object]]


async def run_digest_now(deps: Deps, client: AsyncWebClient, where: Where, answer: Answer) -> None:
    """Answer the asker, make and post the digest, and tell the asker if it could not be posted."""
    if deps.digest_now is None or deps.watch_store is None:
        await answer(blocks.render_text("Digests are not run by this mxbot."))
        return
    watches = await deps.watch_store.watches(where.team, where.channel)
    if not watches:
        await answer(
            blocks.render_text(
                "This channel watches no domains yet. Start with `/mx watch example.com`."
            )
        )
        return
    count = len(watches)
    await answer(
        blocks.render_text(
            f"Making this channel's digest now: checking {count} domain{'s' if count != 1 else ''}…"
        )
    )
    with deps.in_flight.track():
        made = await deps.digest_now(where.team, where.channel)
    if made is None:
        await _tell(deps, client, where, "A digest of this channel is being made right now.")
    elif made.failed:
        why = blocks.escape(made.problems[0]) if made.problems else "Slack did not take it"
        await _tell(deps, client, where, f"The digest could not be posted: {why}")


async def _tell(deps: Deps, client: AsyncWebClient, where: Where, text: str) -> None:
    """To the asker alone: through the command's response_url, else an ephemeral message."""
    if where.response_url:
        response = await webhook(where.response_url).send_dict(
            {"response_type": "ephemeral", "replace_original": False, "text": text}
        )
        if response.status_code == 200:
            return
    await ephemeral(deps, client, where, blocks.render_text(text))
