"""Socket Mode end to end: `mxbot socket` as a real process, Slack as local stand-ins.

The process finds its websocket through `apps.connections.open` on the Web API stand-in
(`SLACK_API_URL`), is greeted with `hello`, receives envelopes shaped as Slack sends them and must
acknowledge each by its envelope id; reports go out through the Web API stand-in; checks run
against the DNS test server; SIGTERM ends it with a clean close of the websocket and exit code 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.slackapi import Call, SlackApi
from tests.fakes.socketmode import SocketModeServer

ZONE = """
@     300 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300
@     300 IN MX 10 mail
mail  300 IN A 127.0.0.1
"""


@dataclass
class Running:
    api: SlackApi
    link: SocketModeServer
    process: asyncio.subprocess.Process

    async def stop(self, within: float = 10.0) -> tuple[int, str]:
        """SIGTERM, then the exit code and everything the process wrote to stderr."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(within):
            _, err = await self.process.communicate()
        assert self.process.returncode is not None
        return self.process.returncode, err.decode(errors="replace")


def _mxbot() -> list[str]:
    script = Path(sys.executable).with_name("mxbot")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from bot.cli.main import main; sys.exit(main())"]


@asynccontextmanager
async def mxbot_socket(
    dns_server: DnsTestServer,
    tmp_path: Path,
    *,
    refuse: str = "",
    prepare: Callable[[SlackApi], None] | None = None,
) -> AsyncIterator[Running]:
    """`mxbot socket` against fresh stand-ins; `refuse` makes apps.connections.open fail so;
    `prepare` sets the Web API stand-in up before the process starts."""
    dns_server.load_zone(ZONE, "example.test")
    api = await SlackApi().start()
    link = await SocketModeServer(api).start()
    if refuse:
        api.errors["apps.connections.open"] = refuse
    if prepare is not None:
        prepare(api)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "SLACK_API_URL": api.base_url,
        "SLACK_APP_TOKEN": "xapp-test",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "MXBOT_RESOLVERS": dns_server.address,
        "MXBOT_TIMEOUT": "0.5",
        "MXBOT_ALLOW_PRIVATE": "1",
        "MXBOT_DATABASE_URL": f"sqlite:///{tmp_path}/mxbot.db",
    }
    process = await asyncio.create_subprocess_exec(
        *_mxbot(),
        "socket",
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield Running(api, link, process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await link.stop()
        await api.stop()


@pytest.fixture
async def socket_app(dns_server: DnsTestServer, tmp_path: Path) -> AsyncIterator[Running]:
    async with mxbot_socket(dns_server, tmp_path) as running:
        yield running


def buttons(call: Call) -> dict[str, str]:
    actions = [b for b in call.params.get("blocks", []) if b["type"] == "actions"]
    return {e["action_id"]: e["value"] for e in actions[0]["elements"]} if actions else {}


async def final_update(api: SlackApi, count: int = 1) -> Call:
    """The `count`th chat.update that carries a finished report (it has buttons)."""
    await api.wait_until(
        lambda: len([c for c in api.calls_to("chat.update") if buttons(c)]) >= count, within=10
    )
    return [c for c in api.calls_to("chat.update") if buttons(c)][count - 1]


async def test_mxbot_socket_answers_commands_mentions_and_buttons_then_closes_cleanly(
    socket_app: Running,
) -> None:
    api, link = socket_app.api, socket_app.link
    try:
        await link.wait_connected(within=20)  # includes the interpreter's start-up
    except TimeoutError:
        code, err = await socket_app.stop()
        pytest.fail(f"mxbot socket never connected (exit {code}):\n{err}")
    [opened] = api.calls_to("apps.connections.open")
    assert opened.headers["Authorization"] == "Bearer xapp-test"

    # a slash command: acked by its envelope id at once, then posted and updated
    command = await link.send_command("example.test mx")
    ack = await link.wait_ack(command)
    [placeholder] = await api.wait_for("chat.postMessage", within=10)
    report = await final_update(api)
    assert ack == {"envelope_id": command}
    assert placeholder.headers["Authorization"] == "Bearer xoxb-test"
    assert placeholder.params["text"] == "Checking example.test…"
    assert report.params["ts"] == "1700000000.000001"
    assert '"✅ MX"' in json.dumps(report.params["blocks"], ensure_ascii=False)  # passed: folded

    # junk: the usage reply travels in the ack's payload, nothing is posted
    junk = await link.send_command("spff example.test")
    junk_ack = await link.wait_ack(junk)
    assert "did you mean spf?" in junk_ack["payload"]["text"]

    # a mention in a thread is answered in that thread
    mention_event = {
        "type": "app_mention",
        "user": "U1",
        "text": "<@UBOT> check mx for <http://example.test|example.test>",
        "ts": "1700000100.000200",
        "thread_ts": "1700000100.000100",
        "channel": "C1",
        "event_ts": "1700000100.000200",
    }
    mention = await link.send_event(mention_event)
    assert await link.wait_ack(mention) == {"envelope_id": mention}
    in_thread = (await api.wait_for("chat.postMessage", 2, within=10))[1]
    await final_update(api, 2)
    assert in_thread.params["thread_ts"] == "1700000100.000100"

    # Slack redelivers an event it thinks timed out: acked, never run again
    retry = await link.send_event(mention_event, retry_attempt=1)
    assert await link.wait_ack(retry) == {"envelope_id": retry}

    # Slack asks for a fresh connection now and then: the app opens a new one and carries on
    await link.send_disconnect("refresh_requested")
    await link.wait_connected(2)

    # Details: the full findings go into the report's thread
    values = buttons(report)
    details = await link.send_click("mx_details", values["mx_details"], report.params["ts"])
    assert await link.wait_ack(details) == {"envelope_id": details}
    posted = (await api.wait_for("chat.postMessage", 3, within=10))[2]
    assert posted.params["thread_ts"] == report.params["ts"]
    assert "`mx.ok`" in json.dumps(posted.params["blocks"])

    # Re-run: a fresh report on the same command
    rerun = await link.send_click("mx_rerun", values["mx_rerun"], report.params["ts"])
    await link.wait_ack(rerun)
    await final_update(api, 3)

    envelopes = (command, junk, mention, retry, details, rerun)
    assert [len(link.acks_for(e)) for e in envelopes] == [1] * len(envelopes)
    assert len(api.calls_to("chat.postMessage")) == 4  # two reports, Details, the Re-run
    assert len(api.calls_to("apps.connections.open")) == 2
    assert api.calls_to("response_url") == []
    code, err = await socket_app.stop()
    assert code == 0, err
    assert await link.wait_closed(2) == [1000, 1000]  # close frames, never a dropped connection
    assert "Traceback" not in err
    assert "ERROR" not in err
    assert "Unclosed" not in err


async def test_a_refused_app_token_ends_mxbot_socket_with_a_clear_message(
    dns_server: DnsTestServer, tmp_path: Path
) -> None:
    async with mxbot_socket(dns_server, tmp_path, refuse="invalid_auth") as running:
        async with asyncio.timeout(20):
            _, err_bytes = await running.process.communicate()
        err = err_bytes.decode(errors="replace")

        assert running.process.returncode == 2, err
        assert "SLACK_APP_TOKEN" in err
        assert "invalid_auth" in err
        assert "xapp-test" not in err
        assert "Traceback" not in err
        assert "Unclosed" not in err
        assert running.link.connections == 0
