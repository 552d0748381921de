"""Hostile and broken requests to the app's real HTTP server: oversized and malformed bodies,
signatures outside five minutes and garbled timestamps, and any body becoming a Bolt request or a
ValueError.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.server import make_bolt_request
from tests.fakes.slackharness import Canned, MakeHarness, final_update


async def test_a_body_over_one_megabyte_is_refused_without_work(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness()
    form = urlencode({"command": "/mx", "text": "example.com", "padding": "x" * (1024 * 1024)})

    status, _, _ = await h.post(form, "application/x-www-form-urlencoded")
    status_after, _, _ = await h.command("help")

    assert status == 413
    assert status_after == 200
    assert h.api.chat_calls() == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (urlencode({"payload": "{not json"}), "application/x-www-form-urlencoded"),
        (urlencode({"payload": "[1, 2]"}), "application/x-www-form-urlencoded"),
        (urlencode({"payload": '"a string"'}), "application/x-www-form-urlencoded"),
        ('{"type": "event_callback", "event": ', "application/json"),
        ("[]", "application/json"),
        ("\xff\xfe", "application/json"),
    ],
    ids=[
        "payload-not-json",
        "payload-list",
        "payload-string",
        "json-cut",
        "json-list",
        "json-junk",
    ],
)
async def test_malformed_bodies_get_400_without_work(
    make_harness: MakeHarness, body: str, content_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    h = await make_harness()

    status, text, _ = await h.post(body, content_type)
    status_unsigned, _, _ = await h.post(body, content_type, sign=False)
    status_after, _, _ = await h.command("help")

    assert status == 400
    assert 400 <= status_unsigned < 500
    assert status_after == 200
    assert "Traceback" not in text
    assert h.api.chat_calls() == []
    assert "Error handling request" not in caplog.text


# The offset, not the timestamp, is the parameter: a timestamp taken at collection time drifts
# into the five-minute window while earlier tests run.
@pytest.mark.parametrize("offset", [-6 * 60, 6 * 60], ids=["old", "future"])
async def test_a_validly_signed_request_outside_five_minutes_gets_401(
    make_harness: MakeHarness, offset: int
) -> None:
    h = await make_harness()
    timestamp = int(time.time()) + offset

    status, _, _ = await h.command("example.com", timestamp=timestamp)
    status_click, _, _ = await h.click("mx_rerun", "example.com", "1.1", timestamp=timestamp)
    status_after, _, _ = await h.command("help")

    assert (status, status_click, status_after) == (401, 401, 200)
    assert h.api.chat_calls() == []


async def test_a_garbled_timestamp_header_gets_401(make_harness: MakeHarness) -> None:
    h = await make_harness()
    body = urlencode({"command": "/mx", "text": "example.com"})

    status, _, _ = await h.post(
        body,
        "application/x-www-form-urlencoded",
        sign=False,
        headers={"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"},
    )

    assert status == 401
    assert h.api.chat_calls() == []


async def test_a_command_whose_text_contains_payload_is_read_as_a_command(
    make_harness: MakeHarness,
) -> None:
    engine = Canned()
    h = await make_harness(run=engine, plan=engine.plan)

    status, _, _ = await h.command("payloadcms.com", fields={"user_name": "payload-admin"})
    await final_update(h.api)

    assert status == 200
    assert [c.text for c in engine.commands] == ["payloadcms.com"]


async def test_bytes_that_are_not_utf8_or_nest_too_deeply_get_400(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness()
    deep = '{"event": ' + "[" * 100_000 + "]" * 100_000 + "}"

    async with h.http.post(
        f"{h.url}/slack/events",
        data=b'{"type": "\xff\xfe"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    ) as response:
        status_bytes = response.status
    status_deep, _, _ = await h.post(deep, "application/json")
    status_after, _, _ = await h.command("help")

    assert (status_bytes, status_deep, status_after) == (400, 400, 200)
    assert h.api.chat_calls() == []


# ---- any body: a Bolt request or a ValueError, never anything else ------------------------------


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


_keys = st.sampled_from(
    [
        "type",
        "team",
        "team_id",
        "user",
        "user_id",
        "channel",
        "channel_id",
        "event",
        "enterprise",
        "enterprise_id",
        "authorizations",
        "is_enterprise_install",
        "actions",
        "container",
        "response_url",
        "view",
        "api_app_id",
        "payload",
        "command",
        "text",
    ]
)


_objects = st.dictionaries(_keys | st.text(max_size=6), _json, max_size=6)


@settings(max_examples=300, deadline=None)
@given(body=_objects, form=st.booleans())
def test_any_body_becomes_a_bolt_request_or_a_value_error(body: dict[str, Any], form: bool) -> None:
    raw = urlencode({"payload": json.dumps(body)}) if form else json.dumps(body)
    content_type = "application/x-www-form-urlencoded" if form else "application/json"
    try:
        request = make_bolt_request(raw, content_type, "", {"Content-Type": content_type})
    except ValueError:
        return
    assert request.body == body
