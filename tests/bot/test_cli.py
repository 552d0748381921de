"""`mxbot check` as a user runs it: a real process, real DNS over loopback, text and JSON out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.dnsserver import DnsTestServer

ROOT = Path(__file__).resolve().parents[2]
ZONE = """
@ 300 IN SOA ns1 host 1 7200 3600 1209600 300
@ 300 IN MX 10 mx
mx 300 IN A 192.0.2.25
bad 300 IN MX 10 nowhere.bad
"""


def mxbot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MXBOT_")}
    full_env.update(env or {})
    return subprocess.run(  # noqa: S603 -- our own CLI, fixed arguments
        [sys.executable, "-m", "bot.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=full_env,
        check=False,
    )


@pytest.fixture
def zone(dns_server: DnsTestServer) -> DnsTestServer:
    dns_server.load_zone(ZONE, "example.test")
    dns_server.add("25.2.0.192.in-addr.arpa", "PTR", "mx.example.test.")
    return dns_server


def test_json_report_has_the_documented_schema(zone: DnsTestServer) -> None:
    run = mxbot(
        "check", "ops@Example.TEST", "--only", "mx,ptr", "--json", "--resolver", zone.address
    )

    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["domain"] == "example.test"
    assert isinstance(report["duration_ms"], int)
    assert [c["id"] for c in report["checks"]] == ["mx", "ptr"]
    check = report["checks"][0]
    assert set(check) >= {"id", "title", "status", "duration_ms", "findings"}
    assert set(check["findings"][0]) >= {"code", "status", "message", "fix"}
    assert check["findings"][0]["code"] == "mx.ok"


def test_text_report_leads_with_the_summary_and_exits_1_on_failure(zone: DnsTestServer) -> None:
    run = mxbot(
        "check", "bad.example.test", "--only", "mx", "--resolver", zone.address, "--timeout", "1"
    )

    assert run.returncode == 1
    first = run.stdout.splitlines()[0]
    assert first.startswith("bad.example.test: FAIL")
    assert "\x1b[" not in run.stdout  # piped output is plain
    assert (
        "mx.target_no_address" not in run.stdout
    )  # codes are for machines; the text is for people
    assert "Fix:" in run.stdout


def test_text_follows_the_terminal_width_and_wraps_rather_than_cuts(zone: DnsTestServer) -> None:
    args = ("check", "bad.example.test", "--only", "mx", "--resolver", zone.address)

    narrow = mxbot(*args, env={"COLUMNS": "40"})
    wide = mxbot(*args, env={"COLUMNS": "200"})

    lines = narrow.stdout.splitlines()
    records = {i + 1 for i, line in enumerate(lines) if line.endswith("Record:")}
    assert records  # and a record to paste is never broken:
    assert all(len(line) <= 40 for i, line in enumerate(lines) if i not in records)
    assert max(len(line) for line in wide.stdout.splitlines()) > 100
    words = [" ".join(out.stdout.split("Took ")[0].split()) for out in (narrow, wide)]
    assert words[0] == words[1]  # the same words (the time taken aside)


def test_verbose_shows_every_check_and_only_debug_turns_on_debug_logs(zone: DnsTestServer) -> None:
    args = ("check", "example.test", "--only", "mx,ptr", "--resolver", zone.address)

    plain = mxbot(*args)
    verbose = mxbot(*args, "-v")
    debug = mxbot(*args, "--debug")

    assert "PASS  MX · PTR" in plain.stdout
    assert "Mail exchangers (MX) (" in verbose.stdout  # each check in full, with its time
    assert "Reverse DNS (PTR) (" in verbose.stdout
    assert "DEBUG" not in plain.stderr + verbose.stderr
    assert "DEBUG checks.net.dns" in debug.stderr
    assert debug.stdout.splitlines()[0] == plain.stdout.splitlines()[0]


def test_settings_come_from_the_environment_too(zone: DnsTestServer) -> None:
    run = mxbot(
        "check",
        "example.test",
        "--only",
        "mx",
        "--json",
        env={"MXBOT_RESOLVERS": zone.address, "MXBOT_TIMEOUT": "1"},
    )

    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["resolvers"] == [zone.address]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "not a domain"], "spaces"),
        (["check", "example.test", "--only", "nope"], "unknown check nope"),
        (["check", "example.test", "--resolver", "dns.google"], "give an IP address"),
        (["check", "example.test", "--timeout", "-1"], "between 0 and 600"),
    ],
)
def test_bad_usage_exits_2_with_a_specific_message(args: list[str], message: str) -> None:
    run = mxbot(*args)

    assert run.returncode == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_an_unreachable_resolver_is_an_error_not_a_hang(dns_server: DnsTestServer) -> None:
    dns_server.behaviour.drop_all = True

    run = mxbot(
        "check", "example.test", "--json", "--resolver", dns_server.address, "--timeout", "0.2"
    )

    assert run.returncode == 1
    report = json.loads(run.stdout)
    assert report["checks"][0]["status"] == "error"
