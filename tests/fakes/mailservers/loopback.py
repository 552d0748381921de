"""The loopback TCP server the scripted mail servers run in, and prober settings that reach it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable

from checks.settings import Settings
from tests.conftest import LOOPBACK_ONLY
from tests.fakes.mailservers.pki import Pki

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Loopback:
    """A TCP server on 127.0.0.x running `handler` per connection; closes everything on exit."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.accepted = 0
        self.peak = 0  # the most connections open at once
        self._open = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._stop = asyncio.Event()

    async def __aenter__(self) -> Loopback:
        self._server = await asyncio.start_server(self._client, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self._stop.set()
        for w in list(self._writers):
            w.transport.abort()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            async with asyncio.timeout(2):
                await asyncio.gather(*self._tasks, return_exceptions=True)
                await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.accepted += 1
        self._open += 1
        self.peak = max(self.peak, self._open)
        # The handler runs as its own task so that closing the server can cancel it without the
        # stream machinery logging a cancelled connection callback.
        work = asyncio.ensure_future(self.handler(reader, writer))
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (work, stop):
                t.cancel()
            await asyncio.gather(work, stop, return_exceptions=True)
            self._open -= 1
            self._writers.discard(writer)
            writer.transport.abort()
            self._tasks.discard(task)


def prober_settings(pki: Pki, step_timeout: float, **changes: object) -> Settings:
    """Settings for probing the loopback servers above: private addresses allowed, connections
    pinned to loopback, the test CA trusted; the greeting waits one step unless changed."""
    base = Settings(
        timeout=step_timeout,
        greeting_timeout=step_timeout,
        check_budget=3.0,
        report_budget=4.0,
        allow_private=True,
        connect_networks=LOOPBACK_ONLY,
        ca_file=pki.ca_file,
    )
    return base.with_overrides(**changes)
