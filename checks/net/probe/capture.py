"""TLS capture: what chain, version and cipher did the server's handshake offer, and when did it
start and finish?

- Certificate chain capture: the handshake runs with verification off (a server with a broken
  certificate must still be described), and `checks.tls.chain` verifies the captured chain with
  `cryptography` against the system store or `settings.ca_file`, so no second connection is made.
  Python 3.13 has `SSLObject.get_unverified_chain()`; 3.10 to 3.12 have the same method on the
  private `_sslobj` (CPython's `_ssl._SSLSocket`, bpo-18233), which we use when present. Only when
  neither exists do we fall back to the leaf (`getpeercert(binary_form=True)`) and say so.
- Handshake timing: the capture context's `sslobject_class` (a public `ssl.SSLContext` hook) notes
  when the handshake starts and finishes, so that the sessions can split an aiosmtplib call that
  also reads a reply into steps, each with its own step timeout.
"""

from __future__ import annotations

import _ssl  # ENCODING_DER, for the private chain API of CPython 3.10-3.12 (see _chain)
import contextlib
import ssl
import time
import warnings
from collections.abc import Callable

from checks.net.policy import is_ip_literal
from checks.net.probe.result import TlsSession


class _ClockedSSLObject(ssl.SSLObject):
    """Tells its context when the handshake starts and when it has finished.

    asyncio calls `do_handshake()` until it stops raising SSLWantReadError; the first call is the
    start, the one that returns is the end.
    """

    def do_handshake(self) -> None:
        clock = self.context
        if isinstance(clock, CaptureContext):
            clock.handshake_starts()
        super().do_handshake()
        if isinstance(clock, CaptureContext):
            clock.handshake_done(self)


class CaptureContext(ssl.SSLContext):
    """A client context that accepts anything (see `capture_context`), one per probe, which also
    keeps the handshake's times and its SSLObject (`sslobject_class` is the public hook)."""

    sslobject_class = _ClockedSSLObject
    started: float | None = None
    done: float | None = None
    sslobj: ssl.SSLObject | None = None
    on_start: Callable[[], object] | None = None
    on_done: Callable[[], object] | None = None

    def handshake_starts(self) -> None:
        if self.started is None:
            self.started = time.monotonic()
            if self.on_start is not None:
                self.on_start()

    def handshake_done(self, sslobj: ssl.SSLObject) -> None:
        self.done = time.monotonic()
        self.sslobj = sslobj
        if self.on_done is not None:
            self.on_done()


def capture_context() -> CaptureContext:
    """A client context that accepts anything, so that a bad server can still be described.

    Verification happens afterwards, in `checks.tls.chain`; nothing is ever sent over this
    connection but greetings and QUIT. Old protocols and ciphers are allowed so that a TLS 1.0
    server is reported as such instead of as a handshake failure. Cheap (about 0.2 ms): no CA
    store is loaded.
    """
    ctx = CaptureContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSVersion.TLSv1 is deprecated
        with contextlib.suppress(ValueError, ssl.SSLError):  # OpenSSL may lack TLS 1.0
            ctx.minimum_version = ssl.TLSVersion.TLSv1
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:  # pragma: no cover
        ctx.set_ciphers("ALL")
    return ctx


def tls_session(obj: ssl.SSLObject | None, sni: str | None) -> TlsSession:
    """What the finished handshake agreed on, and the chain the server sent."""
    if obj is None:  # pragma: no cover -- a finished handshake has its SSLObject
        return TlsSession("", "", 0, (), False, sni)
    chain, complete = _chain(obj)
    cipher = obj.cipher() or ("", "", 0)
    return TlsSession(obj.version() or "", cipher[0], int(cipher[2] or 0), chain, complete, sni)


def server_name(host: str) -> str | None:
    """The TLS server name for `host`: none for an IP literal or a name TLS cannot carry."""
    if is_ip_literal(host):
        return None
    try:
        host.encode("idna")
    except UnicodeError:
        return None
    return host


def _chain(obj: ssl.SSLObject | ssl.SSLSocket) -> tuple[tuple[bytes, ...], bool]:
    """The peer's chain as sent (see the module docstring for why and how)."""
    public = getattr(obj, "get_unverified_chain", None)  # Python 3.13+
    if callable(public):
        return tuple(bytes(c) for c in public() or ()), True
    inner = getattr(obj, "_sslobj", None)  # 3.10-3.12: CPython's private _ssl._SSLSocket
    private = getattr(inner, "get_unverified_chain", None)
    if callable(private):
        certs = private() or ()
        return tuple(c.public_bytes(_ssl.ENCODING_DER) for c in certs), True
    leaf = obj.getpeercert(binary_form=True)
    return ((leaf,) if leaf else ()), False
