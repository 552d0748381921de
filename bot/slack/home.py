"""App Home: the workspace's latest reports, its watch-lists, and what the bot can do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.render import blocks
from bot.slack import watch_commands
from bot.slack.deps import Deps, Where
from bot.slack.helptext import catalogue, watch_help
from bot.slack.replies import api_error


def home_listener(deps: Deps) -> Callable[..., Awaitable[None]]:
    async def on_home(
        event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        if event.get("tab", "home") != "home":
            return
        recent = await deps.store.recent_reports(context.team_id or "", limit=10)
        lines = [
            blocks.HistoryLine(s.status, blocks.display_name(s.report), s.command, s.created_at)
            for s in recent
        ]
        tail: list[dict[str, Any]] = []
        if deps.watch_store is not None:
            watches = await deps.watch_store.team_watches(context.team_id or "")
            tail = watch_commands.render_home_watches(watches)
        view = blocks.render_home(catalogue(), lines, help_extra=watch_help(deps), tail=tail)
        try:
            await client.views_publish(user_id=event.get("user", ""), view=view)
        except SlackApiError as exc:
            api_error(
                deps, "views.publish", exc, Where(context.team_id or "", "", event.get("user", ""))
            )

    return on_home
