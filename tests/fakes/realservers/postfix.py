"""Real Debian servers on loopback for end-to-end tests: a private Postfix instance and an nginx.

Nothing here touches the system's own Postfix or nginx configuration: each lab lives in a temporary
directory of its own (config, queue, data, logs, certificates) and binds only the loopback addresses
named below, so a system instance left running by the package cannot interfere except on the
standard ports 25 and 443, which are used only when free (for the one CLI run).

- `PostfixLab`: one Postfix (`postfix -c DIR start`; stopped as `postfix stop` does, by SIGTERM to
  the pid in master.pid, minus the script's one-second sleeps), several smtpd services in master.cf,
  each with its own `syslog_name` so its log lines can be told apart: `good` (STARTTLS with a
  certificate from the test CA), `notls` (no STARTTLS), `expired` (STARTTLS with an expired
  certificate), and `std` (the good one again on 127.0.0.31:25) when that port is free. Logging goes
  to a file through postlogd (`maillog_file`), which the tests read: Postfix's own account of what
  the prober sent. Client name lookups are off (`smtpd_peername_lookup = no`), so Postfix never asks
  any resolver about the prober.
- `NginxLab`: nginx in the foreground (`daemon off`) with SNI virtual hosts for MTA-STS policies:
  a good one, one that redirects, one served with the wrong content type, and one whose policy
  does not name the MX host.

Readiness is read from /proc/net/tcp (the listening socket exists), not by connecting, so no probe
of ours shows up in Postfix's log except the tests' own. Teardown verifies no process is left.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trustme

POSTFIX_HOST = "127.0.0.31"  # good Postfix (and the standard port 25 for the CLI run)
NGINX_HOST = "127.0.0.32"  # nginx (and the standard port 443 for the CLI run)
NOTLS_HOST = "127.0.0.33"  # Postfix without STARTTLS
EXPIRED_HOST = "127.0.0.34"  # Postfix with an expired certificate
MX_NAME = "mx.example.test"
# MTA-STS test domains, one nginx virtual host each (mta-sts.<domain>).
STS_DOMAINS = ("example.test", "redirect.test", "wrongtype.test", "mismatch.test")
_READY_SECONDS = 10.0
_STOP_SECONDS = 8.0


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    path = Path("/usr/sbin") / name
    return str(path) if path.exists() else None


def postfix_missing() -> str | None:
    """Why Postfix tests cannot run here, or None when they can."""
    if _binary("postfix") is None:
        return "postfix is not installed (apt-get install postfix; .ci/apt-packages lists it)"
    if os.geteuid() != 0:
        return "a private Postfix instance must be started as root"
    return None


def nginx_missing() -> str | None:
    if _binary("nginx") is None:
        return "nginx is not installed (apt-get install nginx; .ci/apt-packages lists it)"
    return None


def port_free(host: str, port: int) -> bool:
    """Whether `host:port` can be bound right now (a wildcard listener on the port also blocks it)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def listening(host: str, port: int) -> bool:
    """A TCP socket listens on host:port (or on the wildcard address), per /proc/net/tcp."""
    wanted = {
        f"{socket.htonl(int.from_bytes(socket.inet_aton(h), 'big')):08X}:{port:04X}"
        for h in (host, "0.0.0.0")  # noqa: S104 -- a value to compare with, nothing binds it
    }
    with contextlib.suppress(OSError), open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A" and fields[1] in wanted:  # 0A: LISTEN
                return True
    return False


def wait_listening(endpoints: list[tuple[str, int]], alive: Callable[[], bool], what: str) -> None:
    """Bounded readiness loop; `alive` says whether the server still runs."""
    deadline = time.monotonic() + _READY_SECONDS
    while time.monotonic() < deadline:
        if all(listening(h, p) for h, p in endpoints):
            return
        if not alive():
            break
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on {endpoints} within {_READY_SECONDS:g} s")


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper, which can be slow in containers, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def reap(directory: Path) -> list[int]:
    """Kill whatever still runs in `directory`, remove it, and return those pids (ideally none)."""
    leftovers = processes_where(directory)
    for stray in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(stray, signal.SIGKILL)
    shutil.rmtree(directory, ignore_errors=True)
    return leftovers


def processes_where(directory: Path) -> list[int]:
    """Live pids whose working directory is inside `directory` (every Postfix daemon chdirs to
    its queue directory, so this finds the master and all its children)."""
    found = []
    root = str(directory)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd == root or cwd.startswith(root + "/"):
            found.append(int(entry.name))
    return found


def processes_in_group(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()  # after "(comm)": state ppid pgrp ...
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


@dataclass(frozen=True, slots=True)
class Service:
    """One smtpd listener: its Postfix log tag (`postfix/<tag>/smtpd`) and where it listens."""

    tag: str
    host: str
    port: int


class TestCa:
    """A trustme CA, its PEM file, and certificate files for the servers (good and expired)."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca = trustme.CA()
        self.ca_file = str(directory / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)

    def leaf(self, name: str, *hosts: str, expired: bool = False) -> tuple[Path, Path, bytes]:
        """Write `<name>.crt` and `<name>.key`; return their paths and the leaf's PEM."""
        if expired:
            now = dt.datetime.now(dt.UTC)
            cert = self.ca.issue_cert(
                *hosts, not_before=now - dt.timedelta(days=90), not_after=now - dt.timedelta(days=2)
            )
        else:
            cert = self.ca.issue_cert(*hosts)
        crt, key = self.directory / f"{name}.crt", self.directory / f"{name}.key"
        crt.write_bytes(b"".join(p.bytes() for p in cert.cert_chain_pems))
        key.write_bytes(cert.private_key_pem.bytes())
        key.chmod(0o600)
        return crt, key, cert.cert_chain_pems[0].bytes()


def _workdir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)  # Postfix and nginx workers drop root and must reach their files
    return path


class PostfixLab:
    """A private Postfix instance; `start()` then `stop()` (which reports leftover processes)."""

    def __init__(self, ca: TestCa, *, standard_port: bool) -> None:
        self.dir = _workdir("mxbot-postfix-")
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
        }
        if standard_port and port_free(POSTFIX_HOST, 25):
            self.services["std"] = Service("std", POSTFIX_HOST, 25)
        self.postfix = _binary("postfix") or "/usr/sbin/postfix"

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

    def start(self) -> PostfixLab:
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
        deadline = time.monotonic() + _STOP_SECONDS
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


# ---- nginx ------------------------------------------------------------------------------------

POLICIES = {
    "example.test": "version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 604800\n",
    "wrongtype.test": "version: STSv1\nmode: enforce\nmx: mx.wrongtype.test\nmax_age: 604800\n",
    "mismatch.test": "version: STSv1\nmode: enforce\nmx: mail.elsewhere.test\nmax_age: 604800\n",
}
REDIRECT_TO = "https://www.redirect.test/mta-sts.txt"


class NginxLab:
    """nginx serving MTA-STS policies on NGINX_HOST:port (and :443 when free and asked for)."""

    def __init__(self, ca: TestCa, *, standard_port: bool) -> None:
        self.dir = _workdir("mxbot-nginx-")
        self.port = free_port(NGINX_HOST)
        self.standard = standard_port and port_free(NGINX_HOST, 443)
        self.crt, self.key, _ = ca.leaf("nginx", *(f"mta-sts.{d}" for d in STS_DOMAINS))
        self.error_log = self.dir / "error.log"
        self.access_log = self.dir / "access.log"
        self.nginx = _binary("nginx") or "/usr/sbin/nginx"
        self.proc: subprocess.Popen[bytes] | None = None

    def _server(self, domain: str, body: str) -> str:
        listen = f"listen {NGINX_HOST}:{self.port} ssl;"
        if self.standard and domain == "example.test":
            listen += f" listen {NGINX_HOST}:443 ssl;"
        return f"server {{ {listen} server_name mta-sts.{domain}; {body} }}\n"

    def _conf(self) -> str:
        d = self.dir
        www = d / "www"
        servers = [
            self._server("example.test", f"root {www}/example.test;"),
            self._server(
                "redirect.test",
                f"location = /.well-known/mta-sts.txt {{ return 301 {REDIRECT_TO}; }}",
            ),
            self._server(
                "wrongtype.test",
                f"root {www}/wrongtype.test; types {{ }} default_type text/html;",
            ),
            self._server("mismatch.test", f"root {www}/mismatch.test;"),
        ]
        temps = " ".join(
            f"{kind}_temp_path {d}/temp-{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return f"""\
worker_processes 1;
pid {d}/nginx.pid;
error_log {self.error_log} info;
events {{ worker_connections 64; }}
http {{
  log_format sts '$ssl_server_name|$host|$request|$status|$sent_http_content_type';
  access_log {self.access_log} sts;
  {temps}
  types {{ text/plain txt; }}
  default_type application/octet-stream;
  ssl_certificate {self.crt};
  ssl_certificate_key {self.key};
  ssl_protocols TLSv1.2 TLSv1.3;
  {"  ".join(servers)}}}
"""

    def start(self) -> NginxLab:
        for domain, policy in POLICIES.items():
            folder = self.dir / "www" / domain / ".well-known"
            folder.mkdir(parents=True)
            (folder / "mta-sts.txt").write_text(policy)
            for p in (folder, folder.parent, folder.parent.parent):
                p.chmod(0o755)
        conf = self.dir / "nginx.conf"
        conf.write_text(self._conf())
        argv = [self.nginx, "-p", f"{self.dir}/", "-c", str(conf), "-e", str(self.error_log)]
        with (self.dir / "stderr").open("wb") as err:
            self.proc = subprocess.Popen(  # noqa: S603 -- fixed binary and arguments
                [*argv, "-g", "daemon off;"],
                stdout=err,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: teardown can verify it is gone
            )
        endpoints = [(NGINX_HOST, self.port)] + ([(NGINX_HOST, 443)] if self.standard else [])
        proc = self.proc
        try:
            wait_listening(endpoints, lambda: proc.poll() is None, "nginx")
        except RuntimeError as exc:
            logs = (self.dir / "stderr").read_text(errors="replace") + self._error_text()
            self.stop()
            raise RuntimeError(f"{exc}\n{logs[-3000:]}") from None
        return self

    def requests(self, mark: int = 0) -> list[tuple[str, ...]]:
        """(SNI, Host, request line, status, content type) per request logged after `mark`."""
        try:
            with self.access_log.open("rb") as f:
                f.seek(mark)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return []
        return [tuple(line.split("|")) for line in text.splitlines()]

    def access_mark(self) -> int:
        try:
            return self.access_log.stat().st_size
        except OSError:
            return 0

    def _error_text(self) -> str:
        try:
            return self.error_log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> list[int]:
        """Stop nginx (SIGQUIT: graceful); return its processes still alive afterwards (killed)."""
        leftovers: list[int] = []
        if self.proc is not None:
            pgid = self.proc.pid
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGQUIT)
                try:
                    self.proc.wait(timeout=_STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
            deadline = time.monotonic() + 2.0
            while processes_in_group(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
            leftovers = processes_in_group(pgid)
            for stray in leftovers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(stray, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)
        return leftovers
