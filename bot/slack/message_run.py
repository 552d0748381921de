"""One message diagnosis in Slack: run it, post it in the thread it was asked from, and when the
bot cannot post there (not in the channel), answer the asker alone.

The pasted text and file are handed to the diagnosis and dropped: never logged, never stored
(no report history for messages), never in metrics labels.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.render import blocks, message_blocks
from bot.render.blocks import Message
from bot.slack.admission import admit
from bot.slack.deps import Deps, Where
from bot.slack.replies import api_error, webhook
from bot.slack.report_run import FALLBACK_ERRORS

log = logging.getLogger(__name__)

NOT_OFFERED = "Message diagnosis is not set up on this mxbot."


async def diagnose_and_answer(
    deps: Deps, client: AsyncWebClient, data: bytes, where: Where
) -> None:
    """Diagnose `data` and answer where `where` says (its thread_ts, response_url)."""
    refusal = admit(deps, where)
    if refusal:
        await answer(deps, client, where, blocks.render_text(refusal), private=True)
        return
    await answer(deps, client, where, await render(deps, data))


async def render(deps: Deps, data: bytes) -> Message:
    """The diagnosis as a message, or a notice saying why there is none."""
    if deps.diagnose is None:
        return blocks.render_text(NOT_OFFERED)
    try:
        result = await deps.diagnose(data)
    except Exception as exc:  # a bug must not leave the asker without an answer; logged, not shown
        log.exception("message diagnosis failed (%s)", type(exc).__name__)
        return blocks.render_text("Sorry, diagnosing that failed on my side; try again later.")
    if isinstance(result, str):
        return blocks.render_text(
            f"I could not diagnose that: {blocks.escape(result)}.\nPaste a bounce, a message's "
            "headers, or attach the .eml file."
        )
    return message_blocks.render(result)


async def answer(
    deps: Deps, client: AsyncWebClient, where: Where, message: Message, *, private: bool = False
) -> None:
    """In the thread (or channel) asked from; where the bot cannot post, to the asker alone:
    through the request's response_url, else in a direct message."""
    if not private:
        try:
            await client.chat_postMessage(
                channel=where.channel, thread_ts=where.thread_ts, unfurl_links=False, **message
            )
            return
        except SlackApiError as exc:
            code = api_error(deps, "chat.postMessage", exc, where)
            if code not in FALLBACK_ERRORS:
                return
    if where.response_url:
        sent = await webhook(where.response_url).send_dict(
            {"response_type": "ephemeral", "replace_original": False, **message}
        )
        if sent.status_code == 200:
            return
    try:
        await client.chat_postMessage(channel=where.user, unfurl_links=False, **message)
    except SlackApiError as exc:
        api_error(deps, "chat.postMessage", exc, where)
