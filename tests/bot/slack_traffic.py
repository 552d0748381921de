"""Helpers for the test_slack_traffic_* modules: an app_mention event as Slack sends it, and a
sentinel mention for tests of what must *not* happen.

Where something must not happen (a second run, a post), the test first sends a request that must
happen and waits for it, so the absence is observed after the app has had every chance to
misbehave.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.slackapi import BOT_USER, TEAM
from tests.fakes.slackharness import Canned, Harness, buttons, final_update


def mention(text: str, *, ts: str = "1700000000.000100", **extra: Any) -> dict[str, Any]:
    """An app_mention event with the fields Slack sends (blocks trimmed to one text element)."""
    return {
        "client_msg_id": "6a3f1c2e-0000-4000-8000-000000000001",
        "type": "app_mention",
        "text": text,
        "user": "U1",
        "ts": ts,
        "blocks": [
            {
                "type": "rich_text",
                "block_id": "b1",
                "elements": [
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
                ],
            }
        ],
        "team": TEAM,
        "channel": "C1",
        "event_ts": ts,
        **extra,
    }


async def sentinel(h: Harness, engine: Canned, *, event_id: str = "EvSentinel") -> None:
    """A mention that must run: once its report is final, anything that ran earlier has shown."""
    reports = len([c for c in h.api.calls_to("chat.update") if buttons(c)])
    await h.event(mention(f"<@{BOT_USER}> example.org", ts="1700000999.000999"), event_id=event_id)
    await final_update(h.api, reports + 1)
    assert engine.commands[-1].text == "example.org"
