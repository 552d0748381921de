"""`mxbot demo` as a newcomer runs it: the installed console script, from outside the checkout,
with no MXBOT_* settings and no resolver of its own; the lab's servers are the demo's own."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.lab import mail, zones

MXBOT = str(Path(sys.executable).parent / "mxbot")  # the console script pip installed
SOUND = [d for d in zones.lab() if d.sound]


def mxbot(*args: str, cwd: Path, wrap: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MXBOT_", "PYTHON"))}
    return subprocess.run(  # noqa: S603 -- our own CLI, fixed arguments
        [*wrap, MXBOT, "demo", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
        check=False,
    )


def can_serve_mail() -> bool:
    """Root, and nobody else (another lab) on the SMTP servers' addresses."""
    if os.geteuid() != 0:
        return False
    for address, _ in mail.SERVERS.values():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((address, mail.PORT))
            except OSError:
                return False
    return True


@dataclass(frozen=True)
class Demo:
    run: subprocess.CompletedProcess[str]
    seconds: float
    mail: bool
    rows: dict[str, tuple[str, str]]  # domain -> (verdict, code)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    with_mail = can_serve_mail()
    started = time.monotonic()
    run = mxbot(*(["--mail"] if with_mail else []), cwd=tmp_path_factory.mktemp("newcomer"))
    seconds = time.monotonic() - started
    rows: dict[str, tuple[str, str]] = {}
    for line in run.stdout.splitlines():
        if line.startswith("  ") and len(parts := line.split()) >= 2:
            assert parts[0] not in rows, f"{parts[0]} has two rows"
            rows[parts[0]] = (parts[1], parts[2] if parts[1] != "PASS" else "")
    return Demo(run, seconds, with_mail, rows)


def test_one_command_prints_one_row_per_lab_domain_quickly(demo: Demo) -> None:
    expected = {
        d.name.replace("xn--bcher-kva", "bücher")
        for d in zones.lab()
        if demo.mail or not d.needs_mail
    }

    assert demo.run.returncode == 0, demo.run.stdout + demo.run.stderr
    assert set(demo.rows) == expected
    assert "Every domain shows exactly the fault it was built to show" in demo.run.stdout
    assert demo.seconds < 45


def test_every_sound_domain_passes(demo: Demo) -> None:
    failing = {
        d.name: demo.rows[d.name]
        for d in SOUND
        if d.name in demo.rows and demo.rows[d.name][0] != "PASS"
    }

    assert "good.lab" in demo.rows
    assert failing == {}


@pytest.mark.parametrize(
    ("domain", "verdict", "code"),
    [
        ("nomx.lab", "WARN", "mx.implicit"),
        ("noptr.lab", "FAIL", "ptr.missing"),
        ("spf-toomany.lab", "FAIL", "spf.too_many_lookups"),
        ("dmarc-none.lab", "WARN", "dmarc.policy_none"),
        ("dkim-weak.lab", "WARN", "dkim.key_weak"),
        ("mtasts-nohost.lab", "FAIL", "mta_sts.policy_host_missing"),
        ("servfail.lab", "ERR", "mx.lookup_failed"),
    ],
)
def test_a_broken_domain_shows_its_fault(demo: Demo, domain: str, verdict: str, code: str) -> None:
    assert demo.rows[domain] == (verdict, code)


def test_every_broken_domain_is_explained_by_a_fault_it_was_built_to_show(demo: Demo) -> None:
    unexplained = {
        d.name: demo.rows[d.name]
        for d in zones.lab()
        if not d.sound and d.name in demo.rows and demo.rows[d.name][1] not in d.shows
    }

    assert unexplained == {}


def test_the_smtp_domains_run_with_mail_or_are_said_to_be_skipped(demo: Demo) -> None:
    if demo.mail:
        assert demo.rows["smtp-good.lab"] == ("PASS", "")
        assert demo.rows["smtp-expired.lab"] == ("FAIL", "tls.cert_expired")
        assert demo.rows["smtp-closed.lab"] == ("FAIL", "smtp.connection_refused")
    else:
        assert "smtp-good.lab" not in demo.rows
        assert "The 6 SMTP domains" in demo.run.stdout


def test_one_domain_gets_its_full_report(tmp_path: Path) -> None:
    run = mxbot("spf-plusall.lab", cwd=tmp_path)

    assert run.returncode == 1, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("Anyone can send mail as spf-plusall.lab")  # the root cause
    assert any(line.startswith("spf-plusall.lab: FAIL") for line in lines[:4])
    assert "Fix:" in run.stdout
    assert "resolver 127.0.0.1:" in run.stdout


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare(1)")
def test_without_root_mail_is_refused_with_the_reason(tmp_path: Path) -> None:
    # a user namespace: root inside, but no right to bind port 25 on this machine's network
    unprivileged = ("unshare", "--user", "--map-root-user")
    if subprocess.run([*unprivileged, "true"], check=False).returncode:  # noqa: S603
        pytest.skip("user namespaces are not available here")

    run = mxbot("--mail", "smtp-good.lab", cwd=tmp_path, wrap=unprivileged)

    assert run.returncode == 2
    assert "port 25 needs root" in run.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch.lab"], "not a lab domain"),
        (["smtp-good.lab"], "add --mail"),
        (["--resolver", "127.0.0.1", "good.lab"], "--resolver does not apply"),
    ],
)
def test_bad_usage_exits_2_and_says_why(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", *args]) == 2
    assert message in capsys.readouterr().err
