"""A private PostgreSQL cluster on loopback for store tests, started and stopped by the tests.

Debian's `postgresql` package ships the server binaries under /usr/lib/postgresql/<major>/bin
(not on PATH). The cluster lives in a temporary directory owned by the `postgres` system user
(PostgreSQL refuses to run as root, so initdb and pg_ctl run as that user), listens only on
127.0.0.1 at a free port plus a Unix socket in that directory, trusts local connections, runs in
a time zone far from UTC (as a shared server may), and is stopped with `pg_ctl stop -m
immediate`: nothing in it needs to survive. The system's own cluster (the package creates
`main`, left stopped at install) is neither used nor touched.

Each test gets a database of its own (`fresh_database`), dropped after it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.fakes.realservers.processes import free_port, processes_where, reap

HOST = "127.0.0.1"
USER = "postgres"  # the system user Debian's package creates, and the cluster's superuser
TIMEZONE = "Pacific/Chatham"  # UTC+12:45 or +13:45: no accident of offsets can hide a bug
_READY_SECONDS = 20.0
_STOP_SECONDS = 10.0
_HBA = f"local all all trust\nhost all all {HOST}/32 trust\n"


def binaries() -> Path | None:
    """The newest /usr/lib/postgresql/<major>/bin that has initdb and pg_ctl."""
    found = [
        d
        for d in Path("/usr/lib/postgresql").glob("*/bin")
        if (d / "initdb").exists() and (d / "pg_ctl").exists()
    ]
    return max(found, key=lambda d: int(d.parent.name), default=None) if found else None


def postgres_missing() -> str | None:
    """Why a private cluster cannot run here, or None when it can."""
    if binaries() is None:
        return "PostgreSQL is not installed (apt-get install postgresql; .ci/apt-packages lists it)"
    if os.geteuid() != 0:
        return "the private cluster runs as the postgres user, which needs root to switch to"
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return "there is no postgres system user (the postgresql package creates it)"
    return None


class PostgresCluster:
    """initdb + pg_ctl in a temporary directory; `start()`, then `stop()` (returns leftovers)."""

    def __init__(self) -> None:
        bin_dir = binaries()
        assert bin_dir is not None, postgres_missing()
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="mxbot-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = 0
        self.start_seconds = 0.0  # initdb + start + first connection, for the report
        entry = pwd.getpwnam(USER)
        self._uid, self._gid = entry.pw_uid, entry.pw_gid
        os.chown(self.dir, self._uid, self._gid)
        self.dir.chmod(0o700)

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL the README documents (`postgresql+psycopg://…`)."""
        return f"postgresql+psycopg://{USER}@{HOST}:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"host={HOST} port={self.port} user={USER} dbname={database} connect_timeout=5"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 -- fixed binaries, arguments we build
            [str(self.bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
            cwd=self.dir,  # the postgres user cannot enter root's working directory
            user=self._uid,
            group=self._gid,
            extra_groups=[],
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(self.dir)},
        )

    def start(self) -> PostgresCluster:
        began = time.monotonic()
        done = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",  # a throwaway cluster: no fsync of the new files
            "--no-instructions",
        )
        if done.returncode != 0:
            self.stop()
            raise RuntimeError(f"initdb failed:\n{done.stdout}{done.stderr}")
        (self.data / "pg_hba.conf").write_text(_HBA)  # trust, and only local + 127.0.0.1
        for _ in range(3):  # a free port can be taken between the probe and the bind
            self.port = free_port(HOST)
            if self._pg_ctl_start():
                break
        else:
            logs = self.log_text()[-3000:]
            self.stop()
            raise RuntimeError(f"PostgreSQL did not start:\n{logs}")
        self._wait_ready()
        self.start_seconds = time.monotonic() - began
        return self

    def _pg_ctl_start(self) -> bool:
        options = " ".join(
            [
                f"-c listen_addresses={HOST}",
                f"-c port={self.port}",
                f"-c unix_socket_directories={self.dir}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c shared_buffers=16MB",
                "-c max_connections=50",
                "-c log_min_messages=warning",
                # Not UTC, as many servers are not: stored times must not depend on it.
                f"-c timezone={TIMEZONE}",
            ]
        )
        done = self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",  # pg_ctl waits for the server to accept connections, bounded by -t
            "-t",
            str(int(_READY_SECONDS)),
            "start",
            timeout=_READY_SECONDS + 10,
        )
        return done.returncode == 0

    def _wait_ready(self) -> None:
        """Bounded: a real query over TCP, as the stores will connect."""
        deadline = time.monotonic() + _READY_SECONDS
        while True:
            try:
                with psycopg.connect(self.dsn(), autocommit=True) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    logs = self.log_text()[-3000:]
                    self.stop()
                    raise RuntimeError(
                        f"PostgreSQL on port {self.port} never answered:\n{logs}"
                    ) from exc
                time.sleep(0.05)

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """The server stopped for the block (fast: every connection cut), then started again on
        the same port and data: what a database restart or a failover does to the app."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", timeout=30)
        try:
            yield
        finally:
            if not self._pg_ctl_start():
                raise RuntimeError(f"PostgreSQL did not start again:\n{self.log_text()[-3000:]}")
            self._wait_ready()

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> list[int]:
        """Stop the cluster; return the pids still alive afterwards (should be none), having
        killed them. The temporary directory is removed."""
        if self.postmaster_pid() is not None:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=30)
        # Every server process runs with the data directory as its working directory.
        deadline = time.monotonic() + _STOP_SECONDS
        while time.monotonic() < deadline and processes_where(self.dir):
            time.sleep(0.05)
        return reap(self.dir)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    @contextlib.contextmanager
    def fresh_database(self, name: str) -> Iterator[str]:
        """A new, empty database for one test; yields its SQLAlchemy URL, drops it afterwards
        (forcibly: a connection a test left open must not keep it)."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield self.url(name)
        finally:
            with psycopg.connect(self.dsn(), autocommit=True) as conn:
                drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                conn.execute(drop.format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One private cluster for the whole session (started on first use)."""
    why = postgres_missing()
    if why:
        pytest.skip(why)
    cluster = PostgresCluster().start()
    print(f"\nprivate PostgreSQL on {HOST}:{cluster.port} ready in {cluster.start_seconds:.2f} s")
    yield cluster
    assert cluster.stop() == [], "PostgreSQL processes outlived pg_ctl stop (killed now)"
