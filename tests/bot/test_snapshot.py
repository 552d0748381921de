"""The snapshot codec: what a digest stores of each domain, read back unchanged."""

from __future__ import annotations

from bot.digest.snapshot import (
    DomainSnapshot,
    FindingState,
    overall,
    snapshot_from_json,
    snapshot_to_json,
)
from checks.model import Status

SNAP = {
    "xn--bcher-kva.example": DomainSnapshot(
        "xn--bcher-kva.example",
        Status.FAIL,
        (
            FindingState("spf", "spf.missing", Status.FAIL, "<!channel> bücher", "Publish one."),
            FindingState("mx", "mx.ok", Status.PASS),
        ),
        "bücher.example",
        "Mail from bücher.example may be junked or rejected: it publishes no SPF record.",
    ),
    "b.example": DomainSnapshot("b.example", Status.WARN, ()),
}


def test_the_stored_form_is_stable() -> None:
    # Rows already in the database hold exactly this shape: changing it loses every "since".
    assert snapshot_to_json({"b.example": SNAP["b.example"]}) == (
        '[{"domain": "b.example", "display_name": "", "status": "warn", "findings": []}]'
    )
    assert (
        '["spf", "spf.missing", "fail", "<!channel> bücher", "Publish one."]'
        in snapshot_to_json(SNAP)
    )
    assert '["mx", "mx.ok", "pass", ""]' in snapshot_to_json(SNAP)  # no fix: the older shape
    assert '"headline": "Mail from bücher.example may be junked' in snapshot_to_json(SNAP)


def test_snapshots_round_trip_in_order() -> None:
    back = snapshot_from_json(snapshot_to_json(SNAP))

    assert back == SNAP
    assert list(back) == list(SNAP)


def test_older_rows_without_messages_or_names_still_read() -> None:
    text = '[{"domain": "a.example", "status": "error", "findings": [["dns", "dns.timeout", "error"]]}]'

    assert snapshot_from_json(text) == {
        "a.example": DomainSnapshot(
            "a.example", Status.ERROR, (FindingState("dns", "dns.timeout", Status.ERROR),)
        )
    }


def test_a_snapshot_is_as_bad_as_its_worst_domain() -> None:
    assert overall(SNAP) is Status.FAIL
    assert overall({"b.example": SNAP["b.example"]}) is Status.WARN
