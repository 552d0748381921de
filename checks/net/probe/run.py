"""One probe while it runs: its clock and step timeouts, the steps so far, and the abort that ends it."""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field, replace

from aiosmtplib import SMTPException

from checks.net.probe.result import Failure, ProbeResult, Reply, Step

PEEK = 200  # first bytes kept as evidence of a non-protocol answer
_QUIT_WAIT = 1.0


class ProbeAbort(Exception):
    """Control flow inside one probe; never escapes `checks.net.probe.prober.SmtpProber.probe`."""

    def __init__(self, failure: Failure, detail: str, step: str) -> None:
        super().__init__(detail)
        self.failure = failure
        self.detail = detail
        self.step = step


@dataclass
class ProbeRun:
    """One probe while it runs: what it has seen so far and its clock. Frozen into `result`."""

    result: ProbeResult
    step_timeout: float
    deadline: float  # loop time
    greeting_timeout: float = 0.0  # the SMTP greeting's own wait; never less than a step
    steps: list[Step] = field(default_factory=list)

    def remaining(self) -> float:
        return self.deadline - asyncio.get_running_loop().time()

    def step_left(self, timeout: float | None = None) -> float:
        """The time the next step may take: its timeout (a step timeout unless given), or what is
        left of the budget."""
        limit = self.step_timeout if timeout is None else timeout
        return max(0.0, min(limit, self.remaining()))

    def budget(self, timeout: float | None = None) -> float:
        if self.remaining() <= 0:
            raise ProbeAbort(Failure.TIMEOUT, "the probe's time budget ran out", "budget")
        return self.step_left(timeout)

    @property
    def greeting_wait(self) -> float:
        """How long the SMTP greeting may take: a server may pause on purpose before it."""
        return max(self.greeting_timeout, self.step_timeout)

    def quit_timeout(self) -> float:
        """How long to wait for a goodbye: a server that does not answer costs at most a second."""
        return min(_QUIT_WAIT, self.step_timeout, max(self.remaining(), 0.01))

    def record(
        self, name: str, started: float, ok: bool, detail: str = "", until: float | None = None
    ) -> int:
        ms = elapsed_ms(started, until)
        self.steps.append(Step(name, ms, ok, detail[:120]))
        return ms

    def fail(self, name: str, started: float, failure: Failure, detail: str) -> ProbeAbort:
        """Record the failed step and return the abort to raise."""
        self.record(name, started, False, detail)
        return ProbeAbort(failure, detail, name)

    def finish(self, abort: ProbeAbort | None, started: float) -> ProbeResult:
        result = self.result
        if abort is not None:
            result = replace(
                result, failure=abort.failure, detail=abort.detail, failed_step=abort.step
            )
        return replace(result, steps=tuple(self.steps), total_ms=elapsed_ms(started))


def judge_greeting(family: str, banner: Reply) -> None:
    """Stop the probe on a greeting that refuses service or is not the protocol's."""
    code = banner.code
    if family == "smtp":
        if code.startswith("4"):
            raise ProbeAbort(
                Failure.GREETING_DEFERRED, f"the server greeted with {banner}", "banner"
            )
        if code.startswith("5"):
            raise ProbeAbort(
                Failure.GREETING_REJECTED, f"the server greeted with {banner}", "banner"
            )
        if code != "220":
            raise ProbeAbort(Failure.GARBAGE, f"unexpected greeting {banner}", "banner")
    elif code in {"BYE", "-ERR", "NO", "BAD"}:
        raise ProbeAbort(Failure.GREETING_REJECTED, f"the server greeted with {banner}", "banner")


def why(exc: BaseException) -> str:
    """An I/O or TLS error in plain words, for a step's detail."""
    if isinstance(exc, SMTPException) and exc.__cause__ is not None:
        return why(exc.__cause__)  # aiosmtplib wraps the socket or TLS error that says more
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason.lower().replace("_", " ")
    text = getattr(exc, "strerror", None) or str(exc)
    if not text and isinstance(exc, ConnectionResetError):  # asyncio's EOF mid-handshake
        return "the server closed the connection"
    return str(text or type(exc).__name__)[:200]


def elapsed_ms(started: float, until: float | None = None) -> int:
    return round(((until if until is not None else time.monotonic()) - started) * 1000)


def loop_time() -> float:
    return asyncio.get_running_loop().time()
