"""`mxbot live` as a user runs it: a real process, real name servers on loopback, text and JSON out,
and the exit status a script can act on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from checks.settings import Settings
from tests.checks.zone_servers import ZoneServers, zone

ROOT = Path(__file__).resolve().parents[2]
V1 = '@ 300 IN MX 10 mx\nmx 300 IN A 192.0.2.25\n@ 300 IN TXT "v=spf1 -all"\n'
V2 = V1.replace("v=spf1 -all", "v=spf1 mx -all")


def live(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MXBOT_")}
    env["MXBOT_CONNECT_NETWORKS"] = "127.0.0.0/8"
    resolver = str(settings.resolvers[0])
    return subprocess.run(  # noqa: S603 -- our own CLI, fixed arguments
        [
            sys.executable,
            "-m",
            "bot.cli.main",
            "live",
            *args,
            "--resolver",
            resolver,
            "--authoritative-port",
            str(settings.authoritative_port),
            "--allow-private",
            "--timeout",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )


def test_a_stale_server_is_named_and_the_exit_status_says_not_live(
    zone_servers: ZoneServers, settings: Settings
) -> None:
    zone_servers.sound(zone(2, extra=V2))
    zone_servers.serve("127.0.0.11", zone(1, extra=V1))

    run = live(settings, "Example.TEST", "TXT", "@")

    assert run.returncode == 1, run.stderr
    lines = run.stdout.splitlines()
    assert " ".join(lines[: lines.index("")]).startswith(
        "The name servers disagree on example.test TXT: ns1.example.test (127.0.0.11) still "
        'serves TXT "v=spf1 -all" (serial 1)'
    )
    assert any(
        line.split()
        == ["behind", "ns1.example.test", "(127.0.0.11)", "serial", "1", "TXT", '"v=spf1', '-all"']
        for line in lines
    )


def test_json_has_the_documented_schema_and_live_everywhere_exits_0(
    zone_servers: ZoneServers, settings: Settings
) -> None:
    zone_servers.sound(zone(2, extra=V2))

    run = live(settings, "example.test", "--json")

    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert (data["verdict"], data["live"], data["zone"], data["serial"]) == (
        "live",
        True,
        "example.test",
        2,
    )
    assert [(r["name"], r["type"], r["kind"]) for r in data["records"]] == [
        ("example.test", "MX", ""),
        ("example.test", "TXT", "SPF"),
        ("_dmarc.example.test", "TXT", "DMARC"),
        ("_mta-sts.example.test", "TXT", "MTA-STS"),
    ]
    spf = data["records"][1]
    assert spf["current"] == ['"v=spf1 mx -all"']
    assert {s["address"] for s in spf["servers"]} == {"127.0.0.11", "127.0.1.1"}
    assert set(spf["servers"][0]) == {
        "name",
        "address",
        "state",
        "serial",
        "answer",
        "ttl",
        "detail",
        "mark",
    }
    assert spf["resolvers"][0]["mark"] == "same"


def test_wait_on_a_live_change_returns_at_once(
    zone_servers: ZoneServers, settings: Settings
) -> None:
    zone_servers.sound(zone(2, extra=V2))

    run = live(settings, "example.test", "MX", "--wait")

    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "Live after 0 s (1 look)."
    as_json = json.loads(live(settings, "example.test", "MX", "--wait", "--json").stdout)
    assert as_json["waited"] | {"elapsed_s": 0} == {
        "live": True,
        "looks": 1,
        "elapsed_s": 0,
        "limit_s": 330.0,
    }


def test_bad_usage_exits_2_with_the_reason(settings: Settings) -> None:
    address = live(settings, "192.0.2.1")
    kind = live(settings, "example.test", "BOGUS", "www")
    extra = live(settings, "example.test", "TXT", "a", "b")

    assert [r.returncode for r in (address, kind, extra)] == [2, 2, 2]
    assert "is an IP address" in address.stderr
    assert "'BOGUS' is not a DNS record type" in kind.stderr
    assert "give one record" in extra.stderr
