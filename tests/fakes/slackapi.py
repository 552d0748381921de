"""A local stand-in for the Slack Web API, response URLs and file downloads: real HTTP on 127.0.0.1.

Files put with `add_file` answer `files.info` and download from their `url_private_download`,
which, as on Slack, demands the bot token (`Authorization: Bearer …`): anything else gets the
login page Slack serves instead, not the file. Every call is recorded; tests wait for calls with `wait_for`, bounded by a timeout on an
`asyncio.Condition`, never by sleeping. Errors and 429s can be injected per method, and so can the
network's faults (`Fault`): a 503, a 429 beyond the client's retries, a connection dropped before
Slack acted, a request that never gets an answer, an answer lost after the message was posted, and
an answer held back (a reply in flight) until the test releases it.

The stand-in keeps what was posted, per channel, with its message metadata, and serves it back
through `conversations.history` as Slack does: newest first, `oldest` and `cursor` honoured, a
thread's replies left out, and a metadata's `event_payload` only with `include_all_metadata`;
a thread's replies through `conversations.replies`, oldest first after their parent.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

BOT_USER = "UBOT"
BOT_ID = "BBOT"
TEAM = "T0001"
BOT_TOKEN = "xoxb-test-token"
HOLD_SECONDS = 60.0  # a held answer is released by the test, or by `stop`, well before this


class Fault(StrEnum):
    """What the network or Slack does to one call instead of answering it normally."""

    UNAVAILABLE = "503"  # HTTP 503, nothing posted
    RATELIMITED = "429"  # HTTP 429 `ratelimited` (Retry-After: 0), nothing posted
    DROP = "drop"  # the connection is closed before Slack acts: nothing posted, no answer
    HANG = "hang"  # nothing posted, and no answer until `release()`: the client times out
    HANGUP = "hangup"  # the message is posted, then the connection is closed with no answer
    DELAY = "delay"  # the message is posted, its answer held until `release()`: a reply in flight


_POSTS = frozenset({Fault.HANGUP, Fault.DELAY})  # faults that happen after Slack posted


@dataclass
class Call:
    method: str  # "chat.postMessage", …, or "response_url"
    params: dict[str, Any]
    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    fault: Fault | None = None
    answered: bool = False  # the whole answer was written to the connection


class SlackApi:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.errors: dict[str, str] = {}  # method -> Slack error code to answer with
        self.rate_limited: Counter[str] = Counter()  # method -> how many 429s to answer first
        self.faults: dict[str, deque[Fault]] = {}  # method -> faults for its next calls, in turn
        self.outage: dict[str, Fault] = {}  # method -> the fault of every call until `restore`
        self.oauth_response: dict[str, Any] = {}
        self.answers: dict[str, dict[str, Any]] = {}  # method -> canned answer (e.g. Socket Mode)
        self.expired: set[str] = set()  # response_url names that answer 404, as expired ones do
        self.files: dict[str, tuple[dict[str, Any], bytes]] = {}  # id -> (files.info, content)
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel -> posted, oldest first
        self.clock: Callable[[], float] | None = None  # Slack's time for a new ts (None: fixed)
        self._release = asyncio.Event()
        self._cond = asyncio.Condition()
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"http://127.0.0.1:{self.port}/response/{name}"

    async def start(self) -> SlackApi:
        app = web.Application()
        app.add_routes(
            [
                web.post("/api/{method}", self._api),
                web.get("/api/{method}", self._api),  # files.info and other reads use GET
                web.post("/response/{name}", self._response),
                web.get("/files-pri/{id}/{name}", self._download),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        self._release.set()  # nothing held waits for the runner's shutdown
        if self._runner is not None:
            await self._runner.cleanup()

    def add_file(
        self,
        file_id: str,
        name: str,
        content: bytes,
        *,
        mimetype: str = "message/rfc822",
        size: int | None = None,
    ) -> dict[str, Any]:
        """A file as Slack describes it in a message's `files` (and in files.info)."""
        info = {
            "id": file_id,
            "name": name,
            "mimetype": mimetype,
            "filetype": name.rpartition(".")[2],
            "size": len(content) if size is None else size,
            "url_private": f"http://127.0.0.1:{self.port}/files-pri/{file_id}/{name}",
            "url_private_download": f"http://127.0.0.1:{self.port}/files-pri/{file_id}/{name}",
        }
        self.files[file_id] = (info, content)
        return info

    # ---- faults -------------------------------------------------------------------------------
    def inject(self, method: str, *faults: Fault) -> None:
        """The next calls to `method` meet these faults, one each, then answers are normal."""
        self.faults.setdefault(method, deque()).extend(faults)

    def down(self, method: str, fault: Fault = Fault.UNAVAILABLE) -> None:
        """Every call to `method` meets `fault` until `restore(method)`."""
        self.outage[method] = fault

    def restore(self, method: str) -> None:
        self.outage.pop(method, None)

    def release(self) -> None:
        """Answer every held call (`Fault.DELAY`) and end every hung one (`Fault.HANG`)."""
        self._release.set()

    def hold(self) -> None:
        """Hold calls again after a `release()`."""
        self._release = asyncio.Event()

    # ---- what happened ------------------------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def chat_calls(self) -> list[Call]:
        return [c for c in self.calls if c.method.startswith("chat.") or c.method == "response_url"]

    def posted(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Messages Slack accepted (whatever became of their answers), oldest first."""
        if channel is not None:
            return list(self.messages.get(channel, []))
        return sorted((m for ms in self.messages.values() for m in ms), key=lambda m: m["n"])

    async def wait_for(self, method: str, count: int = 1, within: float = 5.0) -> list[Call]:
        """The first `count` calls to `method`, waiting up to `within` seconds for them."""
        async with asyncio.timeout(within), self._cond:
            await self._cond.wait_for(lambda: len(self.calls_to(method)) >= count)
        return self.calls_to(method)[:count]

    async def wait_until(self, predicate: Any, within: float = 5.0) -> None:
        async with asyncio.timeout(within), self._cond:
            await self._cond.wait_for(predicate)

    async def _record(self, call: Call) -> None:
        async with self._cond:
            self.calls.append(call)
            self._cond.notify_all()

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    # ---- the Web API --------------------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        fault = self._fault(method)
        if fault is Fault.DROP:
            await self._record(Call(method, {}, request.path, dict(request.headers), fault))
            return _hang_up(request)
        params = await _params(request)
        call = Call(method, params, request.path, dict(request.headers), fault)
        await self._record(call)
        if fault is Fault.HANG:
            await self._held()
            return _hang_up(request)
        response = self._respond(method, params, fault)
        if fault is Fault.HANGUP:
            return _hang_up(request)
        if fault is Fault.DELAY:
            await self._held()
        await response.prepare(request)
        await response.write_eof()
        call.answered = True
        await self._notify()
        return response

    def _fault(self, method: str) -> Fault | None:
        queued = self.faults.get(method)
        if queued:
            return queued.popleft()
        return self.outage.get(method)

    async def _held(self) -> None:
        async with asyncio.timeout(HOLD_SECONDS):
            await self._release.wait()

    def _respond(self, method: str, params: dict[str, Any], fault: Fault | None) -> web.Response:
        if fault is Fault.UNAVAILABLE:
            return web.Response(status=503, text="<html>Service Unavailable</html>")
        if fault is Fault.RATELIMITED or self.rate_limited[method] > 0:
            if fault is None:
                self.rate_limited[method] -= 1
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "0"}
            )
        if method in self.errors:
            return web.json_response({"ok": False, "error": self.errors[method]})
        return web.json_response(self._answer(method, params))

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method in self.answers:
            return self.answers[method]
        if method == "auth.test":
            return {
                "ok": True,
                "user_id": BOT_USER,
                "bot_id": BOT_ID,
                "team_id": TEAM,
                "team": "Test",
            }
        if method == "chat.postMessage":
            return self._post(params)
        if method == "chat.update":
            return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts")}
        if method == "conversations.history":
            return self._history(params)
        if method == "conversations.replies":
            return self._replies(params)
        if method == "oauth.v2.access":
            return self.oauth_response
        if method == "files.info":
            found = self.files.get(str(params.get("file", "")))
            return (
                {"ok": True, "file": found[0]}
                if found
                else {"ok": False, "error": "file_not_found"}
            )
        if method == "views.open":
            view = params.get("view")
            return {"ok": True, "view": {"id": "V1", **(view if isinstance(view, dict) else {})}}
        return {"ok": True}

    async def _download(self, request: web.Request) -> web.Response:
        headers = dict(request.headers)
        await self._record(
            Call("file_download", {"id": request.match_info["id"]}, request.path, headers)
        )
        found = self.files.get(request.match_info["id"])
        if headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
            # Slack answers a download without the token with its sign-in page, status 200
            return web.Response(
                text="<!DOCTYPE html><title>Slack</title>sign in", content_type="text/html"
            )
        if found is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=found[1], content_type="application/octet-stream")

    def _post(self, params: dict[str, Any]) -> dict[str, Any]:
        n = next(self._ts)
        ts = f"{self.clock():.6f}" if self.clock else f"1700000000.{n:06d}"
        channel = str(params.get("channel", ""))
        message = {
            "n": n,
            "type": "message",
            "ts": ts,
            "bot_id": BOT_ID,
            "user": BOT_USER,
            "text": params.get("text", ""),
            "blocks": params.get("blocks", []),
            "thread_ts": params.get("thread_ts"),
        }
        if params.get("metadata"):
            message["metadata"] = params["metadata"]
        self.messages.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": ts}

    def _history(self, params: dict[str, Any]) -> dict[str, Any]:
        """The channel's messages, newest first: a thread's replies are not among them."""
        channel = str(params.get("channel", ""))
        oldest = float(params.get("oldest") or 0)
        newest_first = [
            m
            for m in reversed(self.messages.get(channel, []))
            if float(m["ts"]) > oldest and m.get("thread_ts") in (None, m["ts"])
        ]
        return _page(newest_first, params)

    def _replies(self, params: dict[str, Any]) -> dict[str, Any]:
        """A thread, oldest first: its parent (always), then the replies since `oldest`."""
        channel, parent = str(params.get("channel", "")), str(params.get("ts", ""))
        oldest = float(params.get("oldest") or 0)
        thread = [
            m
            for m in self.messages.get(channel, [])
            if m["ts"] == parent or (m.get("thread_ts") == parent and float(m["ts"]) > oldest)
        ]
        return _page(thread, params)

    async def _response(self, request: web.Request) -> web.Response:
        params = await _params(request)
        await self._record(Call("response_url", params, request.path, dict(request.headers)))
        if request.match_info["name"] in self.expired:
            return web.Response(status=404, text="expired_url")
        return web.Response(text="ok")


def _page(messages: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """One page of `messages`, `cursor` and `limit` honoured, metadata as Slack shows it."""
    start = int(params.get("cursor") or 0)
    limit = int(params.get("limit") or 100)
    page = messages[start : start + limit]
    everything = str(params.get("include_all_metadata", "")).lower() in {"1", "true"}
    more = start + limit < len(messages)
    return {
        "ok": True,
        "messages": [_as_history(m, everything) for m in page],
        "has_more": more,
        "response_metadata": {"next_cursor": str(start + limit) if more else ""},
    }


def _as_history(message: dict[str, Any], everything: bool) -> dict[str, Any]:
    """A stored message as conversations.history shows it; without `include_all_metadata`
    Slack keeps a metadata's event_type but strips its payload."""
    shown = {k: v for k, v in message.items() if k not in {"n", "metadata"} and v is not None}
    metadata = message.get("metadata")
    if metadata:
        shown["metadata"] = metadata if everything else {"event_type": metadata.get("event_type")}
    return shown


def _hang_up(request: web.Request) -> web.StreamResponse:
    """Close the connection without an answer: the client sees the server disconnect."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise asyncio.CancelledError  # aiohttp's way out of a handler whose connection is gone


async def _params(request: web.Request) -> dict[str, Any]:
    body = await request.text()
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json" and body:
        params.update(json.loads(body))
    elif body:
        params.update(parse_qsl(body))
    for key in ("blocks", "view", "metadata"):
        if isinstance(params.get(key), str) and params[key]:
            params[key] = json.loads(params[key])
    return params


def signature(secret: str, timestamp: str, body: str) -> str:
    """Slack's request signature, computed from its published recipe (not with the SDK)."""
    import hashlib
    import hmac

    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
