"""The terminal renderer: the diagnosis's headline and the summary first, then one line per check,
then what to fix."""

from __future__ import annotations

import textwrap

from checks.model import Finding, Report, Status

_LABEL = {
    Status.SKIP: "SKIP",
    Status.PASS: "PASS",
    Status.INFO: "INFO",
    Status.WARN: "WARN",
    Status.ERROR: "ERR ",
    Status.FAIL: "FAIL",
}
_COLOUR = {
    Status.SKIP: "2",  # dim
    Status.PASS: "32",  # green
    Status.INFO: "36",  # cyan
    Status.WARN: "33",  # yellow
    Status.ERROR: "35",  # magenta
    Status.FAIL: "1;31",  # bold red
}


def _paint(text: str, status: Status, colour: bool) -> str:
    return f"\x1b[{_COLOUR[status]}m{text}\x1b[0m" if colour else text


def clean(text: str) -> str:
    """Remote text must not drive the terminal: drop control characters (ESC, CR, …)."""
    return "".join(c if c.isprintable() or c == "\n" else "�" for c in text)


def summary_line(report: Report) -> str:
    counts = {s: sum(1 for r in report.results if r.status is s) for s in Status}
    parts = [
        f"{counts[s]} {name}"
        for s, name in (
            (Status.FAIL, "failed"),
            (Status.ERROR, "could not be checked"),
            (Status.WARN, "with warnings"),
            (Status.PASS, "passed"),
        )
        if counts[s]
    ]
    name = f"{report.display_name} ({report.domain})" if report.display_name else report.domain
    return f"{name}: {report.status.value.upper()} — {', '.join(parts) or 'nothing to report'} in {_duration(report.duration_ms)}"


def _duration(ms: int) -> str:
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def render(report: Report, *, colour: bool = False, width: int = 100, verbose: bool = False) -> str:
    lines = [*_lead(report, colour, width), ""]
    title_width = max((len(r.title) for r in report.results), default=10)
    for r in report.results:
        headline = r.headline
        verdict = clean(headline.message) if headline else ""
        label = _paint(_LABEL[r.status], r.status, colour)
        lines.append(
            f"{label}  {r.title:<{title_width}}  {_one_line(verdict, width - title_width - 8)}"
        )
    details = [r for r in report.results if verbose or r.status.severity >= Status.WARN.severity]
    for r in details:
        shown = [f for f in r.findings if verbose or f.status.severity >= Status.WARN.severity]
        if not shown:
            continue
        lines += ["", _paint(f"{r.title} ({r.status.value}, {r.duration_ms} ms)", r.status, colour)]
        for f in shown:
            lines += _finding(f, colour, width)
    if report.resolvers:
        lines += ["", f"Resolvers: {', '.join(report.resolvers)}"]
    return "\n".join(lines) + "\n"


def _lead(report: Report, colour: bool, width: int) -> list[str]:
    """The diagnosis's headline (the root cause in one sentence), then the summary line; a report
    without one (not diagnosed) leads with the summary and its first problem."""
    summary = _paint(clean(summary_line(report)), report.status, colour)
    if report.headline:
        return [_paint(clean(report.headline), report.status, colour), summary]
    urgent = next((r for r in report.results if r.status is Status.FAIL), None)
    if urgent is None or urgent.headline is None:
        return [summary]
    first = _one_line(clean(urgent.headline.message), width)
    return [summary, f"First problem: {clean(urgent.title)}: {first}"]


def _finding(f: Finding, colour: bool, width: int) -> list[str]:
    plain = _LABEL[f.status]
    out = textwrap.wrap(
        clean(f.message), width - 8, initial_indent=f"  {plain}  ", subsequent_indent="        "
    ) or [f"  {plain}"]
    out[0] = out[0].replace(plain, _paint(plain, f.status, colour), 1)  # colour after measuring
    if f.fix:
        out += textwrap.wrap(
            clean(f.fix),
            width - 8,
            initial_indent="        Fix: ",
            subsequent_indent="             ",
        )
    if f.record is not None:
        out += ["        Record:", f"          {clean(f.record.zone_line)}"]
    for item in f.evidence[:20]:
        out.append(f"        | {clean(item)[: width * 3]}")
    if len(f.evidence) > 20:
        out.append(f"        | … {len(f.evidence) - 20} more")
    return out


def _one_line(text: str, width: int) -> str:
    width = max(width, 30)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
