"""Benchmark: how fast does `/mx` acknowledge, compared with a plain `/healthz` on the same server?

Starts the real HTTP app on loopback (canned engine, local Web API stand-in), sends signed slash
commands, and reports the median ack latency, the median `/healthz` latency measured in the same
run, their ratio, and the time to the first `chat.update`. Slack's limit is 3 s; the aim is a ratio
that shows ack does no work beyond Bolt's own dispatch.

Usage: python bench/slack_ack.py [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.metrics import Metrics
from bot.settings import AppSettings, Secret
from bot.slack.app import build_app
from bot.slack.server import build_web_app, start_http
from bot.store.db import Store
from checks.model import CheckResult, Finding, Status
from tests.fakes.slackapi import SlackApi, signature
from tests.fakes.slackharness import Canned

SECRET = "bench-secret"
RESULT = CheckResult("mx", "MX", (Finding("mx.ok", Status.PASS, "fine"),), 1)
ENGINE = Canned(results=(RESULT,))


async def main(runs: int) -> None:
    api = await SlackApi().start()
    with tempfile.TemporaryDirectory() as tmp:
        config = AppSettings(
            bot_token=Secret("xoxb-bench"),
            signing_secret=Secret(SECRET),
            api_url=api.base_url,
            user_reports_per_minute=10_000,
            channel_reports_per_minute=10_000,
        )
        store = Store(f"sqlite:///{tmp}/bench.db")
        store.create_all()
        metrics = Metrics()
        app = build_app(config, engine=ENGINE, store=store, metrics=metrics, plan=ENGINE.plan)
        runner, port = await start_http(
            build_web_app(app, metrics=metrics, store=store), "127.0.0.1", 0
        )
        url = f"http://127.0.0.1:{port}"
        acks, health, first_update = [], [], []
        async with aiohttp.ClientSession() as http:
            for n in range(runs + 1):  # the first request pays Bolt's one-off auth.test
                started = time.perf_counter()
                async with http.get(f"{url}/healthz") as r:
                    await r.read()
                health.append(time.perf_counter() - started)
                updates = len(api.calls_to("chat.update"))
                body = urlencode(
                    {
                        "team_id": "T0001",
                        "channel_id": "C1",
                        "user_id": f"U{n}",
                        "command": "/mx",
                        "text": f"example{n}.com",
                        "response_url": api.response_url(),
                        "trigger_id": "t",
                    }
                )
                ts = str(int(time.time()))
                headers = {
                    "X-Slack-Request-Timestamp": ts,
                    "X-Slack-Signature": signature(SECRET, ts, body),
                    "Content-Type": "application/x-www-form-urlencoded",
                }
                started = time.perf_counter()
                async with http.post(f"{url}/slack/events", data=body, headers=headers) as r:
                    assert r.status == 200
                acks.append(time.perf_counter() - started)
                await api.wait_until(lambda u=updates: len(api.calls_to("chat.update")) > u)
                first_update.append(time.perf_counter() - started)
        await runner.cleanup()
        store.close()
    await api.stop()
    ack, ref, upd = (statistics.median(x[1:]) for x in (acks, health, first_update))
    print(f"runs: {runs}")
    print(f"/healthz median: {ref * 1000:.1f} ms (reference, same server, same run)")
    print(
        f"/mx ack median: {ack * 1000:.1f} ms, max {max(acks[1:]) * 1000:.1f} ms (Slack allows 3000 ms)"
    )
    print(f"ratio ack / healthz: {ack / ref:.1f}")
    print(f"first chat.update after the request: median {upd * 1000:.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    asyncio.run(main(parser.parse_args().runs))
