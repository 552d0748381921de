"""Prometheus metrics for the Slack app, written out in the text exposition format (0.0.4).

Small enough to write by hand: counters with labels and one histogram, no extra dependency.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable

from checks.model import CheckResult, Status

DURATION_BUCKETS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = tuple[tuple[str, str], ...]


class Metrics:
    """Process-wide counters; the app records, `/metrics` renders."""

    def __init__(self) -> None:
        self.reports: Counter[Labels] = Counter()
        self.check_outcomes: Counter[Labels] = Counter()
        self.slack_api_errors: Counter[Labels] = Counter()
        self.refused: Counter[Labels] = Counter()
        self.scheduled_posts: Counter[Labels] = Counter()
        self._bucket_counts = [0] * (len(DURATION_BUCKETS) + 1)
        self._duration_sum = 0.0
        # (running, queued) now; the app points this at its ReportGate.
        self.load: Callable[[], tuple[int, int]] = lambda: (0, 0)

    def report_done(self, status: Status, results: Iterable[CheckResult], seconds: float) -> None:
        self.reports[(("status", status.value),)] += 1
        for result in results:
            self.check_outcomes[(("check", result.id), ("status", result.status.value))] += 1
        self._bucket_counts[bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
        self._duration_sum += seconds

    def slack_error(self, method: str, error: str) -> None:
        self.slack_api_errors[(("method", method), ("error", error))] += 1

    def scheduled_post(self, kind: str, outcome: str) -> None:
        """One attempt at a scheduled post (a digest…): posted, found (an interrupted attempt
        had posted it), retrying, dropped (grace passed) or stopped (Slack refuses the channel)."""
        self.scheduled_posts[(("kind", kind), ("outcome", outcome))] += 1

    def refusal(self, reason: str) -> None:
        self.refused[(("reason", reason),)] += 1

    def render(self) -> str:
        lines: list[str] = []
        _counter(lines, "mxbot_reports_total", "Reports finished, by overall status.", self.reports)
        _counter(
            lines,
            "mxbot_check_outcomes_total",
            "Check results, by check and status.",
            self.check_outcomes,
        )
        _counter(
            lines,
            "mxbot_slack_api_errors_total",
            "Slack Web API calls that failed, by method and error.",
            self.slack_api_errors,
        )
        _counter(
            lines,
            "mxbot_reports_refused_total",
            "Report requests refused (rate limits, full queue).",
            self.refused,
        )
        _counter(
            lines,
            "mxbot_scheduled_posts_total",
            "Attempts at scheduled posts (digests), by kind and outcome.",
            self.scheduled_posts,
        )
        self._histogram(lines)
        running, queued = self.load()
        for name, value, text in (
            ("mxbot_reports_running", running, "Reports running now."),
            ("mxbot_reports_queued", queued, "Reports waiting for a free slot."),
        ):
            lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge", f"{name} {value}"]
        return "\n".join(lines) + "\n"

    def _histogram(self, lines: list[str]) -> None:
        name = "mxbot_report_duration_seconds"
        lines += [f"# HELP {name} Time to finish a report.", f"# TYPE {name} histogram"]
        cumulative = 0
        for bound, count in zip(DURATION_BUCKETS, self._bucket_counts, strict=False):
            cumulative += count
            lines.append(f'{name}_bucket{{le="{bound:g}"}} {cumulative}')
        total = sum(self._bucket_counts)
        lines.append(f'{name}_bucket{{le="+Inf"}} {total}')
        lines.append(f"{name}_sum {self._duration_sum:.6f}")
        lines.append(f"{name}_count {total}")


def _counter(lines: list[str], name: str, text: str, values: Counter[Labels]) -> None:
    lines += [f"# HELP {name} {text}", f"# TYPE {name} counter"]
    for labels, value in sorted(values.items()):
        rendered = ",".join(f'{k}="{_label(v)}"' for k, v in labels)
        lines.append(f"{name}{{{rendered}}} {value}")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
