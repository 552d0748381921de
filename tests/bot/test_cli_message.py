"""`mxbot message` as a user runs it: a real process, the corpus's DNS on loopback, text, JSON and
Block Kit out; input that is not mail is a clear error with exit status 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from checks.message.parse import MAX_BYTES
from tests.checks.message.corpus import ROOT as CORPUS
from tests.checks.message.corpus import zone
from tests.fakes.dnsserver import DnsTestServer

ROOT = Path(__file__).resolve().parents[2]


def mxbot(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MXBOT_")}
    env["MXBOT_DNSBL_ZONES"] = "bl.test"
    return subprocess.run(  # noqa: S603 -- our own CLI, fixed arguments
        [sys.executable, "-m", "bot.cli.main", "message", *args],
        capture_output=True,
        input=stdin,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )


@pytest.fixture
def resolver(dns_server: DnsTestServer) -> list[str]:
    dns_server.load_zone(zone(), ".")
    return ["--resolver", dns_server.address, "--allow-private", "--timeout", "1"]


def test_json_has_the_documented_shape_for_a_bounce(resolver: list[str]) -> None:
    run = mxbot(str(CORPUS / "bounces/dsn-gmail-5.7.26.eml"), "--json", *resolver)

    out = json.loads(run.stdout)
    assert run.returncode == 1, run.stderr
    assert (out["kind"], out["status"]) == ("bounce", "fail")
    assert "5.7.26" in out["headline"]
    assert out["cause"] == {"section": "bounce", "code": "bounce.unauthenticated"}
    assert {"code", "status", "message", "fix", "evidence", "section"} <= set(out["findings"][0])
    dsn = out["dsn"]
    assert (dsn["action"], dsn["status"], dsn["remote_mta"]) == (
        "failed",
        "5.7.26",
        "gmail-smtp-in.l.google.com",
    )
    assert dsn["diagnostic"].startswith("550-5.7.26 Unauthenticated email")
    assert [r["recipient"] for r in dsn["recipients"]] == ["bob@gmail.com"]
    assert isinstance(out["hops"], list)
    assert [r["domain"] for r in out["live"]] == ["sender.test"]


def test_json_for_a_message_lists_hops_with_delays(resolver: list[str]) -> None:
    run = mxbot(str(CORPUS / "good.eml"), "--json", *resolver)

    out = json.loads(run.stdout)
    assert run.returncode == 0, run.stderr
    assert (out["kind"], out["dsn"], out["cause"]) == ("message", None, None)
    assert [h["by"] for h in out["hops"]] == [
        "mail.sender.test",
        "mx.receiver.test",
        "mail.receiver.test",
    ]
    assert [h["delay_seconds"] for h in out["hops"]] == [None, 3.0, 5.0]
    assert out["hops"][1] | {"time": None} == {
        "index": 2,
        "from": "mail.sender.test",
        "from_ip": "192.0.2.25",
        "by": "mx.receiver.test",
        "with": "ESMTPS",
        "tls": True,
        "time": None,
        "zone_missing": False,
        "delay_seconds": 3.0,
    }


def test_text_leads_with_the_cause_of_a_tampered_message(resolver: list[str]) -> None:
    run = mxbot(str(CORPUS / "tampered-body.eml"), *resolver)

    text = run.stdout.decode()
    assert run.returncode == 1
    assert text.startswith("The DKIM signature d=sender.test s=s2048 fails: body hash mismatch")
    assert "Hops (3, oldest first):" in text
    assert "Hello Bob" not in text  # the body is never echoed
    assert "\x1b[" not in text


def test_standard_input_is_read_with_a_dash(resolver: list[str]) -> None:
    run = mxbot("-", *resolver, stdin=(CORPUS / "bounces/postfix-pasted.txt").read_bytes())

    assert run.returncode == 1, run.stderr
    assert b"S3150" in run.stdout
    assert b"Checked live: 203.0.113.9" in run.stdout


def test_blocks_are_a_slack_message(resolver: list[str]) -> None:
    run = mxbot(str(CORPUS / "spoofed.eml"), "--blocks", *resolver)

    message = json.loads(run.stdout)
    assert message["blocks"][0]["type"] == "header"
    assert len(message["blocks"]) <= 50


@pytest.mark.parametrize(
    ("stdin", "words"),
    [
        (b"\x00\x01binary\x00" * 100, b"binary"),
        (b"Hi team, the deploy went fine.\n", b"not a message"),
        (b"", b"empty"),
    ],
)
def test_input_that_is_not_mail_exits_2_with_the_reason(
    resolver: list[str], stdin: bytes, words: bytes
) -> None:
    run = mxbot("-", *resolver, stdin=stdin)

    assert run.returncode == 2
    assert words in run.stderr
    assert b"Traceback" not in run.stderr


def test_a_file_over_the_limit_exits_2(resolver: list[str], tmp_path: Path) -> None:
    big = tmp_path / "big.eml"
    big.write_bytes(b"From: a@b.test\r\n\r\n" + b"x" * MAX_BYTES)

    run = mxbot(str(big), *resolver)

    assert run.returncode == 2
    assert b"MB" in run.stderr


def test_a_missing_file_exits_2(resolver: list[str]) -> None:
    run = mxbot("/nonexistent/message.eml", *resolver)

    assert run.returncode == 2
    assert b"cannot read" in run.stderr
