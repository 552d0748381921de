"""The buttons on a finished report: Re-run (through the shared triage), Details, and Watch."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.render import blocks
from bot.slack import watch_commands
from bot.slack.deps import Deps, thread_of, where_from_action
from bot.slack.replies import api_error, reply
from bot.slack.triage import Request, triage
from checks.target import TargetError


def rerun_listener(deps: Deps) -> Callable[..., Awaitable[None]]:
    async def on_rerun(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        await ack()
        where = where_from_action(body)
        request = Request(action.get("value", ""), where, "/mx")
        await triage(
            deps, client, request, answer=lambda message: reply(deps, respond, where, message)
        )

    return on_rerun


def details_listener(deps: Deps) -> Callable[..., Awaitable[None]]:
    async def on_details(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        await ack()
        where = where_from_action(body)
        value = action.get("value", "")
        known = value.isdigit() and len(value) < 16
        stored = await deps.store.get_report(int(value), team_id=where.team) if known else None
        if stored is None:
            text = "That report is no longer available; press Re-run for a fresh one."
            await reply(deps, respond, where, blocks.render_text(text))
            return
        thread = thread_of(body)
        for part in blocks.render_details(stored.report):
            if thread is None:  # an ephemeral message has no thread: answer the user alone
                await reply(deps, respond, where, part)
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
                api_error(deps, "chat.postMessage", exc, where)
                await reply(deps, respond, where, part)

    return on_details


def watch_listener(deps: Deps) -> Callable[..., Awaitable[None]]:
    async def on_watch(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        where = where_from_action(body)
        if deps.watch_store is None:
            text = "Watch-lists are not enabled on this mxbot."
            await reply(deps, respond, where, blocks.render_text(text))
            return
        try:
            cmd = watch_commands.watch_command_for(action.get("value", ""))
        except TargetError as exc:
            text = f"That cannot be watched: {blocks.escape(str(exc))}."
            await reply(deps, respond, where, blocks.render_text(text))
            return
        message = await watch_commands.execute(
            cmd,
            store=deps.watch_store,
            team_id=where.team,
            channel_id=where.channel,
            user_id=where.user,
        )
        await reply(deps, respond, where, message)

    return on_watch
