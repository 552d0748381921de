"""An HTTPS server for tests: real TLS on 127.0.0.1 with a trustme CA, one canned reply per Host.

It runs on its own thread and event loop for the whole session (`shared_server()`); tests set
`routes` and call `reset()`. Replies can be pathological on purpose: stalled, dripped, oversized,
redirecting, or not HTTP at all.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import trustme

# Names the server's certificate is valid for; anything else fails verification (a wrong name).
CERT_NAMES = ("mta-sts.example.test", "mta-sts.other.test", "*.example.test")


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "text/plain"
    headers: tuple[tuple[str, str], ...] = ()
    chunked: bool = False
    sized: bool = True  # send Content-Length (else the body ends when the connection closes)
    stall: bool = False  # finish TLS, read the request, never answer
    drip: float = 0.0  # send the body one byte every `drip` seconds
    raw: bytes | None = None  # send exactly these bytes instead of a response


NOT_FOUND = Reply(404, b"not found\n")


@dataclass
class Seen:
    sni: list[str | None] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (Host header, path)


class HttpsTestServer:
    def __init__(self) -> None:
        self.ca = trustme.CA()
        self._dir = tempfile.TemporaryDirectory(prefix="mxbot-https-")
        self.ca_file = str(Path(self._dir.name) / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        self.routes: dict[tuple[str, str], Reply] = {}  # (host, path) -> reply
        self.seen = Seen()
        self.host = "127.0.0.1"
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def reset(self) -> None:
        self.routes = {}
        self.seen = Seen()

    def serve(self, host: str, reply: Reply, path: str = "/.well-known/mta-sts.txt") -> None:
        self.routes[(host, path)] = reply

    def start(self) -> HttpsTestServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    async def _start(self) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*CERT_NAMES).configure_cert(context)
        context.sni_callback = self._sni
        server = await asyncio.start_server(self._client, self.host, 0, ssl=context)
        self.port = server.sockets[0].getsockname()[1]

    def _sni(self, _obj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        self.seen.sni.append(name)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            headers = dict(
                (k.strip().lower(), v.strip()) for k, _, v in (x.partition(":") for x in lines[1:])
            )
            host = headers.get("host", "").rsplit(":", 1)[0]
            self.seen.requests.append((headers.get("host", ""), path))
            await self._reply(writer, self.routes.get((host, path), NOT_FOUND))
        except (OSError, asyncio.IncompleteReadError, TimeoutError, IndexError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _reply(self, writer: asyncio.StreamWriter, reply: Reply) -> None:
        if reply.stall:
            await asyncio.sleep(30)
            return
        if reply.raw is not None:
            writer.write(reply.raw)
            await writer.drain()
            return
        head = [f"HTTP/1.1 {reply.status} Whatever", "Connection: close"]
        if reply.content_type is not None:
            head.append(f"Content-Type: {reply.content_type}")
        head += [f"{k}: {v}" for k, v in reply.headers]
        if reply.chunked:
            head.append("Transfer-Encoding: chunked")
        elif reply.sized:
            head.append(f"Content-Length: {len(reply.body)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        if reply.drip:
            for byte in reply.body:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(reply.drip)
        elif reply.chunked:
            for i in range(0, len(reply.body), 1000):
                chunk = reply.body[i : i + 1000]
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            writer.write(b"0\r\n\r\n")
        else:
            writer.write(reply.body)
        await writer.drain()


@functools.cache
def shared_server() -> HttpsTestServer:
    """One server for the whole test session (its thread is a daemon; it dies with pytest)."""
    return HttpsTestServer().start()
