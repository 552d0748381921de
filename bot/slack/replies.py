"""Answers that are not the report itself: ephemeral replies, response_url, and Slack API errors.

None of them raises: a failure is counted in the metrics and logged with where it happened.
"""

from __future__ import annotations

import logging

import aiohttp
from slack_bolt.async_app import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.render import blocks
from bot.render.blocks import Message
from bot.slack.deps import Deps, Where

log = logging.getLogger(__name__)


async def reply(deps: Deps, respond: AsyncRespond, where: Where, message: Message) -> bool:
    """An answer through the request's response_url, ephemeral unless the message says
    `in_channel` (a watch-list change); a failure is logged, not raised."""
    try:
        response = await respond(
            **{"response_type": "ephemeral", "replace_original": False, **message}
        )
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


async def ephemeral(deps: Deps, client: AsyncWebClient, where: Where, message: Message) -> None:
    """A message only the asker sees, in the channel (and thread) they asked in."""
    body = {k: v for k, v in message.items() if k != "response_type"}
    try:
        await client.chat_postEphemeral(
            channel=where.channel, user=where.user, thread_ts=where.thread_ts, **body
        )
    except SlackApiError as exc:
        api_error(deps, "chat.postEphemeral", exc, where)


async def answer_mention(
    deps: Deps, client: AsyncWebClient, where: Where, message: Message
) -> None:
    """The answer to a mention: a watch-list change (`response_type: in_channel`) is posted in
    the mention's thread and to the channel; anything else goes to the asker alone."""
    if message.get("response_type") != "in_channel":
        await ephemeral(deps, client, where, message)
        return
    body = {k: v for k, v in message.items() if k != "response_type"}
    try:
        await client.chat_postMessage(
            channel=where.channel,
            thread_ts=where.thread_ts,
            reply_broadcast=bool(where.thread_ts),
            unfurl_links=False,
            unfurl_media=False,
            **body,
        )
    except SlackApiError as exc:
        api_error(deps, "chat.postMessage", exc, where)
        await ephemeral(deps, client, where, body)


async def tell(deps: Deps, client: AsyncWebClient, where: Where, code: str) -> None:
    """Tell the waiting user that their report could not be posted, if any way is left."""
    text = f"I could not post the report here (Slack said `{blocks.escape(code)}`)."
    if code in {"not_in_channel", "channel_not_found"}:
        text += " Invite me with `/invite @mxbot`, or use `/mx` so I can answer you directly."
    if where.response_url:
        response = await webhook(where.response_url).send_dict(
            {"response_type": "ephemeral", "replace_original": False, "text": text}
        )
        if response.status_code == 200:
            return
    if code not in {"token_revoked", "invalid_auth", "account_inactive", "not_authed"}:
        await ephemeral(deps, client, where, blocks.render_text(text))


def api_error(deps: Deps, method: str, exc: SlackApiError, where: Where) -> str:
    """Count and log a failed Web API call; returns Slack's error code."""
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


def webhook(url: str) -> AsyncWebhookClient:
    """A client for a response_url that waits out Slack's 429s."""
    return AsyncWebhookClient(
        url, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)]
    )


async def post_placeholder(
    deps: Deps, client: AsyncWebClient, where: Where, message: Message
) -> tuple[str, str] | None:
    """Post the message a slow answer replaces (`/mx fix`, `/mx live`): its (channel, ts), or None
    when it could not be posted (the user is told)."""
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


async def update_placeholder(
    deps: Deps, client: AsyncWebClient, where: Where, posted: tuple[str, str], message: Message
) -> None:
    """Replace the placeholder with the answer; a failure is told to the user, not raised."""
    channel, ts = posted
    try:
        await client.chat_update(channel=channel, ts=ts, **message)
    except SlackApiError as exc:
        await tell(deps, client, where, api_error(deps, "chat.update", exc, where))
