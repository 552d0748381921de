"""`mxbot check` and `mxbot spf` as a user runs them: a real process, real DNS over loopback, text and JSON out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dns.name
import pytest

from bot.cli.main import main, parse_args, settings_from
from checks.net.probe.prober import SmtpProber
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
    assert check["findings"][0]["because"] == ""
    assert report["cause"] is None
    assert report["headline"] == "Mail for example.test should flow: nothing is failing."


def test_text_report_leads_with_the_diagnosis_and_exits_1_on_failure(zone: DnsTestServer) -> None:
    run = mxbot(
        "check", "bad.example.test", "--only", "mx", "--resolver", zone.address, "--timeout", "1"
    )

    assert run.returncode == 1
    lines = run.stdout.splitlines()
    summary = next(i for i, line in enumerate(lines) if line.startswith("bad.example.test: FAIL"))
    assert lines[0].startswith("Mail to bad.example.test cannot be delivered:")
    assert "" not in lines[:summary]  # the headline (wrapped to the width), then the summary
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


# ---- mxbot spf: the exit status says the result -------------------------------------------------
SPF_ZONE = """
@ 300 IN SOA ns1 host 1 7200 3600 1209600 300
pass 300 IN TXT "v=spf1 ip4:192.0.2.25 -all"
fail 300 IN TXT "v=spf1 -all"
softfail 300 IN TXT "v=spf1 ~all"
neutral 300 IN TXT "v=spf1 ?all"
none 300 IN TXT "just text"
permerror 300 IN TXT "v=spf1 -all"
permerror 300 IN TXT "v=spf1 ~all"
temperror 300 IN TXT "v=spf1 -all"
"""


@pytest.fixture
def spf_zone(dns_server: DnsTestServer) -> DnsTestServer:
    dns_server.load_zone(SPF_ZONE, "example.test")
    dns_server.behaviour.servfail.add(dns.name.from_text("temperror.example.test"))
    return dns_server


@pytest.mark.parametrize(
    ("result", "status"),
    [
        ("pass", 0),
        ("fail", 1),
        ("softfail", 1),
        ("neutral", 1),
        ("none", 1),
        ("permerror", 3),
        ("temperror", 4),
    ],
)
def test_mxbot_spf_exits_0_only_on_pass_and_tells_broken_and_failed_lookups_apart(
    spf_zone: DnsTestServer, capsys: pytest.CaptureFixture[str], result: str, status: int
) -> None:
    domain = f"{result}.example.test"

    code = main(["spf", domain, "--ip", "192.0.2.25", "--json", "--resolver", spf_zone.address])

    assert json.loads(capsys.readouterr().out)["result"] == result
    assert code == status


def test_mxbot_spf_exit_status_reaches_the_shell(spf_zone: DnsTestServer) -> None:
    failed = mxbot("spf", "fail.example.test", "--ip", "192.0.2.25", "--resolver", spf_zone.address)
    passed = mxbot("spf", "pass.example.test", "--ip", "192.0.2.25", "--resolver", spf_zone.address)
    usage = mxbot("spf", "pass.example.test", "--ip", "not-an-ip", "--resolver", spf_zone.address)

    assert (failed.returncode, passed.returncode, usage.returncode) == (1, 0, 2)
    assert failed.stdout.startswith("SPF fail for 192.0.2.25 at fail.example.test")
    assert "exit status: 0 pass" in mxbot("spf", "--help").stdout


# ---- --timeout is one step; the greeting wait and the budgets follow ---------------------------
def test_timeout_flag_is_one_step_and_the_budgets_still_hold_the_greeting_wait() -> None:
    args = parse_args(["check", "example.test", "--timeout", "10"])

    settings = settings_from(args, {})
    prober = SmtpProber(settings, helo_name="mxbot.test")

    assert settings.timeout == 10.0
    assert settings.greeting_timeout == 20.0  # not tied to --timeout
    assert prober.probe_budget == 20.0 + 3 * 10.0
    assert prober.probe_budget < settings.check_budget < settings.report_budget


def test_the_greeting_timeout_is_read_from_the_environment_by_the_cli() -> None:
    args = parse_args(["check", "example.test"])

    settings = settings_from(args, {"MXBOT_GREETING_TIMEOUT": "45"})

    assert settings.greeting_timeout == 45.0
    assert SmtpProber(settings, helo_name="mxbot.test").probe_budget == 45.0 + 3 * 3.0
