"""The monitoring config we ship (deploy/): Prometheus's own promtool validates the scrape config,
the alert rules and the dashboard's queries, and runs the rules' unit tests; every metric they use
is one mxbot exports.

promtool comes from Debian's `prometheus` package (.ci/apt-packages). Without it these tests skip
on a developer's machine and fail in CI (CI=true), so a missing install can never pass silently.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.registry import CollectorRegistry

from bot.exporter.exposition import process_registry
from bot.exporter.series import HELP
from bot.metrics import Metrics

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "mxbot.json"
# Names a query may use that come from Prometheus itself, not from mxbot.
PROMETHEUS_OWN = {"up"}
_METRIC = re.compile(r"\b(?:mxbot|process|python)_[a-z0-9_]+\b")
_SUFFIXES = {
    "counter": ("_total",),  # no `_created` series: bot.metrics turns them off
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
    "info": ("_info",),
}


def promtool(*args: str, cwd: Path = PROMETHEUS) -> str:
    tool = shutil.which("promtool")
    if tool is None:
        message = (
            "promtool is missing: install Debian's prometheus (bash .ci/install-system-packages)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(  # noqa: S603 -- promtool from PATH, our own files
        [tool, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def rules() -> list[dict[str, Any]]:
    data = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels() -> Iterator[dict[str, Any]]:
    for panel in dashboard()["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries() -> list[str]:
    return [t["expr"] for p in panels() for t in p.get("targets", [])]


def exported(registry: CollectorRegistry) -> set[str]:
    """Every series name `registry` can expose, samples or not yet (a labelled counter has none
    until it is first counted)."""
    return {
        family.name + suffix
        for family in registry.collect()
        for suffix in _SUFFIXES.get(family.type, ("",))
    }


def mxbot_metrics() -> set[str]:
    return set(HELP) | exported(Metrics().registry) | exported(process_registry())


def test_promtool_accepts_the_scrape_config_and_its_rule_files() -> None:
    out = promtool("check", "config", "prometheus.yml")

    assert "1 rule files found" in out


def test_promtool_accepts_the_alert_rules() -> None:
    out = promtool("check", "rules", "rules.yml")

    assert "SUCCESS: 5 rules found" in out


def test_the_alert_rules_pass_their_unit_tests() -> None:
    """rules.test.yml: three failing probes in a row, a certificate under 14 days, a new listing
    (and its end), SPF over 10 lookups, a probe that cannot be scraped."""
    assert "SUCCESS" in promtool("test", "rules", "rules.test.yml")


def test_the_shipped_alerts_are_the_ones_promised() -> None:
    assert {r["alert"] for r in rules()} == {
        "MxbotDomainFailing",
        "MxbotCertificateExpiringSoon",
        "MxbotNewlyBlocklisted",
        "MxbotSpfTooManyLookups",
        "MxbotProbeDown",
    }


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query as a recording rule (Grafana's variables given a value)."""
    recorded = [
        {"record": f"dashboard:query_{i}", "expr": expr.replace("$instance", ".*")}
        for i, expr in enumerate(dashboard_queries())
    ]
    (tmp_path / "dashboard.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]})
    )

    out = promtool("check", "rules", "dashboard.yml", cwd=tmp_path)

    assert f"SUCCESS: {len(recorded)} rules found" in out


def test_every_metric_the_rules_and_the_dashboard_use_is_one_mxbot_exports() -> None:
    queries = [
        re.sub(r'"[^"]*"', '""', q) for q in [r["expr"] for r in rules()] + dashboard_queries()
    ]
    used = {name for q in queries for name in _METRIC.findall(q)}  # label values left out
    bare = {w for q in queries for w in re.findall(r"\b(up)\{", q)}

    assert used - mxbot_metrics() == set()
    assert bare <= PROMETHEUS_OWN
    assert set(HELP) <= used  # the dashboard and rules are built on every probe metric


def test_the_scrape_config_probes_each_target_through_mxbot() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "mxbot")
    relabel = {
        (tuple(r.get("source_labels", ())), r["target_label"]) for r in job["relabel_configs"]
    }

    assert job["metrics_path"] == "/probe"
    assert {(("__address__",), "__param_target"), (("__param_target",), "instance")} <= relabel
    assert float(job["scrape_timeout"].removesuffix("s")) > 40.5  # the report budget and margin


def test_the_dashboard_panels_have_their_own_ids_and_fit_the_grid() -> None:
    ids = [p["id"] for p in panels()]
    grid = [p["gridPos"] for p in panels()]

    assert len(ids) == len(set(ids))
    assert all(g["x"] + g["w"] <= 24 for g in grid)
    assert all(
        t["datasource"]["uid"] == "${datasource}" for p in panels() for t in p.get("targets", [])
    )


def test_the_readme_lists_every_probe_metric() -> None:
    readme = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"^\| `(mxbot_[a-z_]+)` \|", readme, flags=re.MULTILINE))

    assert listed == set(HELP)
