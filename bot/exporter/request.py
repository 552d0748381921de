"""What a `/probe` request asks for: one target, optionally some checks, and the time it may take.

`GET /probe?target=example.com&checks=mx,spf`: `target` is what `mxbot check` takes (a domain, an
IP address, an e-mail address or a URL); `checks` (comma-separated or repeated) picks checks by id,
the default set when absent. Prometheus says how long it will wait in the
`X-Prometheus-Scrape-Timeout-Seconds` header: the report gets that less a margin, never more than
the report budget. Anything else in the query (a `module`, say) is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from checks import registry
from checks.settings import Settings
from checks.target import Target, TargetError, normalise

SCRAPE_TIMEOUT_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"
# Time kept back from the scrape timeout for the answer to travel (the blackbox exporter's
# default timeout_offset).
TIMEOUT_OFFSET = 0.5
MIN_BUDGET = 1.0  # below this no report can say anything useful
_MAX_TARGET = 300  # characters; a longer query is refused before it is parsed


class ProbeRequestError(ValueError):
    """The request cannot be probed; the message says why and is the 400 answer's body."""


@dataclass(frozen=True, slots=True)
class ProbeQuery:
    target: Target
    checks: tuple[str, ...]  # ids; empty: the default set
    budget: float  # seconds the report may take


def parse_query(
    params: Iterable[tuple[str, str]], scrape_timeout: str | None, settings: Settings
) -> ProbeQuery:
    """The probe that `params` (the query string's pairs, in order) ask for."""
    pairs = list(params)
    return ProbeQuery(
        target=_target([v for k, v in pairs if k == "target"]),
        checks=_checks([v for k, v in pairs if k == "checks"]),
        budget=_budget(scrape_timeout, settings.report_budget),
    )


def _target(values: list[str]) -> Target:
    if len(values) != 1:
        raise ProbeRequestError(
            "give one target: /probe?target=example.com"
            + ("" if not values else f" (this request gives {len(values)})")
        )
    text = values[0]
    if len(text) > _MAX_TARGET:
        raise ProbeRequestError(f"target: longer than {_MAX_TARGET} characters")
    try:
        return normalise(text)
    except TargetError as exc:
        raise ProbeRequestError(f"target: {exc}") from None


def _checks(values: list[str]) -> tuple[str, ...]:
    names = [n.strip().lower() for v in values for n in v.split(",") if n.strip()]
    unknown = sorted({n for n in names if n not in registry.IDS})
    if unknown:
        listed = ", ".join(repr(n[:40]) for n in unknown[:5])
        verb = "is not a check" if len(unknown) == 1 else "are not checks"
        raise ProbeRequestError(
            f"checks: {listed} {verb}; the checks are {', '.join(registry.IDS)}"
        )
    return tuple(dict.fromkeys(names))


def _budget(header: str | None, report_budget: float) -> float:
    if header is None or not header.strip():
        return report_budget
    try:
        scrape = float(header)
    except ValueError:
        raise ProbeRequestError(
            f"{SCRAPE_TIMEOUT_HEADER}: {header[:40]!r} is not a number"
        ) from None
    budget = min(report_budget, scrape - TIMEOUT_OFFSET)
    if not budget >= MIN_BUDGET:  # NaN included
        raise ProbeRequestError(
            f"the scrape timeout ({header[:40]} s) leaves no time for a report: give the job a "
            f"scrape_timeout above {report_budget + TIMEOUT_OFFSET:g}s (the report budget and a margin)"
        )
    return budget
