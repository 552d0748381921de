"""What one probe of a mail server saw: the frozen result, its steps and replies, and where it stopped."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Protocol(enum.StrEnum):
    """What to speak, and whether TLS comes first (implicit) or after STARTTLS."""

    SMTP = "smtp"  # 25 and 587: greeting, EHLO, STARTTLS
    SMTPS = "smtps"  # 465 (RFC 8314): TLS first
    IMAP = "imap"  # 143: CAPABILITY, STARTTLS
    IMAPS = "imaps"  # 993
    POP3 = "pop3"  # 110: CAPA, STLS
    POP3S = "pop3s"  # 995

    @property
    def implicit_tls(self) -> bool:
        return self in (Protocol.SMTPS, Protocol.IMAPS, Protocol.POP3S)

    @property
    def family(self) -> str:
        return self.value.rstrip("s") if self.value != "smtps" else "smtp"


class Failure(enum.StrEnum):
    """Where a probe stopped; each has its own finding."""

    REFUSED_BY_POLICY = "refused_by_policy"  # we would not connect (private address …)
    CONNECTION_REFUSED = "connection_refused"  # RST: nothing listens
    CONNECT_TIMEOUT = "connect_timeout"  # no SYN-ACK in time (filtered)
    UNREACHABLE = "unreachable"  # no route, network unreachable, …
    NO_BANNER = "no_banner"  # connected, but no greeting in time (tarpit)
    EARLY_CLOSE = "early_close"  # the server hung up before or instead of greeting
    GREETING_DEFERRED = "greeting_deferred"  # 4xx greeting (421 too many connections …)
    GREETING_REJECTED = "greeting_rejected"  # 5xx greeting (554 no service …)
    GARBAGE = "garbage"  # not the expected protocol
    EHLO_FAILED = "ehlo_failed"  # EHLO/CAPABILITY rejected
    STARTTLS_MISSING = "starttls_missing"
    STARTTLS_REFUSED = "starttls_refused"
    TLS_FAILED = "tls_failed"  # handshake failure
    TIMEOUT = "timeout"  # a later step (or the whole probe) ran out of time
    CLOSED = "closed"  # the server hung up in the middle of the dialogue

    @property
    def inconclusive(self) -> bool:
        """The server may be fine for real senders: it is rate-limiting or blocking scanners."""
        return self in (Failure.GREETING_DEFERRED, Failure.EARLY_CLOSE)


@dataclass(frozen=True, slots=True)
class Reply:
    """One server reply: `code` is "220" for SMTP, "OK"/"NO"/"BAD"/"BYE" for IMAP, "+OK"/"-ERR" for POP3."""

    code: str
    lines: tuple[str, ...]  # text after the code, one per line

    @property
    def text(self) -> str:
        return " ".join(line.strip() for line in self.lines).strip()

    @property
    def first_word(self) -> str:
        """The host name a server announces first on its greeting or EHLO line."""
        parts = (self.lines[0] if self.lines else "").split()
        return parts[0].lower().rstrip(".") if parts else ""

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()


@dataclass(frozen=True, slots=True)
class Step:
    name: str  # "connect", "banner", "ehlo", "starttls", "tls", "ehlo-tls", "quit"
    ms: int
    ok: bool
    detail: str = ""

    def __str__(self) -> str:
        mark = "" if self.ok else " FAILED"
        return f"{self.name}{mark} in {self.ms} ms" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True, slots=True)
class TlsSession:
    version: str
    cipher: str
    bits: int
    chain: tuple[bytes, ...]  # DER, leaf first, as the server sent it
    complete_capture: bool  # False when only the leaf could be captured
    sni: str | None


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """Everything one probe saw; `failure` is None when it got through TLS (or as far as it should)."""

    host: str
    address: str
    port: int  # the standard port the probe stands for (25, 465, 993, …)
    protocol: Protocol
    failure: Failure | None = None
    detail: str = ""  # why, in words, for the failure
    failed_step: str = ""
    steps: tuple[Step, ...] = ()
    banner: Reply | None = None
    banner_ms: int | None = None
    connect_ms: int | None = None
    capabilities: Reply | None = None  # EHLO / CAPABILITY / CAPA reply
    starttls: Reply | None = None
    tls: TlsSession | None = None
    after_tls: Reply | None = None  # EHLO after STARTTLS (SMTP only)
    garbage: bytes = b""  # the first bytes of a non-protocol answer
    total_ms: int = 0
    probed_at: float = 0.0  # time.time() when the probe started
    cached: bool = False
    connected_port: int = 0  # the port actually connected to (tests remap standard ports)

    @property
    def connected(self) -> bool:
        return self.connect_ms is not None

    @property
    def extensions(self) -> tuple[str, ...]:
        """EHLO keywords with parameters (`SIZE 52428800`), or IMAP/POP3 capabilities."""
        if self.capabilities is None:
            return ()
        lines = self.capabilities.lines
        if self.protocol.family == "imap":  # "* CAPABILITY IMAP4rev1 STARTTLS …"
            return tuple(
                w
                for line in lines
                if line.upper().startswith("CAPABILITY ")
                for w in line.split()[1:]
            )
        return tuple(line.strip() for line in lines[1:] if line.strip())  # EHLO / CAPA

    @property
    def offers_starttls(self) -> bool:
        words = {e.split()[0].upper() for e in self.extensions if e.split()}
        return bool(words & {"STARTTLS", "STLS"})

    @property
    def inconclusive(self) -> bool:
        return self.failure is not None and self.failure.inconclusive

    def describe_steps(self) -> str:
        return "; ".join(str(s) for s in self.steps)


def where(host: str, address: str, port: int | None = None) -> str:
    """How findings name an endpoint: `mx.example.com [192.0.2.1]` (`:587` when not 25)."""
    text = host if host == address else f"{host} [{address}]"
    return f"{text} port {port}" if port not in (None, 25) else text
