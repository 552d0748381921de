""" "Tell me when it's live" in Slack: the button (under a `/mx live` answer, a fix bundle, or a
report whose findings propose records) looks once, starts a follow-up and says so in the clicked
message's thread; the ack's *Cancel* button and `/mx live cancel example.com` stop it.

The follow-ups themselves run beside the digests (`bot.digest.follower`), which post their end in
the thread through the outbox. Replies that only the clicker needs go through the response_url.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.digest.followup import AlreadyLive, Followup, Request, Unknown, start
from bot.render import blocks, followup
from bot.render.blocks import Message
from bot.slack.admission import admit
from bot.slack.deps import Deps, Where, thread_of, where_from_action
from bot.slack.engine_binding import wanted_from
from bot.slack.replies import api_error, reply
from checks.live.records import RecordError
from checks.live.result import LiveReport, Wanted
from checks.target import TargetError, normalise

log = logging.getLogger(__name__)

Answer = Callable[[Message], Awaitable[object]]  # to the clicker alone

_OFF = "This mxbot does not follow DNS changes; run `mxbot live --wait` instead."
_NO_THREAD = (
    "I can only follow up in a thread of a message in a channel I am in: ask with "
    "`/mx live example.com` there, then press the button under my answer."
)
_STALE = "That button no longer works; ask `/mx live example.com` again."


def follow_listener(deps: Deps) -> Callable[..., Awaitable[None]]:
    async def on_follow(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        await ack()
        where = where_from_action(body)
        thread = thread_of(body)
        value = str(action.get("value", ""))
        await follow(deps, client, where, thread, value, lambda m: reply(deps, respond, where, m))

    return on_follow


def unfollow_listener(deps: Deps) -> Callable[..., Awaitable[None]]:
    async def on_unfollow(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        await ack()
        where = where_from_action(body)
        value = str(action.get("value", ""))
        stopped: list[Followup] = []
        if deps.watch_store is not None and value.isdigit() and len(value) < 16:
            stopped = await deps.watch_store.followups.cancel(
                where.team, where.channel, by=where.user, now=deps.clock(), followup_id=int(value)
            )
        if not stopped:
            text = "That follow-up has ended already: nothing more will be posted about it."
            await reply(deps, respond, where, blocks.render_text(text))
            return
        await _tell_cancelled(deps, client, where, stopped)

    return on_unfollow


async def cancel_command(deps: Deps, client: AsyncWebClient, where: Where, domain: str) -> Message:
    """`/mx live cancel example.com`: stop the channel's follow-ups of it; the asker's answer."""
    if deps.watch_store is None or not deps.follows:
        return blocks.render_text(_OFF)
    stopped = await deps.watch_store.followups.cancel(
        where.team, where.channel, by=where.user, now=deps.clock(), domain=domain
    )
    await _tell_cancelled(deps, client, where, stopped)
    return followup.render_cancel_answer(domain, len(stopped))


async def follow(
    deps: Deps, client: AsyncWebClient, where: Where, thread: str | None, value: str, answer: Answer
) -> None:
    """Look once at what the button names, then start following it (or say why not)."""
    refusal = _OFF if not deps.follows else _NO_THREAD if thread is None else admit(deps, where)
    if refusal:
        await answer(blocks.render_text(refusal))
        return
    assert thread is not None  # noqa: S101 -- refused above otherwise
    try:
        domain, wanted = _read(value)
    except (ValueError, RecordError, TargetError):
        await answer(blocks.render_text(_STALE))
        return
    report = await _look(deps, where, domain, wanted)
    if report is None:
        text = f"Sorry, looking at {blocks.escape(domain)} failed on my side; try again later."
        await answer(blocks.render_text(text))
        return
    asked = (where.team, where.channel, thread, where.user)
    match start(report, where=asked, now=deps.clock(), jitter=deps.jitter):
        case AlreadyLive():
            await _post(deps, client, where, thread, followup.render_already_live(report), answer)
        case Unknown():
            await answer(followup.render_unknown(report))
        case Request() as request:
            await _start(deps, client, where, request, report, answer)


def _read(value: str) -> tuple[str, tuple[Wanted, ...]]:
    """The button's domain and records, checked as `/mx live` would check them."""
    name, items = followup.decode(value)
    target = normalise(name)
    if target.is_address:
        raise TargetError("an address has no records to follow")
    return target.name, wanted_from(target.name, items)


async def _look(
    deps: Deps, where: Where, domain: str, wanted: tuple[Wanted, ...]
) -> LiveReport | None:
    """One look, queued behind the concurrency cap like a report; None when it failed (a bug)."""
    assert deps.look is not None  # noqa: S101 -- `deps.follows` was checked
    try:
        with deps.in_flight.track():
            async with deps.gate.slot():
                return await deps.look(domain, wanted)
    except Exception:  # a bug: logged with where it happened, never shown
        log.exception("look at %s failed (team %s, channel %s)", domain, where.team, where.channel)
        return None


async def _start(
    deps: Deps,
    client: AsyncWebClient,
    where: Where,
    request: Request,
    report: LiveReport,
    answer: Answer,
) -> None:
    """Store the follow-up and say so in the thread; one already running is not started twice."""
    assert deps.watch_store is not None  # noqa: S101 -- `deps.follows` was checked
    store = deps.watch_store.followups
    stored, created = await store.add(request)
    if not created:
        since, until = stored.request.created_at, stored.request.give_up_at
        await answer(followup.render_following(request.domain, since=since, give_up_at=until))
        return
    ack = followup.render_ack(
        [(f.wanted, f.answer) for f in request.records],
        report,
        followup_id=stored.id,
        give_up_at=request.give_up_at,
        now=request.created_at,
        asker=request.user_id,
    )
    if not await _post(deps, client, where, request.thread_ts, ack, answer):
        # what cannot be said in the thread now could not be said there later either
        await store.cancel(
            where.team, where.channel, by="", now=deps.clock(), followup_id=stored.id
        )


async def _post(
    deps: Deps, client: AsyncWebClient, where: Where, thread: str, message: Message, answer: Answer
) -> bool:
    """Post in the thread; when Slack refuses, tell the clicker alone why."""
    try:
        await client.chat_postMessage(
            channel=where.channel,
            thread_ts=thread,
            unfurl_links=False,
            unfurl_media=False,
            **message,
        )
    except SlackApiError as exc:
        code = api_error(deps, "chat.postMessage", exc, where)
        text = f"I could not post in that thread (Slack said `{blocks.escape(code)}`), so I will not follow it."
        await answer(blocks.render_text(text))
        return False
    return True


async def _tell_cancelled(
    deps: Deps, client: AsyncWebClient, where: Where, stopped: list[Followup]
) -> None:
    """Say in each stopped follow-up's thread who stopped it."""
    for item in stopped:
        message = followup.render_cancelled(item.request.domain, by=where.user)
        try:
            await client.chat_postMessage(
                channel=item.request.channel_id, thread_ts=item.request.thread_ts, **message
            )
        except SlackApiError as exc:
            api_error(deps, "chat.postMessage", exc, where)
