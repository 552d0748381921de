"""A local stand-in for Slack's Socket Mode, beside the Web API stand-in (`tests.fakes.slackapi`).

`apps.connections.open` on the Web API stand-in hands out `ws://127.0.0.1:<port>/link`; the
websocket there greets the app with `hello`, then carries envelopes shaped as Slack sends them
(`slash_commands`, `events_api`, `interactive`) and records what the app sends back: acks
(`{"envelope_id": …}`, maybe with a `payload`) and how the connection ended. Every wait is bounded
by a timeout on an `asyncio.Condition`, never by sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.slackapi import BOT_USER, TEAM, SlackApi

HELLO = {
    "type": "hello",
    "num_connections": 1,
    "debug_info": {"host": "applink-test", "build_number": 1, "approximate_connection_time": 18060},
    "connection_info": {"app_id": "A1"},
}


class SocketModeServer:
    """One Socket Mode endpoint; `send_*` push an envelope to the connected app."""

    def __init__(self, api: SlackApi) -> None:
        self.api = api
        self.acks: list[dict[str, Any]] = []  # every JSON message the app sent, in order
        self.connections = 0
        self.close_codes: list[int | None] = []  # one per ended connection: 1000 is a clean close
        self._ws: web.WebSocketResponse | None = None
        self._cond = asyncio.Condition()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link"

    async def start(self) -> SocketModeServer:
        app = web.Application()
        app.add_routes([web.get("/link", self._link)])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.api.answers["apps.connections.open"] = {"ok": True, "url": self.url}
        return self

    async def stop(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- waiting ----------------------------------------------------------------------------

    async def wait_connected(self, count: int = 1, within: float = 10.0) -> None:
        await self._wait(lambda: self.connections >= count and self._ws is not None, within)

    async def wait_ack(self, envelope_id: str, within: float = 5.0) -> dict[str, Any]:
        """The app's acknowledgement of `envelope_id`."""
        await self._wait(lambda: self._ack(envelope_id) is not None, within)
        ack = self._ack(envelope_id)
        assert ack is not None
        return ack

    async def wait_closed(self, count: int = 1, within: float = 10.0) -> list[int | None]:
        await self._wait(lambda: len(self.close_codes) >= count, within)
        return self.close_codes

    def acks_for(self, envelope_id: str) -> list[dict[str, Any]]:
        return [a for a in self.acks if a.get("envelope_id") == envelope_id]

    def _ack(self, envelope_id: str) -> dict[str, Any] | None:
        found = self.acks_for(envelope_id)
        return found[0] if found else None

    async def _wait(self, predicate: Any, within: float) -> None:
        async with asyncio.timeout(within), self._cond:
            await self._cond.wait_for(predicate)

    # ---- envelopes, as Slack sends them -----------------------------------------------------

    async def send(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool,
        retry_attempt: int | None = None,
        retry_reason: str = "",
    ) -> str:
        envelope_id = f"env-{next(self._ids)}-{int(time.time())}"
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
        }
        if retry_attempt is not None:
            envelope.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
        assert self._ws is not None, "no app connected"
        await self._ws.send_str(json.dumps(envelope))
        return envelope_id

    async def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Slack's notice that this connection will go away; the app should open a new one."""
        assert self._ws is not None, "no app connected"
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-test"}}
        await self._ws.send_str(json.dumps(message))

    async def send_command(self, text: str, **fields: Any) -> str:
        payload = {
            "token": "legacy",
            "team_id": TEAM,
            "team_domain": "test",
            "channel_id": "C1",
            "channel_name": "ops",
            "user_id": "U1",
            "user_name": "ann",
            "command": "/mx",
            "text": text,
            "api_app_id": "A1",
            "is_enterprise_install": "false",
            "response_url": self.api.response_url("socket-cmd"),
            "trigger_id": "1.2.3",
            **fields,
        }
        return await self.send("slash_commands", payload, accepts_response_payload=True)

    async def send_event(
        self, event: dict[str, Any], *, event_id: str = "EvS1", retry_attempt: int = 0
    ) -> str:
        payload = {
            "token": "legacy",
            "team_id": TEAM,
            "api_app_id": "A1",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": TEAM,
                    "user_id": BOT_USER,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-eyJldCI6ImFwcF9tZW50aW9uIn0",
        }
        return await self.send(
            "events_api",
            payload,
            accepts_response_payload=False,
            retry_attempt=retry_attempt,
            retry_reason="timeout" if retry_attempt else "",
        )

    async def send_click(self, action_id: str, value: str, message_ts: str) -> str:
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": "U1", "username": "ann", "name": "ann", "team_id": TEAM},
            "api_app_id": "A1",
            "token": "legacy",
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": "C1",
                "is_ephemeral": False,
            },
            "trigger_id": "1.2.3",
            "team": {"id": TEAM, "domain": "test"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": "C1", "name": "ops"},
            "message": {"type": "message", "user": BOT_USER, "ts": message_ts, "text": "…"},
            "state": {"values": {}},
            "response_url": self.api.response_url("socket-click"),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "mx_actions",
                    "text": {"type": "plain_text", "text": action_id, "emoji": True},
                    "value": value,
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        return await self.send("interactive", payload, accepts_response_payload=False)

    # ---- the websocket ----------------------------------------------------------------------

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()  # answers the client's pings with pongs
        await ws.prepare(request)
        async with self._cond:
            self._ws = ws
            self.connections += 1
            self._cond.notify_all()
        await ws.send_str(json.dumps(HELLO))
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                async with self._cond:
                    self.acks.append(json.loads(message.data))
                    self._cond.notify_all()
        async with self._cond:
            self.close_codes.append(ws.close_code)
            self._cond.notify_all()
        return ws
