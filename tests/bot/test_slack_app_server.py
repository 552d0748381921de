"""The app's HTTP server itself: Slack's signatures checked, health and metrics, the OAuth install
pages, URL verification and SSL checks, and tokens and secrets kept out of the logs.
"""

from __future__ import annotations

import gzip
import json
import re
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from bot.settings import Secret
from tests.exposition import samples
from tests.fakes.slackharness import SECRET, MakeHarness, final_update


@pytest.mark.parametrize("how", ["unsigned", "bad signature", "stale"])
async def test_requests_that_are_not_from_slack_get_401_and_post_nothing(
    make_harness: MakeHarness, how: str
) -> None:
    h = await make_harness()
    forms: dict[str, dict[str, Any]] = {
        "unsigned": {"sign": False},
        "bad signature": {"secret": "not-the-secret"},
        "stale": {"timestamp": int(time.time()) - 6 * 60},
    }
    kw = forms[how]

    status, _, _ = await h.command("example.com", **kw)
    status_event, _, _ = await h.event(
        {
            "type": "app_mention",
            "user": "U1",
            "text": "<@UBOT> example.com",
            "ts": "1.1",
            "channel": "C1",
        },
        **kw,
    )
    # a signed request afterwards proves the server was listening: only it reaches Slack
    await h.command("help")

    assert (status, status_event) == (401, 401)
    assert h.api.chat_calls() == []


async def test_url_verification_challenge_is_echoed(make_harness: MakeHarness) -> None:
    h = await make_harness()
    body = json.dumps(
        {
            "token": "x",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )

    status, text, _ = await h.post(body, "application/json")

    assert status == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in text
    assert h.api.chat_calls() == []


async def test_ssl_check_is_answered_without_work(make_harness: MakeHarness) -> None:
    h = await make_harness()

    status, _, _ = await h.post(
        urlencode({"ssl_check": "1", "token": "x"}), "application/x-www-form-urlencoded"
    )

    assert status == 200
    assert h.api.chat_calls() == []


async def test_healthz_and_metrics(make_harness: MakeHarness) -> None:
    h = await make_harness()
    await h.command("example.com")
    await final_update(h.api)

    async with h.http.get(f"{h.url}/healthz") as health:
        health_text = await health.text()
    async with h.http.get(f"{h.url}/metrics") as metrics:
        exposition = samples(await metrics.text())

    assert (health.status, health_text) == (200, "ok\n")
    assert metrics.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert exposition["mxbot_reports_total"] == {frozenset({("status", "fail")}): 1}
    assert (
        exposition["mxbot_check_outcomes_total"][frozenset({("check", "spf"), ("status", "fail")})]
        == 1
    )
    assert exposition["mxbot_report_duration_seconds_count"] == {frozenset(): 1}
    assert exposition["mxbot_report_duration_seconds_bucket"][frozenset({("le", "+Inf")})] == 1
    assert exposition["mxbot_reports_running"] == {frozenset(): 0}
    assert exposition["process_resident_memory_bytes"][frozenset()] > 0
    assert "python_info" in exposition
    assert not [name for name in exposition if name.endswith("_created")]


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("", "text/plain; version=0.0.4; charset=utf-8"),
        ("text/plain", "text/plain; version=0.0.4; charset=utf-8"),
        (
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
    ],
    ids=["none", "text", "prometheus 2 and 3"],
)
async def test_metrics_speak_the_format_the_scraper_asks_for(
    make_harness: MakeHarness, accept: str, content_type: str
) -> None:
    h = await make_harness()
    headers = {"Accept": accept} if accept else {}

    async with h.http.get(f"{h.url}/metrics", headers=headers) as response:
        body = await response.text()

    assert response.headers["Content-Type"].startswith(content_type)
    assert "mxbot_reports_refused" in body
    assert body.endswith("# EOF\n") == content_type.startswith("application/openmetrics-text")


async def test_metrics_are_gzipped_when_the_scraper_accepts_it(make_harness: MakeHarness) -> None:
    h = await make_harness()

    async with h.http.get(
        f"{h.url}/metrics", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
    ) as response:
        body = await response.read()

    assert response.headers["Content-Encoding"] == "gzip"
    assert b"mxbot_reports_queued" in gzip.decompress(body)


async def test_tokens_and_the_signing_secret_never_reach_the_logs(
    make_harness: MakeHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")  # the most talkative setting, slack_sdk's request logging included
    h = await make_harness()
    h.api.errors["chat.postMessage"] = "invalid_auth"  # an API error path logs context too

    await h.command("example.com")
    await h.api.wait_for("response_url")
    await h.post("token=x&text=forged", "application/x-www-form-urlencoded", secret="wrong")

    assert caplog.text  # something was logged, so the absence below means something
    assert "xoxb-test-token" not in caplog.text
    assert SECRET not in caplog.text


# ---- multi-workspace OAuth ----------------------------------------------------------------------


# slack-sdk sends oauth.v2.access credentials with aiohttp.BasicAuth, which aiohttp 3.14 deprecates.
@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
async def test_oauth_install_keeps_the_installation_and_uses_its_token(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(bot_token=Secret(), client_id="111.222", client_secret=Secret("cs"))
    h.api.oauth_response = {
        "ok": True,
        "app_id": "A1",
        "authed_user": {"id": "U9"},
        "scope": "app_mentions:read,chat:write,commands",
        "token_type": "bot",
        "access_token": "xoxb-installed",
        "bot_user_id": "UBOT2",
        "team": {"id": "T0002", "name": "Two"},
        "enterprise": None,
        "is_enterprise_install": False,
    }

    async with h.http.get(f"{h.url}/slack/install", allow_redirects=False) as install:
        page = await install.text()
        cookie = install.cookies["slack-app-oauth-state"]
    state = re.search(r"state=([\w-]+)", page)
    assert state is not None
    # The state cookie is Secure (production is https); a browser on https sends it back.
    async with h.http.get(
        f"{h.url}/slack/oauth_redirect?code=c0de&state={state[1]}",
        headers={"Cookie": f"slack-app-oauth-state={cookie.value}"},
        allow_redirects=False,
    ) as callback:
        await callback.text()
    bot = await h.store.installation_store.async_find_bot(enterprise_id=None, team_id="T0002")
    await h.command("example.com", team="T0002")
    [posted] = await h.api.wait_for("chat.postMessage")
    await final_update(h.api)

    assert install.status == 200
    assert "client_id=111.222" in page
    assert "scope=app_mentions:read,chat:write,commands" in page
    assert callback.status == 200
    assert bot is not None
    assert bot.bot_token == "xoxb-installed"
    assert posted.headers["Authorization"] == "Bearer xoxb-installed"


async def test_single_workspace_mode_has_no_install_page(make_harness: MakeHarness) -> None:
    h = await make_harness()

    async with h.http.get(f"{h.url}/slack/install") as response:
        assert response.status == 404
