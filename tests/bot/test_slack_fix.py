"""`/mx fix` and `/mx dkim keygen` in Slack, through the app's real HTTP server: the bundle is
posted escaped and inside Block Kit's limits; keygen only points at the CLI."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import Block

from bot.render import blocks, fix
from bot.slack.engine_binding import bind_engine
from checks import mx
from checks.bundle.assemble import assemble
from checks.model import CheckResult, Finding, Record, Report, Status
from checks.registry import Check
from checks.settings import Settings
from checks.spf import check as spf
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.slackharness import HOSTILE, Canned, MakeHarness, blocks_text, result

BROKEN = (
    result("mx", Status.PASS, "2 MX records.", evidence=("10 mx1.example.com",)),
    result(
        "spf",
        Status.FAIL,
        f"The SPF record says {HOSTILE}.",
        record=Record("example.com.", "TXT", '"v=spf1 mx -all"'),
        evidence=(f"v=spf1 {HOSTILE} -all",),
    ),
)


def valid(message: dict[str, Any]) -> None:
    """Slack's own validators, plus the limits they do not check."""
    assert message["text"]
    assert len(message["text"]) <= blocks.MAX_FALLBACK
    assert len(message["blocks"]) <= blocks.MAX_BLOCKS
    for block in Block.parse_all(message["blocks"]):
        assert block is not None
        block.validate_json()
    for block in message["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= blocks.MAX_SECTION


async def test_fix_posts_a_placeholder_then_the_escaped_snippet(make_harness: MakeHarness) -> None:
    engine = Canned(results=BROKEN)
    h = await make_harness(run=engine, plan=engine.plan)

    status, body, _ = await h.command("fix example.com")
    [placeholder] = await h.api.wait_for("chat.postMessage")
    [final] = await h.api.wait_for("chat.update")

    assert status == 200
    assert body == ""
    assert engine.commands[0].kind == "fix"
    assert "fix bundle for example.com" in placeholder.params["text"]
    text = blocks_text(final)
    assert "```" in text
    assert 'example.com. 3600 IN TXT \\"v=spf1 mx -all\\"' in text
    assert "&lt;!channel&gt; &lt;@U123&gt;" in text  # the hostile evidence, in a comment
    assert "<!channel>" not in json.dumps(final.params)
    assert "<@U123>" not in json.dumps(final.params)
    assert "link_names" not in final.params
    valid(final.params)


async def test_dkim_keygen_in_slack_only_points_at_the_cli(make_harness: MakeHarness) -> None:
    h = await make_harness()

    status, body, _ = await h.command("dkim keygen example.com s1")

    assert status == 200
    reply = json.loads(body)
    assert "`mxbot dkim keygen --domain example.com --selector s1`" in reply["text"]
    assert "PRIVATE KEY" not in body
    assert h.api.chat_calls() == []


async def test_fix_of_an_address_gets_a_usage_reply(make_harness: MakeHarness) -> None:
    h = await make_harness()

    _, body, _ = await h.command("fix 203.0.113.7")

    assert "`/mx fix example.com`" in json.loads(body)["text"]
    assert h.api.chat_calls() == []


ZONE = """
@     300 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300
@     300 IN MX 10 mail
@     300 IN TXT "v=spf1 <!channel> +all"
mail  300 IN A 127.0.0.1
"""


async def test_real_engine_fix_bundle_is_escaped(
    make_harness: MakeHarness, dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.load_zone(ZONE, "example.test")

    def select(only: Any, *, is_address: bool) -> list[Check]:
        return [mx, spf]

    h = await make_harness(run=bind_engine(settings, select=select), engine=settings)

    await h.command("fix example.test")
    [final] = await h.api.wait_for("chat.update")

    text = blocks_text(final)
    assert "spf.syntax (fail)" in text
    assert "&lt;!channel&gt;" in text
    assert "<!channel>" not in json.dumps(final.params)
    valid(final.params)


def big_report(records: int) -> Report:
    findings = tuple(
        Finding(
            f"x.f{i}",
            Status.FAIL,
            "A long finding message " * 10 + "<!channel>",
            record=Record(f"h{i}.example.com.", "TXT", '"' + "v" * 250 + '"'),
        )
        for i in range(records)
    )
    return Report("example.com", (CheckResult("x", "X", findings, 1),), 10)


def test_a_huge_bundle_stays_inside_slacks_limits() -> None:
    message = fix.render_blocks(assemble(big_report(400)), command="fix example.com")

    valid(message)
    assert "mxbot fix example.com" in blocks_text_of(message)


def blocks_text_of(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)
