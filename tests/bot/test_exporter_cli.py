"""`mxbot exporter` and `mxbot serve` as real processes on a free loopback port: `/probe` answers
from the DNS test server, with no Slack token for the exporter, and SIGTERM ends them cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from tests.exposition import samples
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.mailservers.loopback import free_port
from tests.fakes.slackapi import SlackApi

TOKEN = "Bearer s3cret"
ZONE = """
@   300 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300
@   300 IN MX 10 mail
@   300 IN TXT "v=spf1 mx a -all"
mail 300 IN A 192.0.2.25
"""


def _mxbot() -> list[str]:
    script = Path(sys.executable).with_name("mxbot")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from bot.cli.main import main; sys.exit(main())"]


def environment(dns_server: DnsTestServer, home: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "MXBOT_RESOLVERS": dns_server.address,
        "MXBOT_TIMEOUT": "0.5",
        "MXBOT_ALLOW_PRIVATE": "1",
        "MXBOT_CONNECT_NETWORKS": "127.0.0.0/8",
        **extra,
    }


@asynccontextmanager
async def running(
    *argv: str, env: dict[str, str], port: int
) -> AsyncIterator[asyncio.subprocess.Process]:
    """The process, once `/healthz` answers on `port`; killed if a test leaves it running."""
    process = await asyncio.create_subprocess_exec(
        *_mxbot(),
        *argv,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await _until_healthy(process, port)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _until_healthy(process: asyncio.subprocess.Process, port: int) -> None:
    async with asyncio.timeout(15), aiohttp.ClientSession() as http:
        while process.returncode is None:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    _, err = await process.communicate()
    raise AssertionError(f"exited with {process.returncode}: {err.decode(errors='replace')}")


async def fetch(port: int, path: str, authorization: str = "") -> tuple[int, str]:
    headers = {"Authorization": authorization} if authorization else {}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}{path}", headers=headers) as response,
    ):
        return response.status, await response.text()


async def stop(process: asyncio.subprocess.Process) -> tuple[int, str, str]:
    process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(10):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode(errors="replace")


async def test_mxbot_exporter_probes_without_slack_and_stops_on_sigterm(
    dns_server: DnsTestServer, tmp_path: Path
) -> None:
    dns_server.load_zone(ZONE, "example.test")
    port = free_port()
    env = environment(dns_server, tmp_path, MXBOT_PROBE_TOKEN="s3cret")  # no SLACK_* at all

    async with running(
        "exporter", "--host", "127.0.0.1", "--port", str(port), env=env, port=port
    ) as process:
        status, text = await fetch(port, "/probe?target=example.test&checks=mx,spf", TOKEN)
        bad, reason = await fetch(port, "/probe?target=", TOKEN)
        refused, _ = await fetch(port, "/probe?target=example.test", "Bearer s3cre")
        _, own = await fetch(port, "/metrics")
        code, out, err = await stop(process)

    found = samples(text)
    assert status == 200
    assert found["mxbot_probe_success"] == {frozenset(): 1}
    assert found["mxbot_mx_hosts"] == {frozenset(): 1}
    assert found["mxbot_spf_dns_lookups"] == {frozenset(): 2}
    assert (bad, reason) == (400, "target: give a domain name, e-mail address or IP address\n")
    assert refused == 401
    assert "process_cpu_seconds_total" in samples(own)
    assert f"listening on 127.0.0.1:{port}" in out
    assert (code, err) == (0, "")


async def test_mxbot_serve_answers_probes_beside_the_slack_app(
    dns_server: DnsTestServer, tmp_path: Path
) -> None:
    dns_server.load_zone(ZONE, "example.test")
    api = await SlackApi().start()
    port = free_port()
    env = environment(
        dns_server,
        tmp_path,
        SLACK_API_URL=api.base_url,
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET="secret",
        MXBOT_DATABASE_URL=f"sqlite:///{tmp_path}/mxbot.db",
    )

    try:
        async with running(
            "serve", "--host", "127.0.0.1", "--port", str(port), env=env, port=port
        ) as process:
            status, text = await fetch(port, "/probe?target=example.test&checks=mx")
            _, app_metrics = await fetch(port, "/metrics")
            code, _, _ = await stop(process)
    finally:
        await api.stop()

    assert status == 200
    assert samples(text)["mxbot_mx_hosts"] == {frozenset(): 1}
    assert "mxbot_reports_queued" in samples(app_metrics)
    assert "mxbot_mx_hosts" not in samples(app_metrics)  # probe series stay in their request
    assert code == 0
