"""The three ways a message reaches the diagnosis in Slack: the "Diagnose with mxbot" message
shortcut (the message's text or its attached .eml/.txt), the `/mx message` modal for pasting,
and a file (or pasted headers) sent to the bot in a direct message."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.render import blocks
from bot.slack.deps import Deps, Where
from bot.slack.helptext import MESSAGE_HOW
from bot.slack.message_input import MAX_FILE_BYTES, fetch_file, from_text, pick_file
from bot.slack.message_run import answer, diagnose_and_answer
from bot.slack.replies import api_error

log = logging.getLogger(__name__)

SHORTCUT: Final = "mx_diagnose_message"  # manifest.yml's message shortcut callback_id
MODAL: Final = "mx_message_modal"
MODAL_BLOCK: Final = "mx_message_input"
MODAL_ACTION: Final = "mx_message_text"
MODAL_MAX: Final = 3000  # Slack's limit for a plain_text_input
_MIN_DM_LINES: Final = 3  # a DM shorter than this is chat, not pasted headers


def register_message_listeners(app: AsyncApp, deps: Deps) -> None:
    app.shortcut(SHORTCUT)(_shortcut(deps))
    app.view(MODAL)(_submission(deps))


async def open_modal(client: AsyncWebClient, trigger_id: str, where: Where, deps: Deps) -> None:
    """The paste box for `/mx message`; the answer goes to the channel it was opened from."""
    metadata = json.dumps({"channel": where.channel, "user": where.user, "team": where.team})
    try:
        await client.views_open(trigger_id=trigger_id, view=modal_view(metadata))
    except SlackApiError as exc:
        api_error(deps, "views.open", exc, where)


def modal_view(metadata: str) -> dict[str, Any]:
    note = (
        f"At most {MODAL_MAX} characters here: for a whole message, attach the .eml to a message "
        "and use the *Diagnose with mxbot* shortcut, or send it to me in a DM (up to "
        f"{MAX_FILE_BYTES // 1048576} MB). The body is only used to check DKIM, and nothing is kept."
    )
    return {
        "type": "modal",
        "callback_id": MODAL,
        "title": {"type": "plain_text", "text": "Diagnose a message"},
        "submit": {"type": "plain_text", "text": "Diagnose"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": metadata,
        "blocks": [
            {
                "type": "input",
                "block_id": MODAL_BLOCK,
                "label": {"type": "plain_text", "text": "Paste a bounce or a message's headers"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": MODAL_ACTION,
                    "multiline": True,
                    "max_length": MODAL_MAX,
                },
            },
            blocks.context_block(note),
        ],
    }


def _shortcut(deps: Deps) -> Callable[..., Awaitable[None]]:
    async def on_shortcut(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()  # within 3 s, before any network work
        message = body.get("message") or {}
        where = Where(
            team=(body.get("team") or {}).get("id", ""),
            channel=(body.get("channel") or {}).get("id", ""),
            user=(body.get("user") or {}).get("id", ""),
            thread_ts=message.get("thread_ts") or message.get("ts"),
            response_url=body.get("response_url"),
        )
        await _diagnose_message(deps, client, message, where)

    return on_shortcut


def _submission(deps: Deps) -> Callable[..., Awaitable[None]]:
    async def on_submit(ack: AsyncAck, view: dict[str, Any], client: AsyncWebClient) -> None:
        values = (view.get("state") or {}).get("values") or {}
        text = ((values.get(MODAL_BLOCK) or {}).get(MODAL_ACTION) or {}).get("value") or ""
        if not text.strip():
            await ack(response_action="errors", errors={MODAL_BLOCK: "Paste something first."})
            return
        await ack()  # closes the modal
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = {}
        where = Where(
            team=meta.get("team", ""), channel=meta.get("channel", ""), user=meta.get("user", "")
        )
        # Pasted into a text box: plain text, not Slack markup.
        await diagnose_and_answer(deps, client, text.encode("utf-8"), where)

    return on_submit


def dm_listener(deps: Deps) -> Callable[..., Awaitable[None]]:
    """Message events: a file or pasted headers in a DM with the bot; everything else is dropped
    (acknowledged, so Slack does not retry)."""

    async def on_message(
        body: dict[str, Any],
        event: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        if not _worth_answering(event, context.bot_user_id or ""):
            return
        event_id = body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}"
        if not await deps.store.claim_event(event_id):
            return
        where = Where(
            team=context.team_id or body.get("team_id", ""),
            channel=event.get("channel", ""),
            user=event.get("user", ""),
            thread_ts=event.get("thread_ts") or event.get("ts"),
        )
        text = event.get("text") or ""
        if not event.get("files") and len(text.strip().splitlines()) < _MIN_DM_LINES:
            await answer(deps, client, where, blocks.render_text(MESSAGE_HOW))
            return
        await _diagnose_message(deps, client, event, where)

    return on_message


def _worth_answering(event: dict[str, Any], bot_user: str) -> bool:
    if event.get("channel_type") != "im":
        return False
    if event.get("bot_id") or event.get("subtype") not in (None, "file_share"):
        return False
    return not (bot_user and event.get("user") == bot_user)


async def _diagnose_message(
    deps: Deps, client: AsyncWebClient, message: dict[str, Any], where: Where
) -> None:
    """A Slack message's attached mail file, else its text, diagnosed and answered."""
    attached = pick_file(message.get("files") or [])
    if attached is not None:
        fetched = await fetch_file(client, attached)
        if fetched.problem:
            await answer(deps, client, where, blocks.render_text(blocks.escape(fetched.problem)))
            return
        data = fetched.data
    elif message.get("files"):
        await answer(
            deps,
            client,
            where,
            blocks.render_text(
                "Attach the message as an .eml or .txt file; I cannot read that kind of file."
            ),
        )
        return
    else:
        data = from_text(message.get("text") or "")
    await diagnose_and_answer(deps, client, data, where)
