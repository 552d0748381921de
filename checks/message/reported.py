"""Authentication-Results (RFC 8601) and ARC-Authentication-Results (RFC 8617 4.1.1): what did
the receivers say about DKIM, SPF, DMARC and ARC, as they wrote it?

Read with `authres` (the maintained RFC 8601 parser). The topmost field is the final receiver's
own verdict; lower ones were added earlier on the way, by servers the final receiver may not
trust, so they are shown as what they are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import authres
import authres.core

from checks.model import Finding, Status

ID: Final = "authres"
TITLE: Final = "Receiver's verdicts"

_METHODS: Final = ("dmarc", "dkim", "spf", "arc")
_INSTANCE: Final = re.compile(r"^\s*i\s*=\s*(\d+)\s*;\s*", re.I)
_GOOD: Final = frozenset({"pass"})
_QUIET: Final = frozenset({"none", "neutral", "policy", "bestguesspass"})
_FEATURES: Final = authres.all_features()


class AuthResSyntaxError(ValueError):
    """The field is not an RFC 8601 Authentication-Results value."""


@dataclass(frozen=True, slots=True)
class Reported:
    """One method's result in one field, as the receiver wrote it."""

    authserv: str
    method: str
    result: str
    properties: tuple[tuple[str, str], ...] = ()  # ("header.d", "example.com"), …
    reason: str = ""
    instance: int = 0  # the ARC instance (i=) for ARC-Authentication-Results; 0 otherwise

    def prop(self, name: str) -> str:
        return next((v for n, v in self.properties if n == name), "")

    @property
    def text(self) -> str:
        props = " ".join(f"{n}={v}" for n, v in self.properties)
        return f"{self.method}={self.result}" + (f" {props}" if props else "")


def parse(value: str, *, arc: bool = False) -> list[Reported]:
    """One field's value (unfolded, without its name). Only AuthResSyntaxError."""
    instance = 0
    if arc:
        match = _INSTANCE.match(value)
        if match is None:
            raise AuthResSyntaxError("an ARC-Authentication-Results field starts with i=N;")
        instance, value = int(match.group(1)), value[match.end() :]
    try:
        header = _FEATURES.parse_value(value)
    except (authres.core.AuthResError, ValueError, IndexError, AttributeError) as exc:
        raise AuthResSyntaxError(str(exc) or type(exc).__name__) from None
    return [_reported(header.authserv_id or "", r, instance) for r in header.results]


def read(fields: Sequence[tuple[str, str]]) -> tuple[list[Reported], list[str]]:
    """Every Authentication-Results and ARC-Authentication-Results field, top to bottom; and the
    values that could not be read."""
    out: list[Reported] = []
    unreadable: list[str] = []
    for name, value in fields:
        lower = name.lower()
        if lower not in ("authentication-results", "arc-authentication-results"):
            continue
        try:
            out.extend(parse(value, arc=lower.startswith("arc-")))
        except AuthResSyntaxError:
            unreadable.append(value)
    return out, unreadable


def judge(reported: Sequence[Reported], unreadable: Sequence[str]) -> list[Finding]:
    """The final receiver's verdict per method; earlier receivers' noted; unreadable fields."""
    direct = [r for r in reported if r.instance == 0]
    if not direct and not reported:
        findings = [
            Finding(
                "authres.none",
                Status.INFO,
                "No Authentication-Results field: the receiver did not record its verdicts "
                "(mxbot's own checks below still apply).",
            )
        ]
    else:
        receiver = direct[0].authserv if direct else ""
        own = [r for r in direct if r.authserv == receiver]
        per_method = [_method(m, [r for r in own if r.method == m], receiver) for m in _METHODS]
        findings = [f for f in per_method if f is not None]
        findings += _earlier(direct, receiver)
        findings += _arc_results(reported)
    if unreadable:
        findings.append(
            Finding(
                "authres.unreadable",
                Status.INFO,
                f"{len(unreadable)} Authentication-Results field(s) do not follow RFC 8601 and "
                "were not read.",
                evidence=tuple(unreadable[:3]),
            )
        )
    return findings


def _reported(authserv: str, result: Any, instance: int) -> Reported:
    props = tuple(
        (f"{p.type}.{p.name}", str(p.value)) for p in getattr(result, "properties", []) or []
    )
    return Reported(
        authserv=authserv.lower(),
        method=str(getattr(result, "method", "") or "").lower(),
        result=str(getattr(result, "result", "") or "").lower(),
        properties=props,
        reason=str(getattr(result, "reason", "") or ""),
        instance=instance,
    )


def _method(method: str, results: Sequence[Reported], receiver: str) -> Finding | None:
    if not results:
        return None
    best = next((r for r in results if r.result in _GOOD), results[0])
    status = _status(method, best.result)
    what = "; ".join(r.text for r in results)
    return Finding(
        f"authres.{method}",
        status,
        f"{receiver} reported {method}={best.result}"
        + (f" ({len(results)} results)" if len(results) > 1 else "")
        + ".",
        evidence=(what,),
    )


def _status(method: str, result: str) -> Status:
    if result in _GOOD:
        return Status.PASS
    if result in _QUIET:
        return Status.INFO
    if result in ("temperror",):
        return Status.ERROR
    if method == "spf" and result == "softfail":
        return Status.WARN
    return Status.FAIL


def _earlier(direct: Sequence[Reported], receiver: str) -> list[Finding]:
    others = [r for r in direct if r.authserv != receiver]
    if not others:
        return []
    servers = list(dict.fromkeys(r.authserv for r in others))
    return [
        Finding(
            "authres.earlier",
            Status.INFO,
            f"Earlier hops also reported results ({', '.join(servers[:3])}); only the final "
            "receiver's count, as anyone before it could have written these.",
            evidence=tuple(f"{r.authserv}: {r.text}" for r in others[:6]),
        )
    ]


def _arc_results(reported: Sequence[Reported]) -> list[Finding]:
    sealed = [r for r in reported if r.instance]
    if not sealed:
        return []
    instances = sorted({r.instance for r in sealed})
    return [
        Finding(
            "authres.arc_recorded",
            Status.INFO,
            f"ARC sets {', '.join(str(i) for i in instances)} record what earlier receivers "
            "saw before forwarding (checked under ARC).",
            evidence=tuple(f"i={r.instance} {r.authserv}: {r.text}" for r in sealed[:6]),
        )
    ]
