"""Run the selected checks at once, each under its own budget inside the report's, streaming results.

The engine is the only place with a broad `except`: a crash or a timeout in one check becomes an
`error` finding for that check alone, and the others carry on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence

from checks import registry
from checks.context import Context, Options
from checks.diagnosis.diagnose import diagnose
from checks.model import CheckResult, Finding, Report, Status
from checks.net.dns import DnsClient
from checks.net.services import Services
from checks.registry import Check
from checks.settings import Settings
from checks.target import Target

log = logging.getLogger(__name__)


def make_context(
    target: Target,
    settings: Settings,
    *,
    options: Options | None = None,
    services: Services | None = None,
) -> Context:
    """A fresh context (and DNS cache) for one report."""
    return Context(
        target=target,
        settings=settings,
        dns=DnsClient(settings),
        options=options or Options(),
        services=services or Services(),
    )


async def run_one(check: Check, ctx: Context, budget: float) -> CheckResult:
    started = time.monotonic()
    scope = "address" if ctx.target.is_address else "domain"
    if scope not in check.SCOPE:
        what = "an IP address" if ctx.target.is_address else "a domain"
        findings = [Finding(f"{check.ID}.not_applicable", Status.SKIP, f"Not run for {what}.")]
        return CheckResult(check.ID, check.TITLE, tuple(findings), 0)
    try:
        async with asyncio.timeout(budget):
            findings = await check.run(ctx)
    except TimeoutError:
        findings = [
            Finding(
                f"{check.ID}.timeout",
                Status.ERROR,
                f"The check did not finish within its {budget:g} s budget.",
                fix="Run it again; if it keeps timing out, a DNS or mail server is not answering.",
            )
        ]
    except Exception as exc:  # one buggy check must not sink the report
        log.exception("check %s crashed on %s", check.ID, ctx.domain)
        findings = [
            Finding(
                f"{check.ID}.crashed",
                Status.ERROR,
                f"Internal error in this check ({type(exc).__name__}); the others are unaffected.",
            )
        ]
    if not findings:
        findings = [Finding(f"{check.ID}.nothing", Status.SKIP, "Nothing to check.")]
    elapsed = round((time.monotonic() - started) * 1000)
    return CheckResult(check.ID, check.TITLE, tuple(findings), elapsed)


async def stream(checks: Sequence[Check], ctx: Context) -> AsyncIterator[CheckResult]:
    """Start every check now; yield each result as it completes, all within the report budget."""
    settings = ctx.settings
    deadline = time.monotonic() + settings.report_budget
    budget = min(settings.check_budget, settings.report_budget)
    tasks = {asyncio.ensure_future(run_one(c, ctx, budget)): c for c in checks}
    try:
        pending = set(tasks)
        while pending:
            remaining = deadline - time.monotonic()
            done, pending = await asyncio.wait(
                pending, timeout=max(remaining, 0), return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                yield task.result()
            if not done and pending:  # the report budget is spent: report the stragglers
                for task in pending:
                    task.cancel()
                for task in pending:
                    check = tasks[task]
                    yield CheckResult(
                        check.ID,
                        check.TITLE,
                        (
                            Finding(
                                f"{check.ID}.timeout",
                                Status.ERROR,
                                f"The report's {settings.report_budget:g} s budget ran out before this check finished.",
                            ),
                        ),
                        round(settings.report_budget * 1000),
                    )
                pending = set()
    finally:
        for task in tasks:
            task.cancel()
        for memo in ctx._memo.values():
            memo.cancel()


class ReportStream:
    """One report as it runs: iterate it for each result as it completes; then `report` is the whole.

    The `Report` is built here, once, for every face: results in display order, the run's duration,
    and the resolvers of the DNS client actually used (resolv.conf's when the settings name none),
    diagnosed (`checks.diagnosis`): its root cause, headline, and the findings that only repeat it.
    """

    def __init__(self, checks: Sequence[Check], ctx: Context) -> None:
        self._checks = checks
        self._ctx = ctx
        self._started = False
        self._report: Report | None = None

    def __aiter__(self) -> AsyncIterator[CheckResult]:
        if self._started:  # a second pass would run every check again
            raise RuntimeError("a report stream can be read only once")
        self._started = True
        return self._run()

    @property
    def report(self) -> Report:
        """The finished report; there is none until the stream has been read to the end."""
        if self._report is None:
            raise RuntimeError("the report is not finished: read the stream to the end first")
        return self._report

    async def _run(self) -> AsyncIterator[CheckResult]:
        started = time.monotonic()
        results: dict[str, CheckResult] = {}
        async for result in stream(self._checks, self._ctx):
            results[result.id] = result
            yield result
        target = self._ctx.target
        report = Report(
            domain=target.name,
            results=tuple(results[c.ID] for c in self._checks if c.ID in results),
            duration_ms=round((time.monotonic() - started) * 1000),
            display_name=target.unicode,
            resolvers=tuple(str(ns) for ns in self._ctx.dns.nameservers),
        )
        self._report = diagnose(report)


async def run_report(
    checks: Sequence[Check],
    ctx: Context,
    on_result: Callable[[CheckResult], None] | None = None,
) -> Report:
    """Run to completion and return the report; `on_result` sees each result as it arrives
    (progress output)."""
    running = ReportStream(checks, ctx)
    async for result in running:
        if on_result is not None:
            on_result(result)
    return running.report


def order(results: Sequence[CheckResult]) -> list[CheckResult]:
    """Results in the registry's display order (streams arrive in completion order)."""
    rank = {cid: i for i, cid in enumerate(registry.all_ids())}
    return sorted(results, key=lambda r: rank.get(r.id, len(rank)))
