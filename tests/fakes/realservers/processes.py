"""What the real-server labs share: finding binaries, free ports, readiness, and process cleanup.

Readiness is read from /proc/net/tcp (the listening socket exists), not by connecting, so no probe
of ours shows up in Postfix's log except the tests' own. Teardown verifies no process is left.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

_READY_SECONDS = 10.0
STOP_SECONDS = 8.0


def binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    path = Path("/usr/sbin") / name
    return str(path) if path.exists() else None


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


def workdir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)  # Postfix and nginx workers drop root and must reach their files
    return path
