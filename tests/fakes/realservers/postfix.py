"""A private Postfix instance on loopback, for end-to-end tests of the smtp, tls and dane checks.

`PostfixLab`: one Postfix (`postfix -c DIR start`; stopped as `postfix stop` does, by SIGTERM to
the pid in master.pid, minus the script's one-second sleeps), several smtpd services in master.cf,
each with its own `syslog_name` so its log lines can be told apart: `good` (STARTTLS with a
certificate from the test CA), `notls` (no STARTTLS), `expired` (STARTTLS with an expired
certificate), `slow` (the good one, pausing GREETING_PAUSE seconds before its greeting), and `std`
(the good one again on 127.0.0.31:25) when that port is free. Logging goes
to a file through postlogd (`maillog_file`), which the tests read: Postfix's own account of what
the prober sent. Client name lookups are off (`smtpd_peername_lookup = no`), so Postfix never asks
any resolver about the prober.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from tests.fakes.realservers.processes import (
    STOP_SECONDS,
    alive,
    binary,
    free_port,
    port_free,
    processes_where,
    reap,
    wait_listening,
    workdir,
)
from tests.fakes.realservers.testca import TestCa

POSTFIX_HOST = "127.0.0.31"  # good Postfix (and the standard port 25 for the CLI run)
NOTLS_HOST = "127.0.0.33"  # Postfix without STARTTLS
EXPIRED_HOST = "127.0.0.34"  # Postfix with an expired certificate
SLOW_HOST = "127.0.0.35"  # Postfix that pauses before its greeting
GREETING_PAUSE = 2  # seconds (Postfix's `sleep` restriction takes whole seconds)
MX_NAME = "mx.example.test"


def postfix_missing() -> str | None:
    """Why Postfix tests cannot run here, or None when they can."""
    if binary("postfix") is None:
        return "postfix is not installed (apt-get install postfix; .ci/apt-packages lists it)"
    if os.geteuid() != 0:
        return "a private Postfix instance must be started as root"
    return None


@dataclass(frozen=True, slots=True)
class Service:
    """One smtpd listener: its Postfix log tag (`postfix/<tag>/smtpd`) and where it listens."""

    tag: str
    host: str
    port: int


class PostfixLab:
    """A private Postfix instance; `start()` then `stop()` (which reports leftover processes)."""

    def __init__(self, ca: TestCa, *, standard_port: bool) -> None:
        self.dir = workdir("mxbot-postfix-")
        self.conf = self.dir / "conf"
        self.queue = self.dir / "queue"
        self.log = self.dir / "maillog"
        self.ca = ca
        crt, key, self.good_pem = ca.leaf("postfix-good", MX_NAME)
        self.good_chain = self._chain_file("good", crt, key)
        crt, key, _ = ca.leaf("postfix-expired", MX_NAME, expired=True)
        self.expired_chain = self._chain_file("expired", crt, key)
        self.services = {
            "good": Service("good", POSTFIX_HOST, free_port(POSTFIX_HOST)),
            "notls": Service("notls", NOTLS_HOST, free_port(NOTLS_HOST)),
            "expired": Service("expired", EXPIRED_HOST, free_port(EXPIRED_HOST)),
            "slow": Service("slow", SLOW_HOST, free_port(SLOW_HOST)),
        }
        if standard_port and port_free(POSTFIX_HOST, 25):
            self.services["std"] = Service("std", POSTFIX_HOST, 25)
        self.postfix = binary("postfix") or "/usr/sbin/postfix"

    def _chain_file(self, name: str, crt: Path, key: Path) -> Path:
        """Postfix's `smtpd_tls_chain_files` format: key first, then the certificates."""
        path = self.dir / f"{name}-chain.pem"
        path.write_bytes(key.read_bytes() + crt.read_bytes())
        path.chmod(0o600)  # smtpd reads it as root, before it drops privileges
        return path

    def _main_cf(self) -> str:
        d = self.dir
        return f"""\
compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = {MX_NAME}
mydomain = example.test
myorigin = $myhostname
mydestination =
relay_domains =
local_recipient_maps =
mynetworks = 127.0.0.0/8
# All interfaces, but master.cf binds each smtpd to one loopback address and port (Postfix
# refuses a non-interface address such as 127.0.0.31 here).
inet_interfaces = all
inet_protocols = ipv4
alias_maps =
alias_database =
biff = no
smtpd_banner = $myhostname ESMTP Postfix
# Never ask a resolver about the client (the prober): hermetic, and no lookup delay.
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
maillog_file = {self.log}
maillog_file_prefixes = {d}
smtpd_tls_chain_files = {self.good_chain}
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
"""

    def _master_cf(self) -> str:
        lines = []
        for s in self.services.values():
            extra = ""
            if s.tag == "notls":
                extra = " -o smtpd_tls_security_level=none"
            elif s.tag == "expired":
                extra = f" -o smtpd_tls_chain_files={self.expired_chain}"
            elif s.tag == "slow":
                # The classic Postfix greeting pause: client restrictions evaluated at connect
                # (no delayed reject) sleep before the 220, then reject clients that talked first.
                extra = (
                    f" -o smtpd_client_restrictions=sleep,{GREETING_PAUSE},reject_unauth_pipelining"
                    " -o smtpd_delay_reject=no"
                )
            lines.append(
                f"{s.host}:{s.port} inet n - n - - smtpd -o syslog_name=postfix/{s.tag}{extra}"
            )
        lines += [
            "postlog unix-dgram n - n - 1 postlogd",
            "anvil unix - - n - 1 anvil",
            "tlsmgr unix - - n 1000? 1 tlsmgr",
            "proxymap unix - - n - - proxymap",
        ]
        return "\n".join(lines) + "\n"

    def _postfix(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 -- fixed binary and arguments
            [self.postfix, "-c", str(self.conf), command],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def start(self) -> Self:
        self.conf.mkdir()
        (self.conf / "main.cf").write_text(self._main_cf())
        (self.conf / "master.cf").write_text(self._master_cf())
        # Postfix re-reads a config file written within the last second until it is older (it
        # might be half-written): 2 s of sleeps at every start. Date the files back instead.
        past = time.time() - 60
        for name in ("main.cf", "master.cf"):
            os.utime(self.conf / name, (past, past))
        self.queue.mkdir(mode=0o755)  # `postfix` chdirs here before creating the rest
        data = self.dir / "data"
        data.mkdir(mode=0o700)
        shutil.chown(data, "postfix")
        done = self._postfix("start")
        if done.returncode != 0:
            logs = f"{done.stdout}{done.stderr}\n{self.log_text()[-3000:]}"
            self.stop()
            raise RuntimeError(f"postfix start failed:\n{logs}")
        endpoints = [(s.host, s.port) for s in self.services.values()]
        wait_listening(endpoints, lambda: self.master_pid() is not None, "postfix")
        return self

    def master_pid(self) -> int | None:
        """The pid in the master's pid file, if that process is alive."""
        try:
            pid = int((self.queue / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if alive(pid) else None

    def stop(self) -> list[int]:
        """Stop Postfix; return the pids that were still alive after a graceful stop (should be
        none), having killed them. The temporary directory is removed."""
        pid = self.master_pid()
        if pid is not None:
            # What `postfix stop` does (SIGTERM to the pid in master.pid: the master stops its
            # children and exits), without the script's fixed one-second sleeps.
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        while time.monotonic() < deadline and (
            self.master_pid() is not None or processes_where(self.dir)
        ):
            time.sleep(0.05)
        return reap(self.dir)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def log_mark(self) -> int:
        """Where the log ends now; pass it to `smtpd_lines` to see only what follows."""
        try:
            return self.log.stat().st_size
        except OSError:
            return 0

    def smtpd_lines(self, service: str, mark: int, *, disconnects: int) -> list[str]:
        """The log lines of one service's smtpd after `mark`, once `disconnects` sessions have
        ended (postlogd writes asynchronously; bounded wait)."""
        tag = f"postfix/{service}/smtpd["
        deadline = time.monotonic() + 5.0
        while True:
            with self.log.open("rb") as f:
                f.seek(mark)
                text = f.read().decode("utf-8", "replace")
            lines = [line for line in text.splitlines() if tag in line]
            ended = sum(" disconnect from " in line for line in lines)
            if ended >= disconnects or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)


# ---- a relaying Postfix: genuine received messages and genuine bounces ---------------------------

RELAY_HOST = "127.0.0.38"  # Postfix that relays everything from loopback by its transport map
# Its queue services, as Debian's master.cf lists them, none chrooted (the queue is private).
_QUEUE_SERVICES = """\
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
scache unix - - n - 1 scache
"""


class PostfixRelay(PostfixLab):
    """A Postfix that accepts mail from loopback on RELAY_HOST and delivers it by its transport
    map (domain -> [host]:port), with its own Received field; what it cannot deliver it bounces,
    as a real DSN, to the sender, by the same map. Stopped like `PostfixLab`."""

    def __init__(self, ca: TestCa, routes: dict[str, tuple[str, int]]) -> None:
        super().__init__(ca, standard_port=False)
        self.routes = routes
        self.services = {"relay": Service("relay", RELAY_HOST, free_port(RELAY_HOST))}

    def _main_cf(self) -> str:
        table = ", ".join(f"{d}=smtp:[{h}]:{p}" for d, (h, p) in self.routes.items())
        return (
            super()._main_cf()
            + f"""\
transport_maps = inline:{{ {table} }}
smtpd_relay_restrictions = permit_mynetworks, reject
smtp_tls_security_level = none
# Deliver at once and bounce at once: no backoff or batching to wait for in a test.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
bounce_queue_lifetime = 0
delay_warning_time = 0
notify_classes =
"""
        )

    def _master_cf(self) -> str:
        s = self.services["relay"]
        lines = [f"{s.host}:{s.port} inet n - n - - smtpd -o syslog_name=postfix/relay"]
        lines += [
            "postlog unix-dgram n - n - 1 postlogd",
            "anvil unix - - n - 1 anvil",
            "tlsmgr unix - - n 1000? 1 tlsmgr",
            "proxymap unix - - n - - proxymap",
        ]
        return "\n".join(lines) + "\n" + _QUEUE_SERVICES
