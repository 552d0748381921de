"""One attempt at a scheduled post, against Slack: look for it first when it is in doubt, post it
with its key in the message metadata, and say what happened as an `Attempt` (never raising for
Slack or the network).

Why the look-up: only Slack knows whether a request that got no answer was acted on.
`chat.postMessage` has no idempotency key, so the post carries one in its metadata
(`delivery.metadata`), and `conversations.history` with `include_all_metadata` (without it, Slack
strips the payload) finds it again; for a post in a thread (a follow-up), `conversations.replies` of
that thread, since the history leaves replies out. That needs `channels:history` (and
`groups:history` for private channels): the price of never posting a digest twice after a crash.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Final

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.digest import render
from bot.digest.delivery import (
    ATTEMPT_SECONDS,
    DOUBTFUL,
    LOOKBACK_MARGIN,
    PERMANENT,
    RETRYABLE,
    Attempt,
    Delivery,
    Outcome,
    Post,
    Step,
    carries,
    is_late,
    metadata,
)

HISTORY_PAGE: Final = 200
HISTORY_PAGES: Final = 5  # 1,000 messages since the doubtful attempt; more is a busy channel


def posting_client(client: AsyncWebClient) -> AsyncWebClient:
    """The same workspace and host, without the SDK's habit of sending a request again when the
    connection dropped: Slack may have acted on it, so the outbox looks before posting again.
    A connection that could not be opened, and a 429, are retried as before: nothing was done."""
    return AsyncWebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        headers=dict(client.headers),
        retry_handlers=[
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
            AsyncConnectionErrorRetryHandler(
                max_retry_count=1, error_types=[aiohttp.ClientConnectorError]
            ),
        ],
    )


async def attempt(client: AsyncWebClient, delivery: Delivery, plan: Step, now: datetime) -> Attempt:
    """Make one attempt as `plan` says (`delivery.step`); `client` is the team's. The whole
    attempt, look-up included, ends within `ATTEMPT_SECONDS`, well inside its lease."""
    poster = posting_client(client)
    deadline = asyncio.get_running_loop().time() + ATTEMPT_SECONDS
    if plan in (Step.LOOK_THEN_POST, Step.LOOK_THEN_DROP):
        found = await look(
            poster, delivery, since=delivery.in_doubt_since or now, deadline=deadline
        )
        if found is not None:
            return found
    if plan in (Step.LOOK_THEN_DROP, Step.DROP):
        return Attempt(Outcome.NOT_POSTED)
    return await post(poster, delivery, now, deadline=deadline)


async def post(
    client: AsyncWebClient, delivery: Delivery, now: datetime, *, deadline: float
) -> Attempt:
    """`chat.postMessage` with the post's key in its metadata; a late post says when it was due."""
    item = delivery.post
    message = dict(item.message)
    if is_late(item, now):
        message = render.late(message, item.due_at)
    try:
        async with asyncio.timeout_at(deadline):
            response = await client.chat_postMessage(
                channel=item.channel_id,
                metadata=metadata(item),
                unfurl_links=False,
                unfurl_media=False,
                **message,
            )
    except SlackApiError as exc:
        return _refused(exc)
    except TimeoutError:  # ours or aiohttp's: the request may have been acted on
        return Attempt(Outcome.IN_DOUBT, "timeout")
    except aiohttp.ClientConnectorError as exc:  # never connected: nothing was sent
        return Attempt(Outcome.NOT_POSTED, _reason(exc))
    except aiohttp.ClientError as exc:  # dropped mid-request: Slack may have posted it
        return Attempt(Outcome.IN_DOUBT, _reason(exc))
    return Attempt(Outcome.POSTED, ts=str(response.get("ts") or ""))


async def look(
    client: AsyncWebClient, delivery: Delivery, *, since: datetime, deadline: float
) -> Attempt | None:
    """Find the post in the channel's history since it came in doubt: FOUND, or None when it is
    surely not there; otherwise why the history could not tell."""
    oldest = f"{(since - LOOKBACK_MARGIN).timestamp():.6f}"
    cursor: str | None = None
    for _ in range(HISTORY_PAGES):
        try:
            async with asyncio.timeout_at(deadline):
                page = await _page(client, delivery.post, oldest, cursor)
        except SlackApiError as exc:
            return _unreadable(exc)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return Attempt(Outcome.LOOKUP_FAILED, _reason(exc))
        for message in page.get("messages") or []:
            if carries(message, delivery.post.key):
                return Attempt(Outcome.FOUND, ts=str(message.get("ts") or ""))
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if not page.get("has_more") or cursor is None:
            return None
    return Attempt(Outcome.UNVERIFIABLE, f"over {HISTORY_PAGE * HISTORY_PAGES} messages since")


async def _page(
    client: AsyncWebClient, post: Post, oldest: str, cursor: str | None
) -> AsyncSlackResponse:
    """One page of what was posted since `oldest`: the channel's history, or, for a post in a
    thread, the thread's replies (the channel's history leaves replies out)."""
    if post.thread_ts:
        return await client.conversations_replies(
            channel=post.channel_id,
            ts=post.thread_ts,
            oldest=oldest,
            cursor=cursor,
            limit=HISTORY_PAGE,
            include_all_metadata=True,
        )
    return await client.conversations_history(
        channel=post.channel_id,
        oldest=oldest,
        cursor=cursor,
        limit=HISTORY_PAGE,
        include_all_metadata=True,
    )


def _refused(exc: SlackApiError) -> Attempt:
    """What Slack's refusal of a post means for it."""
    status = exc.response.status_code
    code = _code(exc)
    if status == 429 or code in RETRYABLE:
        return Attempt(Outcome.NOT_POSTED, code, retry_after=_retry_after(exc))
    if status >= 500 or code in DOUBTFUL:
        return Attempt(Outcome.IN_DOUBT, code)
    if code in PERMANENT:
        return Attempt(Outcome.PERMANENT, code)
    return Attempt(Outcome.REJECTED, code)


def _unreadable(exc: SlackApiError) -> Attempt:
    """What a refused history look-up means: never (no scope), no channel, or not this time."""
    code = _code(exc)
    if code == "missing_scope":
        return Attempt(Outcome.UNVERIFIABLE, "missing_scope: channels:history, groups:history")
    if code in PERMANENT:
        return Attempt(Outcome.PERMANENT, code)
    return Attempt(Outcome.LOOKUP_FAILED, code)


def _code(exc: SlackApiError) -> str:
    data = exc.response.data
    error = data.get("error") if isinstance(data, dict) else None
    return str(error or f"HTTP {exc.response.status_code}")


def _retry_after(exc: SlackApiError) -> float:
    for name, value in (exc.response.headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return max(float(value if isinstance(value, str) else value[0]), 0.0)
            except (TypeError, ValueError, IndexError):
                return 0.0
    return 0.0


def _reason(exc: BaseException) -> str:
    """An exception's name and first line: enough for a log line, never a traceback."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}"[:200] if text else type(exc).__name__
