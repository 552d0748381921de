"""nginx on loopback serving MTA-STS policies, for end-to-end tests of the mta_sts check.

`NginxLab`: nginx in the foreground (`daemon off`) with SNI virtual hosts for MTA-STS policies:
a good one, one that redirects, one served with the wrong content type, and one whose policy
does not name the MX host.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time

from tests.fakes.realservers.processes import (
    STOP_SECONDS,
    binary,
    free_port,
    port_free,
    processes_in_group,
    wait_listening,
    workdir,
)
from tests.fakes.realservers.testca import TestCa

NGINX_HOST = "127.0.0.32"  # nginx (and the standard port 443 for the CLI run)
# MTA-STS test domains, one nginx virtual host each (mta-sts.<domain>).
STS_DOMAINS = ("example.test", "redirect.test", "wrongtype.test", "mismatch.test")


def nginx_missing() -> str | None:
    if binary("nginx") is None:
        return "nginx is not installed (apt-get install nginx; .ci/apt-packages lists it)"
    return None


POLICIES = {
    "example.test": "version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 604800\n",
    "wrongtype.test": "version: STSv1\nmode: enforce\nmx: mx.wrongtype.test\nmax_age: 604800\n",
    "mismatch.test": "version: STSv1\nmode: enforce\nmx: mail.elsewhere.test\nmax_age: 604800\n",
}
REDIRECT_TO = "https://www.redirect.test/mta-sts.txt"


class NginxLab:
    """nginx serving MTA-STS policies on NGINX_HOST:port (and :443 when free and asked for)."""

    def __init__(self, ca: TestCa, *, standard_port: bool) -> None:
        self.dir = workdir("mxbot-nginx-")
        self.port = free_port(NGINX_HOST)
        self.standard = standard_port and port_free(NGINX_HOST, 443)
        self.crt, self.key, _ = ca.leaf("nginx", *(f"mta-sts.{d}" for d in STS_DOMAINS))
        self.error_log = self.dir / "error.log"
        self.access_log = self.dir / "access.log"
        self.nginx = binary("nginx") or "/usr/sbin/nginx"
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
                    self.proc.wait(timeout=STOP_SECONDS)
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
