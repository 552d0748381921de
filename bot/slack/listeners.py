"""The Bolt listeners: each reads its inputs from Bolt's injected arguments and hands them on.

`/mx`, mentions and Re-run go through `bot.slack.triage`; App Home, the other buttons ("tell me
when it's live": `bot.slack.follow_run`) and the message diagnosis (`bot.slack.message_listeners`)
have modules of their own. `register` is the only place listeners are attached to an app.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import is_message_request
from bot.render import blocks, followup
from bot.slack.buttons import details_listener, rerun_listener, watch_listener
from bot.slack.deps import Deps, Where
from bot.slack.follow_run import follow_listener, unfollow_listener
from bot.slack.home import home_listener
from bot.slack.message_listeners import dm_listener, open_modal, register_message_listeners
from bot.slack.replies import answer_mention
from bot.slack.triage import Request, triage

log = logging.getLogger(__name__)


def register(app: AsyncApp, deps: Deps) -> None:
    """Attach every listener to `app`."""
    app.command("/mx")(_command(deps))
    app.event("app_mention")(_mention(deps))
    app.event("app_home_opened")(home_listener(deps))
    # Message events: a file or pasted headers in a DM is diagnosed; the rest (message_changed
    # and the like) carry no command: acknowledged (so Slack does not retry them) and dropped.
    app.event("message")(dm_listener(deps))
    register_message_listeners(app, deps)
    app.action(blocks.RERUN)(rerun_listener(deps))
    app.action(blocks.DETAILS)(details_listener(deps))
    app.action(blocks.WATCH)(watch_listener(deps))
    app.action(followup.FOLLOW)(follow_listener(deps))
    app.action(followup.UNFOLLOW)(unfollow_listener(deps))

    @app.error
    async def on_error(error: Exception) -> None:
        # Never log the request body: it carries response URLs and the verification token.
        log.error("listener failed: %s", type(error).__name__, exc_info=error)


def _command(deps: Deps) -> Callable[..., Awaitable[None]]:
    async def on_mx(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        where = Where(
            team=command.get("team_id", ""),
            channel=command.get("channel_id", ""),
            user=command.get("user_id", ""),
            response_url=command.get("response_url"),
        )
        if is_message_request(command.get("text", "")):  # `/mx message`: the paste box
            await ack()
            await open_modal(client, command.get("trigger_id", ""), where, deps)
            return
        request = Request(command.get("text", ""), where, "/mx")
        # Replies ride on the ack (only the asker sees them); a report is acked empty first.
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
            deps,
            client,
            request,
            answer=lambda message: answer_mention(deps, client, where, message),
        )

    return on_mention


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
