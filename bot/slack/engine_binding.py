"""The engine seams for the Slack app: a callable from `Command` to a running report, one from
a pasted message's bytes to its diagnosis, one from a `live` command to its answer, and one from
a domain and records to a look at them (what "tell me when it's live" follows).

`bind_engine(settings)` builds the shared services once and returns the callable; tests pass a
canned engine instead, or the real one pointed at the DNS test server. `bind_live(settings)` is
`mxbot live`'s one look (`checks.live.survey`) for the command's records; `bind_look(settings)`
the same look for records named otherwise (a follow-up button's), and `wanted_from` checks those
names as the `live` grammar would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol

from bot.commands import Command
from bot.digest.followup import Look
from checks import registry
from checks.engine import ReportStream, make_context
from checks.live import records
from checks.live.result import LiveReport, Wanted
from checks.live.survey import survey
from checks.message.diagnose import diagnose
from checks.message.parse import MessageSyntaxError
from checks.message.result import MessageReport
from checks.model import CheckResult, Report
from checks.net.services import Services, build_services
from checks.registry import Check
from checks.settings import Settings

Select = Callable[..., list[Check]]  # registry.select's shape: (only, *, is_address)


class RunningReport(Protocol):
    """A report being run (`checks.engine.ReportStream`): each result as its check completes,
    then the finished `Report`, built by the engine so that every face shows the same one."""

    def __aiter__(self) -> AsyncIterator[CheckResult]: ...

    @property
    def report(self) -> Report: ...


class RunChecks(Protocol):
    """Start the checks a command asks for (a report command: help runs nothing)."""

    def __call__(self, command: Command) -> RunningReport: ...


Plan = Callable[[Command], Sequence[tuple[str, str]]]  # (id, title) of checks that will run


def registry_plan(command: Command, select: Select = registry.select) -> list[tuple[str, str]]:
    """The checks a command will run, in display order, for the ⏳ rows."""
    if command.target is None:
        return []
    checks = select(list(command.checks) or None, is_address=command.target.is_address)
    return [(c.ID, c.TITLE) for c in checks]


def bind_engine(
    settings: Settings,
    *,
    select: Select = registry.select,
    services: Services | None = None,
) -> RunChecks:
    """The real engine bound to `settings`, with process-wide services built once."""
    shared = build_services(settings) if services is None else services

    def run(command: Command) -> ReportStream:
        target = command.target
        if target is None:
            raise ValueError("a help command runs no checks")
        checks = select(list(command.checks) or None, is_address=target.is_address)
        ctx = make_context(target, settings, options=command.options, services=shared)
        return ReportStream(checks, ctx)

    return run


# A pasted message, headers or bounce in; its diagnosis out, or why it is not mail (a value: the
# Slack layer never sees the engine's exceptions).
DiagnoseMessage = Callable[[bytes], Awaitable[MessageReport | str]]


def bind_diagnose(settings: Settings, *, services: Services | None = None) -> DiagnoseMessage:
    """The message diagnosis bound to `settings`, sharing the process-wide services."""
    shared = build_services(settings) if services is None else services

    async def run(data: bytes) -> MessageReport | str:
        try:
            return await diagnose(data, settings, services=shared)
        except MessageSyntaxError as exc:
            return str(exc)

    return run


class RunLive(Protocol):
    """Answer a `live` command: is the change live at every name server and resolver?"""

    def __call__(self, command: Command) -> Awaitable[LiveReport]: ...


def bind_live(settings: Settings) -> RunLive:
    """`mxbot live`'s one look, bound to `settings`. Raises `records.RecordError` for a record type
    the grammar let through but DNS does not know."""

    async def run(command: Command) -> LiveReport:
        target = command.target
        if target is None or command.kind != "live":
            raise ValueError("only a live command with a domain")
        wanted: tuple[Wanted, ...]
        if command.record:
            wanted = (records.one(target.name, *command.record),)
        else:
            wanted = records.mail_set(target.name)
        return await survey(target.name, wanted, settings)

    return run


def bind_look(settings: Settings) -> Look:
    """One look at the records of a domain (`checks.live.survey`), bound to `settings`."""

    async def look(domain: str, wanted: Sequence[Wanted]) -> LiveReport:
        return await survey(domain, wanted, settings)

    return look


def wanted_from(domain: str, items: Sequence[tuple[str, str, str]]) -> tuple[Wanted, ...]:
    """(TYPE, NAME, KIND) items as records of `domain` to follow. Raises `records.RecordError` for
    a type DNS does not know, a name outside the domain, or a kind `mxbot live` does not tell."""
    found = []
    for rdtype, name, kind in items:
        wanted = records.one(domain, rdtype, name)
        if wanted.name != domain and not wanted.name.endswith("." + domain):
            raise records.RecordError(f"{name!r} is not a name in {domain}")
        if kind and (wanted.rdtype != "TXT" or kind not in records.KINDS):
            raise records.RecordError(f"{kind!r} is not a kind of TXT record")
        found.append(Wanted(wanted.name, wanted.rdtype, kind))
    return tuple(found)
