"""A local stand-in for the Slack Web API, response URLs and file downloads: real HTTP on 127.0.0.1.

Files put with `add_file` answer `files.info` and download from their `url_private_download`,
which, as on Slack, demands the bot token (`Authorization: Bearer …`): anything else gets the
login page Slack serves instead, not the file. Every call is recorded; tests wait for calls with `wait_for`, bounded by a timeout on an
`asyncio.Condition`, never by sleeping. Errors and 429s can be injected per method.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

BOT_USER = "UBOT"
TEAM = "T0001"
BOT_TOKEN = "xoxb-test-token"


@dataclass
class Call:
    method: str  # "chat.postMessage", …, or "response_url"
    params: dict[str, Any]
    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class SlackApi:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.errors: dict[str, str] = {}  # method -> Slack error code to answer with
        self.rate_limited: Counter[str] = Counter()  # method -> how many 429s to answer first
        self.oauth_response: dict[str, Any] = {}
        self.answers: dict[str, dict[str, Any]] = {}  # method -> canned answer (e.g. Socket Mode)
        self.expired: set[str] = set()  # response_url names that answer 404, as expired ones do
        self.files: dict[str, tuple[dict[str, Any], bytes]] = {}  # id -> (files.info, content)
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

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def chat_calls(self) -> list[Call]:
        return [c for c in self.calls if c.method.startswith("chat.") or c.method == "response_url"]

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

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _params(request)
        await self._record(Call(method, params, request.path, dict(request.headers)))
        if self.rate_limited[method] > 0:
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
                "bot_id": "BBOT",
                "team_id": TEAM,
                "team": "Test",
            }
        if method in {"chat.postMessage", "chat.update"}:
            ts = params.get("ts") or f"1700000000.{next(self._ts):06d}"
            return {"ok": True, "channel": params.get("channel"), "ts": ts}
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

    async def _response(self, request: web.Request) -> web.Response:
        params = await _params(request)
        await self._record(Call("response_url", params, request.path, dict(request.headers)))
        if request.match_info["name"] in self.expired:
            return web.Response(status=404, text="expired_url")
        return web.Response(text="ok")


async def _params(request: web.Request) -> dict[str, Any]:
    body = await request.text()
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json" and body:
        params.update(json.loads(body))
    elif body:
        params.update(parse_qsl(body))
    for key in ("blocks", "view"):
        if isinstance(params.get(key), str):
            params[key] = json.loads(params[key])
    return params


def signature(secret: str, timestamp: str, body: str) -> str:
    """Slack's request signature, computed from its published recipe (not with the SDK)."""
    import hashlib
    import hmac

    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
