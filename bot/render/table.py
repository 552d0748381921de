"""The one-line-per-report table: each target's verdict and the one reason behind it, in sections."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.render.text import clean
from checks.model import Report, Status

_LABEL = {Status.PASS: "PASS", Status.WARN: "WARN", Status.ERROR: "ERR ", Status.FAIL: "FAIL"}
_COLOUR = {Status.PASS: "32", Status.WARN: "33", Status.ERROR: "35", Status.FAIL: "1;31"}
NOTHING_TO_FIX = "nothing to fix"


@dataclass(frozen=True, slots=True)
class Line:
    """What a report's row says: its verdict, and the finding code and sentence that explain it."""

    name: str
    verdict: Status  # PASS, WARN, ERROR or FAIL
    code: str  # "" when there is nothing to fix, or the diagnosis named no finding
    reason: str


def verdict(report: Report) -> Status:
    """PASS when nothing needs doing (info and skipped checks included), else the worst status."""
    status = report.status
    return status if status.severity >= Status.WARN.severity else Status.PASS


def line(report: Report) -> Line:
    """The diagnosis's headline when it named a cause, else the first problem's finding (the first
    check, in display order, at the report's worst status): a report with warnings only has no
    cause, and its row shows the warning rather than "should flow"."""
    name = report.display_name or report.domain
    status = verdict(report)
    if status is Status.PASS:
        return Line(name, status, "", NOTHING_TO_FIX)
    if report.headline and report.cause is not None:
        return Line(name, status, report.cause.code, report.headline)
    for result in report.results:
        first = result.headline
        if result.status is status and first is not None:
            return Line(name, status, first.code, first.message)
    return Line(name, status, "", "")  # not reached: a check's status is one of its findings'


def render(
    sections: Sequence[tuple[str, Sequence[Report]]],
    *,
    colour: bool = False,
    width: int | None = None,
) -> str:
    """Each section's title, then one row per report; rows are cut at `width` when it is given.

    Names line up across sections; codes within one."""
    rows = {id(r): line(r) for _, reports in sections for r in reports}
    name_width = max((len(x.name) for x in rows.values()), default=0)
    out: list[str] = []
    for title, reports in sections:
        if not reports:
            continue
        out += ["", clean(title)] if out else [clean(title)]
        code_width = max(len(rows[id(r)].code) for r in reports)  # per section: room for reasons
        for report in reports:
            row = rows[id(report)]
            prefix = f"  {clean(row.name):<{name_width}}  "
            reason = clean(" ".join(row.reason.split()))
            text = f"{row.code:<{code_width}}  {reason}" if code_width else reason
            if width is not None:
                text = _cut(text, width - len(prefix) - 6)
            label = _LABEL[row.verdict]
            if colour:
                label = f"\x1b[{_COLOUR[row.verdict]}m{label}\x1b[0m"
            out.append(f"{prefix}{label}  {text}".rstrip())
    return "\n".join(out) + "\n"


def _cut(text: str, width: int) -> str:
    width = max(width, 20)
    return text if len(text) <= width else text[: width - 1] + "…"
