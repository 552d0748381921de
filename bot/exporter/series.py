"""One finished report as the series `/probe` answers with (pure: a `Report` in, metric families out).

The values are the report's: statuses as every face shows them (diagnosed), and the numbers the
checks measured (`checks.model.Fact`). A number that was not measured has no series: absent means
unknown, never zero. Labels carry only our own names (check ids, statuses) and validated host
names, addresses and zones (`bot.exporter.labels`), at most `MAX_LABELLED` per metric.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from bot.exporter import labels
from checks.model import Fact, Report, Status

# mxbot_check_status: alerting order, where a definite failure outranks "could not tell".
STATUS_VALUES: dict[Status, int] = {
    Status.SKIP: 0,
    Status.PASS: 0,
    Status.INFO: 0,
    Status.WARN: 1,
    Status.ERROR: 2,
    Status.FAIL: 3,
}
# Series per probe for a label taken from the target (hosts) or the settings (zones): a domain
# with 500 MX hosts still answers with a bounded exposition.
MAX_LABELLED = 32

# name -> HELP; also the list of probe metrics the shipped rules and dashboard may use.
HELP: dict[str, str] = {
    "mxbot_probe_success": "1 when the report found nothing failing (fail) and nothing it could "
    "not check (error), else 0.",
    "mxbot_probe_duration_seconds": "How long the probe's report took, in seconds.",
    "mxbot_check_status": "Status of each check that ran: 0 pass, info or skip; 1 warn; "
    "2 error (could not tell); 3 fail.",
    "mxbot_check_findings": "Findings of each check that ran, by status "
    "(skip, pass, info, warn, error, fail).",
    "mxbot_tls_cert_not_after_timestamp_seconds": "When the certificate an MX host presented on "
    "port 25 expires (notAfter), in Unix seconds; the soonest when its addresses differ.",
    "mxbot_tls_earliest_cert_expiry": "The soonest notAfter among the certificates the MX hosts "
    "presented on port 25, in Unix seconds.",
    "mxbot_dnsbl_listed": "Mail addresses of the target listed on the blocklist zone (0: none; "
    "policy listings such as the Spamhaus PBL not counted); absent when the zone could not answer.",
    "mxbot_spf_dns_lookups": "DNS lookups the SPF record costs a receiver, includes and redirects "
    "counted (RFC 7208 allows 10).",
    "mxbot_mx_hosts": "MX records the domain publishes (0 for none or a null MX).",
}


@dataclass(frozen=True, slots=True, eq=False)  # a registry keys its collectors by identity
class _Families:
    """A collector of families computed once (a registry asks `collect()` per exposition)."""

    families: tuple[Metric, ...]

    def collect(self) -> Iterable[Metric]:
        return self.families


def probe_registry(report: Report, seconds: float) -> CollectorRegistry:
    """A registry of its own for one probe (never the process-wide one)."""
    registry = CollectorRegistry()
    registry.register(_Families(tuple(families(report, seconds))))
    return registry


def families(report: Report, seconds: float) -> Iterator[Metric]:
    """Every probe metric that has a value, in `HELP` order."""
    failed = report.status in (Status.FAIL, Status.ERROR)
    yield _single("mxbot_probe_success", 0 if failed else 1)
    yield _single("mxbot_probe_duration_seconds", seconds)
    yield _labelled(
        "mxbot_check_status",
        ["check"],
        [((r.id,), STATUS_VALUES[r.status]) for r in report.results],
    )
    yield _labelled(
        "mxbot_check_findings",
        ["check", "status"],
        [
            ((r.id, status.value), sum(1 for f in r.findings if f.status is status))
            for r in report.results
            for status in Status
        ],
    )
    yield from _tls(_facts(report, "tls.not_after"))
    yield from _dnsbl(_facts(report, "dnsbl.listed"))
    yield from _optional("mxbot_spf_dns_lookups", _facts(report, "spf.lookups"))
    yield from _optional("mxbot_mx_hosts", _facts(report, "mx.hosts"))


def _facts(report: Report, name: str) -> list[Fact]:
    return [fact for r in report.results for fact in r.facts if fact.name == name]


def _tls(facts: Sequence[Fact]) -> Iterator[Metric]:
    if not facts:
        return
    soonest: dict[str, float] = {}
    for fact in sorted(facts, key=lambda f: f.value):
        host = labels.host(fact.subject)
        if host is not None:
            soonest.setdefault(host, fact.value)
    name = "mxbot_tls_cert_not_after_timestamp_seconds"
    samples = [((h,), v) for h, v in soonest.items()]  # soonest first: those are kept
    yield _labelled(name, ["host"], samples[:MAX_LABELLED])
    yield _single("mxbot_tls_earliest_cert_expiry", min(f.value for f in facts))


def _dnsbl(facts: Sequence[Fact]) -> Iterator[Metric]:
    if not facts:
        return
    zones: dict[str, float] = {}
    for fact in facts:
        zone = labels.dns_name(fact.subject)  # from the settings, and checked all the same
        if zone is not None:
            zones[zone] = max(zones.get(zone, 0), fact.value)
    samples = [((z,), v) for z, v in sorted(zones.items())]
    yield _labelled("mxbot_dnsbl_listed", ["zone"], samples[:MAX_LABELLED])


def _optional(name: str, facts: Sequence[Fact]) -> Iterator[Metric]:
    if facts:
        yield _single(name, facts[0].value)


def _single(name: str, value: float) -> Metric:
    return GaugeMetricFamily(name, HELP[name], value=value)


def _labelled(
    name: str, label_names: list[str], samples: Sequence[tuple[tuple[str, ...], float]]
) -> Metric:
    family = GaugeMetricFamily(name, HELP[name], labels=label_names)
    for label_values, value in samples:
        family.add_metric(list(label_values), value)
    return family
