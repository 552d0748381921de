"""The terminal renderer: the headline, each problem with its fix, a compact line for the rest.

Laid out as the Slack message is (`summary` decides the order and the counts), at the width it
is given: messages and fixes wrap and are never cut; a record to paste is never broken; where
evidence is shortened, `…` says so. `verbose` shows every check in full, evidence and all.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from typing import Final

from bot.render import summary
from checks.model import CheckResult, Finding, Report, Status

MIN_WIDTH: Final = 30
EVIDENCE_ITEMS: Final = 3  # evidence shown per finding without `verbose`…
EVIDENCE_LINES: Final = 2  # …and lines of each
REPEATS: Final = 3  # the same problem elsewhere (another host), named without `verbose`
_INDENT: Final = 6  # "FAIL  "
_GLUE: Final = "\ue000"  # a space that does not break: textwrap splits at ASCII spaces only
_NUMBER: Final = re.compile(r"(?<![\w.:/-])(\d+) (?=\w)")

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
    """The line under the headline: "example.com: FAIL — 15 checks: 1 failing, 3 notes, …"."""
    name = f"{report.display_name} ({report.domain})" if report.display_name else report.domain
    return f"{name}: {report.status.value.upper()} — {summary.counts(report.results)}"


def _duration(ms: int) -> str:
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def render(report: Report, *, colour: bool = False, width: int = 80, verbose: bool = False) -> str:
    """The report for a terminal `width` columns wide; the first line is the headline (or, until
    there is one, the summary line)."""
    width = max(width, MIN_WIDTH)
    lead = [report.headline, summary_line(report)] if report.headline else [summary_line(report)]
    lines = [_paint(line, report.status, colour) for t in lead for line in _wrap(clean(t), width)]
    for result in summary.problems(report.results, report.cause):
        lines += ["", *_check(result, width, colour, verbose)]
    if verbose:
        for result in (r for r in report.results if r.status not in summary.PROBLEM):
            lines += ["", *_check(result, width, colour, verbose)]
    elif folded := summary.folded(report.results):
        lines.append("")
        for status, group in folded:
            lines += _compact(status, group, width, colour)
        lines.append(_paint("(-v shows every check in full)", Status.SKIP, colour))
    resolvers = ", ".join(report.resolvers) or "system resolver"
    took = f"Took {_duration(report.duration_ms)} · resolver {resolvers}"
    lines += ["", *_wrap(clean(took), width)]
    return "\n".join(lines) + "\n"


def _check(result: CheckResult, width: int, colour: bool, verbose: bool) -> list[str]:
    """A check as a block: its label and title with the first finding, then the others."""
    title = clean(result.title) + (f" ({_duration(result.duration_ms)})" if verbose else "")
    shown = _shown(result, verbose)
    if not shown:
        return _labelled(result.status, f"{title}: no findings", 0, width, colour)
    lines: list[str] = []
    for index, (finding, repeats) in enumerate(shown):
        if index == 0:
            text = f"{title}: {clean(finding.message)}"
            lines += _labelled(result.status, text, 0, width, colour)
            lines += _aftermath(finding, _INDENT, width, verbose)
        else:
            lines += _labelled(finding.status, clean(finding.message), _INDENT, width, colour)
            lines += _aftermath(finding, 2 * _INDENT, width, verbose)
        lines += _repeats(repeats, width, colour, verbose)
    return lines


def _repeats(repeats: Sequence[Finding], width: int, colour: bool, verbose: bool) -> list[str]:
    """The same problem found elsewhere (another host): named, as its fix reads the same."""
    shown = repeats if verbose else repeats[:REPEATS]
    lines = [
        line
        for same in shown
        for line in _labelled(same.status, clean(same.message), _INDENT, width, colour)
    ]
    if len(shown) < len(repeats):
        more = f"… and {len(repeats) - len(shown)} more like it (-v shows all)"
        lines += _wrap(more, width, " " * _INDENT, " " * _INDENT)
    return lines


def _shown(result: CheckResult, verbose: bool) -> list[tuple[Finding, Sequence[Finding]]]:
    """What a check shows: its problems, each once with its repeats; everything when verbose."""
    if not verbose:
        return [(f, same) for f, same in summary.problem_groups(result)]
    head = result.headline
    rest = [f for f in result.findings if f is not head]
    return [(f, ()) for f in ([head] if head is not None else []) + rest]


def _labelled(status: Status, text: str, indent: int, width: int, colour: bool) -> list[str]:
    """`FAIL  text…`, wrapped under its text, at `indent` columns."""
    label = _LABEL[status]
    pad = " " * indent
    lines = _wrap(text, width, f"{pad}{label}  ", pad + " " * _INDENT)
    lines[0] = lines[0].replace(label, _paint(label, status, colour), 1)  # after measuring
    return lines


def _aftermath(finding: Finding, indent: int, width: int, verbose: bool) -> list[str]:
    """A finding's fix (wrapped), its record (never broken: it is pasted) and its evidence."""
    pad = " " * indent
    lines: list[str] = []
    if finding.fix:
        lines += _wrap(clean(finding.fix), width, f"{pad}Fix: ", f"{pad}     ")
    if finding.record is not None:
        lines += [f"{pad}Record:", f"{pad}  {clean(finding.record.zone_line)}"]
    items = finding.evidence if verbose else finding.evidence[:EVIDENCE_ITEMS]
    for item in items:
        lines += _evidence(clean(item), pad, width, verbose)
    if len(items) < len(finding.evidence):
        lines.append(f"{pad}| … {len(finding.evidence) - len(items)} more (-v shows all)")
    return lines


def _evidence(item: str, pad: str, width: int, verbose: bool) -> list[str]:
    """One piece of raw evidence, hard-wrapped; cut (with `…`) unless verbose."""
    lines = [
        wrapped
        for part in item.split("\n")
        for wrapped in _wrap(part, width, f"{pad}| ", f"{pad}| ", collapse=False)
    ]
    if verbose or len(lines) <= EVIDENCE_LINES:
        return lines
    kept = lines[:EVIDENCE_LINES]
    kept[-1] = kept[-1][: width - 1] + "…"
    return kept


def _compact(status: Status, results: Sequence[CheckResult], width: int, colour: bool) -> list[str]:
    """`PASS  MX · PTR · SPF`, wrapped between names."""
    names = [clean(summary.short_title(r.title)) for r in results]
    label = _LABEL[status]
    lines = [f"{label}  {names[0]}"]
    for index, name in enumerate(names[1:], start=2):
        room = width - (0 if index == len(names) else 2)  # a line ending in " ·" goes on
        if len(lines[-1]) + 3 + len(name) <= room:
            lines[-1] += f" · {name}"
        else:
            lines[-1] += " ·"
            lines.append(" " * _INDENT + name)
    lines[0] = _paint(label, status, colour) + lines[0][len(label) :]
    return lines


def _wrap(
    text: str, width: int, first: str = "", rest: str = "", *, collapse: bool = True
) -> list[str]:
    """`text` in lines of at most `width` columns, nothing dropped: long words are broken. In
    prose (`collapse`) a number stays with the word after it ("2 failing", "10 lookups")."""
    if collapse:  # the glue cannot come from remote text: `clean` replaced private-use characters
        text = _NUMBER.sub("\\1" + _GLUE, text)
    lines = textwrap.wrap(
        text,
        width,
        initial_indent=first,
        subsequent_indent=rest,
        break_on_hyphens=False,
        replace_whitespace=collapse,
    ) or [first.rstrip()]
    return [line.replace(_GLUE, " ") for line in lines]
