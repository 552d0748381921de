"""What a digest remembers of each domain between runs, and its JSON form in the database (pure)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from checks.model import Status


@dataclass(frozen=True, slots=True)
class FindingState:
    """One finding as a digest remembers it: enough to say what broke or got fixed."""

    check: str
    code: str
    status: Status
    message: str = ""
    fix: str = ""  # a broken finding's fix, as the report gave it (digests before it have none)


@dataclass(frozen=True, slots=True)
class DomainSnapshot:
    """A domain's state at one digest run."""

    domain: str
    status: Status
    findings: tuple[FindingState, ...]
    display_name: str = ""
    headline: str = ""  # the report's diagnosis in one sentence: a broken domain's reason


Snapshot = Mapping[str, DomainSnapshot]  # by domain


@dataclass(frozen=True, slots=True)
class DigestRun:
    """A digest that ran: the next one says what changed since its snapshot."""

    id: int
    schedule_id: int
    ran_at: datetime
    status: Status
    posted: bool
    snapshot: Snapshot


def overall(snapshot: Snapshot) -> Status:
    """The worst status over every domain of a snapshot."""
    return Status.worst(d.status for d in snapshot.values())


def snapshot_to_json(snapshot: Snapshot) -> str:
    return json.dumps([_domain_json(d) for d in snapshot.values()], ensure_ascii=False)


def _domain_json(d: DomainSnapshot) -> dict[str, Any]:
    item: dict[str, Any] = {
        "domain": d.domain,
        "display_name": d.display_name,
        "status": d.status.value,
        "findings": [_finding_json(f) for f in d.findings],
    }
    if d.headline:  # only when diagnosed: a snapshot without one keeps the older rows' shape
        item["headline"] = d.headline
    return item


def _finding_json(f: FindingState) -> list[str]:
    item = [f.check, f.code, f.status.value, f.message]
    return [*item, f.fix] if f.fix else item  # only when there is one: older rows' shape


def snapshot_from_json(text: str) -> dict[str, DomainSnapshot]:
    data: list[dict[str, Any]] = json.loads(text)
    out: dict[str, DomainSnapshot] = {}
    for item in data:
        findings = tuple(
            FindingState(
                str(f[0]),
                str(f[1]),
                Status(f[2]),
                str(f[3]) if len(f) > 3 else "",
                str(f[4]) if len(f) > 4 else "",
            )
            for f in item.get("findings", ())
        )
        domain = str(item["domain"])
        out[domain] = DomainSnapshot(
            domain,
            Status(item["status"]),
            findings,
            str(item.get("display_name", "")),
            str(item.get("headline", "")),  # snapshots stored before the diagnosis have none
        )
    return out
