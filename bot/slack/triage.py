"""The one path every request takes, whichever listener read it: a watch-list reply, usage, help,
a refusal (rate limits, a full queue), a report, a fix bundle, whether a change is live, or to
stop following one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import UsageError, is_message_request, parse, without_mention
from bot.render import blocks, fix
from bot.render.blocks import Message
from bot.slack import watch_commands
from bot.slack.admission import admit
from bot.slack.deps import Deps, Where
from bot.slack.digest_now import run_digest_now
from bot.slack.fix_run import run_fix
from bot.slack.follow_run import cancel_command
from bot.slack.helptext import MESSAGE_HOW, help_message, usage
from bot.slack.live_run import run_live
from bot.slack.report_run import run_report

Answer = Callable[[Message], Awaitable[object]]  # a reply only the asker sees


@dataclass(frozen=True, slots=True)
class Request:
    """What a listener read from Slack: the text, where it came from, and how to quote commands."""

    text: str  # as typed; a mention's text still carries the bot's <@…>
    where: Where
    prefix: str  # "/mx" or "@mxbot", for usage and help replies
    bot_user: str | None = None  # a mention's bot user id: its <@…> is not part of the command

    @property
    def command_text(self) -> str:
        """The text without the bot's own mention, as watch-list commands read it."""
        if self.bot_user is None:
            return self.text
        return without_mention(self.text, self.bot_user)


async def _accepted() -> None:
    return None


async def triage(
    deps: Deps,
    client: AsyncWebClient,
    request: Request,
    answer: Answer,
    accept: Callable[[], Awaitable[object]] = _accepted,
) -> None:
    """The one path of every request: a watch-list reply, a digest now, usage, help, a refusal,
    or a report.

    Args:
        answer: replies to the asker alone (the slash command's ack, an ephemeral message, or
            the request's response_url).
        accept: runs just before a report starts (the slash command's empty ack).
    """
    if is_message_request(request.command_text):  # `@mxbot message`: no paste box for a mention
        await answer(blocks.render_text(MESSAGE_HOW))
        return
    if watch_commands.asks_for_digest(request.command_text):
        await run_digest_now(deps, client, request.where, answer)
        return
    watching = await _watch_reply(deps, request)
    if watching is not None:
        await answer(watching)
        return
    try:
        cmd = parse(request.text, bot_user=request.bot_user or "")
    except UsageError as exc:
        await answer(usage(exc, request.prefix))
        return
    if cmd.kind == "help":
        await answer(help_message(deps, request.prefix))
        return
    if cmd.kind == "keygen":  # a private key never passes through Slack: point at the CLI
        await answer(fix.keygen_pointer(cmd.target.name if cmd.target else ""))
        return
    if cmd.kind == "live_cancel" and cmd.target is not None:  # no network work: not admitted
        await answer(await cancel_command(deps, client, request.where, cmd.target.name))
        return
    refusal = admit(deps, request.where)
    if refusal:
        await answer(blocks.render_text(refusal))
        return
    await accept()  # within 3 s, before any network work
    if cmd.kind == "fix":
        await run_fix(deps, client, cmd, request.where)
        return
    if cmd.kind == "live":
        await run_live(deps, client, cmd, request.where)
        return
    await run_report(deps, client, cmd, request.where)


async def _watch_reply(deps: Deps, request: Request) -> Message | None:
    """The reply to a watch/unwatch/watches command, or None when the request is something else."""
    if deps.watch_store is None:
        return None
    where = request.where
    return await watch_commands.answer(
        request.command_text,
        store=deps.watch_store,
        team_id=where.team,
        channel_id=where.channel,
        user_id=where.user,
        prefix=request.prefix,
    )
