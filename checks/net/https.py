"""HTTPS fetches for checks (the MTA-STS policy): resolved through our DNS, policed, bounded, verified.

The name is resolved with the report's `DnsClient` (never the system resolver), every address is
checked against the address policy, and the connection goes to the vetted address itself with SNI
and Host set to the name, so DNS rebinding cannot slip past the policy. Redirects are not followed
(RFC 8461 3.3 forbids them for policies): a 3xx comes back as a response like any other.

Expected failures are values (`FetchOutcome`), never exceptions, like DNS outcomes.
"""

from __future__ import annotations

import asyncio
import enum
import ssl
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

from checks.net.dns import DnsClient
from checks.net.policy import refusal
from checks.settings import Settings

DEFAULT_MAX_BYTES = 65536  # RFC 8461 3.3 suggests senders limit policy bodies to 64 KiB
_MAX_HEADER_BYTES = 16384
_NO_BODY = frozenset({204, 304})

T = TypeVar("T")


class FetchOutcome(enum.StrEnum):
    OK = "ok"  # a complete HTTP response (any status, 3xx included)
    DNS_FAILED = "dns_failed"  # the name's A/AAAA lookup failed (SERVFAIL, timeout)
    NO_ADDRESS = "no_address"  # the name has no A or AAAA record
    REFUSED = "refused"  # every address is one the policy forbids us to connect to
    CONNECT_FAILED = "connect_failed"  # refused, unreachable, reset
    TIMEOUT = "timeout"  # a step, or the whole fetch, took too long
    TLS_FAILED = "tls_failed"  # handshake or certificate verification failed
    PROTOCOL_ERROR = "protocol_error"  # not a usable HTTP/1.x response
    TOO_LARGE = "too_large"  # the body exceeds the size limit


@dataclass(frozen=True, slots=True)
class HttpsResponse:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]  # names lower-cased, in order received
    body: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k == name), None)

    @property
    def content_type(self) -> str:
        """The media type alone, lower-case ('text/plain'), '' when absent."""
        return (self.header("content-type") or "").split(";")[0].strip().lower()

    @property
    def is_redirect(self) -> bool:
        return 300 <= self.status < 400


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str
    outcome: FetchOutcome
    detail: str = ""  # why, in words, when the outcome is not OK
    address: str = ""  # the address we connected to (or last tried)
    response: HttpsResponse | None = None
    elapsed_ms: int = 0
    refusals: tuple[str, ...] = field(default=())  # address-policy refusals met on the way

    @property
    def ok(self) -> bool:
        return self.outcome is FetchOutcome.OK


class _Failure(Exception):  # internal control flow, always turned into a FetchResult
    def __init__(self, outcome: FetchOutcome, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


class HttpsFetcher:
    """Process-wide HTTPS client for checks; holds the TLS context, nothing per report.

    Args:
        port: where to connect (443; tests choose a loopback port).
        total_timeout: bound on one whole fetch, all addresses tried; default 3 steps' worth.
    """

    def __init__(
        self, settings: Settings, *, port: int = 443, total_timeout: float | None = None
    ) -> None:
        self._settings = settings
        self._port = port
        self._step = settings.timeout
        self._total = total_timeout if total_timeout is not None else settings.timeout * 3
        self._tls = ssl.create_default_context(cafile=settings.ca_file)
        self._tls.minimum_version = ssl.TLSVersion.TLSv1_2

    @property
    def port(self) -> int:
        return self._port

    async def fetch(
        self, dns: DnsClient, host: str, path: str, *, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> FetchResult:
        """GET https://host/path, following no redirect; never raises for network trouble."""
        host = host.lower().rstrip(".")
        url = f"https://{host}{'' if self._port == 443 else f':{self._port}'}{path}"
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._total):
                result = await self._fetch(dns, host, path, url, max_bytes)
        except TimeoutError:
            result = FetchResult(
                url, FetchOutcome.TIMEOUT, f"the whole fetch took longer than {self._total:g} s"
            )
        elapsed = round((time.monotonic() - started) * 1000)
        return FetchResult(
            result.url,
            result.outcome,
            result.detail,
            result.address,
            result.response,
            elapsed,
            result.refusals,
        )

    async def _fetch(
        self, dns: DnsClient, host: str, path: str, url: str, max_bytes: int
    ) -> FetchResult:
        a, aaaa = await dns.addresses(host)
        addresses = a.addresses() + aaaa.addresses()
        if not addresses:
            if a.failed and aaaa.failed:
                return FetchResult(
                    url, FetchOutcome.DNS_FAILED, f"looking up {host}: {a.describe()}"
                )
            return FetchResult(url, FetchOutcome.NO_ADDRESS, f"{host} has no A or AAAA record")
        refusals = tuple(r for r in (refusal(addr, self._settings) for addr in addresses) if r)
        allowed = [addr for addr in addresses if refusal(addr, self._settings) is None]
        if not allowed:
            return FetchResult(
                url, FetchOutcome.REFUSED, "; ".join(refusals), addresses[0], refusals=refusals
            )
        last = FetchResult(url, FetchOutcome.CONNECT_FAILED, "no address tried")
        for address in allowed:
            try:
                response = await self._exchange(address, host, path, max_bytes)
            except _Failure as failure:
                last = FetchResult(url, failure.outcome, failure.detail, address, refusals=refusals)
                if failure.outcome in (FetchOutcome.CONNECT_FAILED, FetchOutcome.TIMEOUT):
                    continue  # another address may work, as a sender would find
                return last
            return FetchResult(url, FetchOutcome.OK, "", address, response, refusals=refusals)
        return last

    async def _exchange(self, address: str, host: str, path: str, max_bytes: int) -> HttpsResponse:
        reader, writer = await self._connect(address, host)
        try:
            hostport = host if self._port == 443 else f"{host}:{self._port}"
            request = (
                f"GET {path} HTTP/1.1\r\nHost: {hostport}\r\nUser-Agent: mxbot\r\n"
                "Accept: */*\r\nConnection: close\r\n\r\n"
            )
            writer.write(request.encode("ascii"))
            await self._step_of(writer.drain(), "sending the request")
            status, reason, headers = await self._step_of(
                _read_head(reader), "waiting for the response"
            )
            if status in _NO_BODY or 300 <= status < 400 or 100 <= status < 200:
                body = b""
            else:
                body = await _read_body(reader, headers, max_bytes, self._step)
            return HttpsResponse(status, reason, headers, body)
        finally:
            await _close(writer, min(self._step, _CLOSE_WAIT))

    async def _connect(
        self, address: str, host: str
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            async with asyncio.timeout(self._step):
                reader, writer = await asyncio.open_connection(
                    address, self._port, limit=_MAX_HEADER_BYTES
                )
        except TimeoutError:
            raise _Failure(
                FetchOutcome.TIMEOUT,
                f"connecting to {address} port {self._port} took longer than {self._step:g} s",
            ) from None
        except OSError as exc:
            raise _Failure(
                FetchOutcome.CONNECT_FAILED,
                f"connecting to {address} port {self._port}: {exc.strerror or exc}",
            ) from None
        try:
            async with asyncio.timeout(self._step):
                await writer.start_tls(self._tls, server_hostname=host)
        except TimeoutError:
            writer.close()
            raise _Failure(
                FetchOutcome.TIMEOUT,
                f"the TLS handshake with {host} at {address} took longer than {self._step:g} s",
            ) from None
        except ssl.SSLCertVerificationError as exc:
            writer.close()
            raise _Failure(
                FetchOutcome.TLS_FAILED,
                f"the certificate of {host} at {address} is not valid: {exc.verify_message}",
            ) from None
        except (ssl.SSLError, OSError) as exc:
            writer.close()
            raise _Failure(
                FetchOutcome.TLS_FAILED,
                f"TLS handshake with {host} at {address} failed: {_reason(exc)}",
            ) from None
        return reader, writer

    async def _step_of(self, awaitable: Awaitable[T], what: str) -> T:
        """One network step under `settings.timeout`; errors become `_Failure` values."""
        try:
            async with asyncio.timeout(self._step):
                return await awaitable
        except TimeoutError:
            raise _Failure(
                FetchOutcome.TIMEOUT, f"{what} took longer than {self._step:g} s"
            ) from None
        except (ssl.SSLError, ConnectionError) as exc:
            raise _Failure(FetchOutcome.PROTOCOL_ERROR, f"{what}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    return str(exc) or type(exc).__name__


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, str, tuple[tuple[str, str], ...]]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise _Failure(FetchOutcome.PROTOCOL_ERROR, "the response headers are too large") from None
    except asyncio.IncompleteReadError as exc:
        what = (
            "closed the connection without a response"
            if not exc.partial
            else "sent a truncated response"
        )
        raise _Failure(FetchOutcome.PROTOCOL_ERROR, f"the server {what}") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise _Failure(FetchOutcome.PROTOCOL_ERROR, f"not an HTTP response: {lines[0][:80]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _Failure(FetchOutcome.PROTOCOL_ERROR, f"malformed header line {line[:80]!r}")
        headers.append((name.strip().lower(), value.strip()))
    return int(parts[1]), parts[2] if len(parts) > 2 else "", tuple(headers)


async def _read_body(
    reader: asyncio.StreamReader,
    headers: tuple[tuple[str, str], ...],
    max_bytes: int,
    step: float,
) -> bytes:
    values = dict(headers)
    try:
        async with asyncio.timeout(step):
            if "chunked" in values.get("transfer-encoding", "").lower():
                return await _read_chunked(reader, max_bytes)
            if "content-length" in values:
                return await _read_sized(reader, values["content-length"], max_bytes)
            return await _read_to_eof(reader, max_bytes)
    except TimeoutError:
        raise _Failure(
            FetchOutcome.TIMEOUT, f"the response body did not arrive within {step:g} s"
        ) from None
    except asyncio.IncompleteReadError:
        raise _Failure(FetchOutcome.PROTOCOL_ERROR, "the response body was cut short") from None
    except (asyncio.LimitOverrunError, ValueError):
        raise _Failure(FetchOutcome.PROTOCOL_ERROR, "malformed chunked encoding") from None
    except (OSError, ssl.SSLError) as exc:
        raise _Failure(
            FetchOutcome.PROTOCOL_ERROR, f"reading the body failed: {_reason(exc)}"
        ) from None


def _too_large(max_bytes: int) -> _Failure:
    return _Failure(FetchOutcome.TOO_LARGE, f"the response body exceeds {max_bytes} bytes")


async def _read_sized(reader: asyncio.StreamReader, length_text: str, max_bytes: int) -> bytes:
    if not length_text.isdigit():
        raise _Failure(FetchOutcome.PROTOCOL_ERROR, f"bad Content-Length {length_text[:40]!r}")
    length = int(length_text)
    if length > max_bytes:
        raise _too_large(max_bytes)
    return await reader.readexactly(length)


async def _read_to_eof(reader: asyncio.StreamReader, max_bytes: int) -> bytes:
    body = bytearray()
    while chunk := await reader.read(65536):
        body += chunk
        if len(body) > max_bytes:
            raise _too_large(max_bytes)
    return bytes(body)


async def _read_chunked(reader: asyncio.StreamReader, max_bytes: int) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0].strip(), 16)  # ValueError: malformed
        if size < 0:
            raise ValueError("negative chunk size")
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers, ignored
            return bytes(body)
        if len(body) + size > max_bytes:
            raise _too_large(max_bytes)
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise ValueError("chunk not followed by CRLF")


_CLOSE_WAIT = 0.5  # seconds for a polite TLS close before the connection is simply dropped


async def _close(writer: asyncio.StreamWriter, wait: float) -> None:
    """Close politely, but never wait on a peer that keeps sending (we stopped reading an
    oversize body) or never answers the TLS close: drop the connection instead."""
    writer.close()
    try:
        async with asyncio.timeout(wait):
            await writer.wait_closed()
    except (OSError, ssl.SSLError, TimeoutError):
        writer.transport.abort()
