"""The Slack app's own Prometheus metrics (reports, check outcomes, durations, Slack API errors,
refusals, load), with the process and Python collectors, in one registry per app.

`GET /metrics` on `mxbot serve` serves `Metrics.registry` (`bot.exporter.exposition.respond`
negotiates the format). Probe series (`/probe`) live in a registry per request, never here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

from bot.exporter.exposition import process_registry
from checks.model import CheckResult, Status

# The text format would add a `_created` gauge (when each series began) beside every counter and
# histogram: series Prometheus does not need, which the hand-written exposition never had. Off,
# for the whole process (prometheus_client has no per-registry switch).
disable_created_metrics()  # type: ignore[no-untyped-call]  # the library leaves it unannotated

DURATION_BUCKETS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0)
# Slack's error codes ("not_in_channel") and HTTP statuses; anything else a server (or a proxy in
# front of Slack) answers is counted as "other", so a label never carries free text.
_ERROR_CODE = re.compile(r"^[a-z0-9_.]{1,64}$")


class Metrics:
    """Process-wide counters; the app records, `/metrics` exposes `registry`."""

    def __init__(self) -> None:
        self.registry = process_registry()
        r = self.registry
        self._reports = Counter(
            "mxbot_reports", "Reports finished, by overall status.", ["status"], registry=r
        )
        self._check_outcomes = Counter(
            "mxbot_check_outcomes",
            "Check results, by check and status.",
            ["check", "status"],
            registry=r,
        )
        self._slack_api_errors = Counter(
            "mxbot_slack_api_errors",
            "Slack Web API calls that failed, by method and error.",
            ["method", "error"],
            registry=r,
        )
        self._refused = Counter(
            "mxbot_reports_refused",
            "Report requests refused (rate limits, full queue).",
            ["reason"],
            registry=r,
        )
        self._duration = Histogram(
            "mxbot_report_duration_seconds",
            "Time to finish a report.",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self._scheduled_posts = Counter(
            "mxbot_scheduled_posts",
            "Attempts at scheduled posts (digests), by kind and outcome.",
            ["kind", "outcome"],
            registry=r,
        )
        # (running, queued) now; the app points this at its ReportGate.
        self.load: Callable[[], tuple[int, int]] = lambda: (0, 0)
        running = Gauge("mxbot_reports_running", "Reports running now.", registry=r)
        running.set_function(lambda: self.load()[0])
        queued = Gauge("mxbot_reports_queued", "Reports waiting for a free slot.", registry=r)
        queued.set_function(lambda: self.load()[1])

    def report_done(self, status: Status, results: Iterable[CheckResult], seconds: float) -> None:
        self._reports.labels(status=status.value).inc()
        for result in results:
            self._check_outcomes.labels(check=result.id, status=result.status.value).inc()
        self._duration.observe(seconds)

    def slack_error(self, method: str, error: str) -> None:
        code = error if _ERROR_CODE.match(error) else "other"
        self._slack_api_errors.labels(method=method, error=code).inc()

    def scheduled_post(self, kind: str, outcome: str) -> None:
        """One attempt at a scheduled post (a digest…): posted, found (an interrupted attempt
        had posted it), retrying, dropped (grace passed) or stopped (Slack refuses the channel)."""
        self._scheduled_posts.labels(kind=kind, outcome=outcome).inc()

    def refusal(self, reason: str) -> None:
        self._refused.labels(reason=reason).inc()
