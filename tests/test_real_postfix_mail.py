"""The message diagnosis on what a real Postfix makes: a DKIM-signed message relayed through it
(Postfix adds its own Received field) and a genuine bounce (Postfix's own RFC 3464 DSN, after the
next hop refuses the message with Gmail's 5.7.26), each through the whole path: the CLI's parser,
the DNS test server, dkimpy, check_host(), the bounce reader and the live checks.

The next hops are aiosmtpd servers in the test's event loop: one refuses at end of data, one
keeps what it is given (the relayed message, and the bounce Postfix sends back to the sender).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP

from checks.message.diagnose import diagnose
from checks.message.result import Kind
from checks.model import Status
from checks.settings import Settings
from tests.checks.message.corpus import SENDER, message, sign, zone
from tests.checks.message.findings import section_codes
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.realservers.postfix import PostfixRelay, postfix_missing
from tests.fakes.realservers.processes import free_port
from tests.fakes.realservers.testca import TestCa

REFUSER = "127.0.0.36"  # the "Gmail" that refuses unauthenticated mail
KEEPER = "127.0.0.37"  # receiver.test's and sender.test's mail server: keeps everything
GMAIL_REFUSAL = (
    "550-5.7.26 Unauthenticated email from sender.test is not accepted due to\r\n"
    "550-5.7.26 domain's DMARC policy. Please contact the administrator of\r\n"
    "550 5.7.26 sender.test domain if this was a legitimate mail. - gsmtp"
)


class Mailbox:
    """What the keeper was given: (envelope sender, recipients, bytes), in arrival order."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.arrived = asyncio.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        async with self.arrived:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            self.arrived.notify_all()
        return "250 2.0.0 kept"

    async def wait_for(self, recipient: str, within: float = 20.0) -> bytes:
        def found() -> bytes | None:
            return next((m for _, rcpts, m in self.messages if recipient in rcpts), None)

        async with asyncio.timeout(within), self.arrived:
            await self.arrived.wait_for(lambda: found() is not None)
        data = found()
        assert data is not None
        return data


class Refuser:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return GMAIL_REFUSAL


@pytest.fixture(scope="module")
def ports() -> dict[str, int]:
    return {REFUSER: free_port(REFUSER), KEEPER: free_port(KEEPER)}


@pytest.fixture(scope="module")
def relay(ports: dict[str, int]) -> Iterator[PostfixRelay]:
    why = postfix_missing()
    if why:
        pytest.skip(why)
    routes = {
        "gmail.test": (REFUSER, ports[REFUSER]),
        "receiver.test": (KEEPER, ports[KEEPER]),
        SENDER: (KEEPER, ports[KEEPER]),
    }
    with tempfile.TemporaryDirectory(prefix="mxbot-relayca-") as tmp:
        lab = PostfixRelay(TestCa(Path(tmp)), routes).start()
        yield lab
        assert lab.stop() == [], "Postfix processes outlived the stop (killed now)"


@contextlib.asynccontextmanager
async def next_hops(ports: dict[str, int]) -> AsyncIterator[Mailbox]:
    loop = asyncio.get_running_loop()
    mailbox = Mailbox()
    servers = [
        await loop.create_server(
            lambda: SMTP(Refuser(), hostname="mx.gmail.test"), REFUSER, ports[REFUSER]
        ),
        await loop.create_server(
            lambda: SMTP(mailbox, hostname="mx.receiver.test"), KEEPER, ports[KEEPER]
        ),
    ]
    try:
        yield mailbox
    finally:
        for server in servers:
            server.close()


async def send(relay: PostfixRelay, data: bytes, recipient: str) -> None:
    service = relay.services["relay"]
    await aiosmtplib.send(
        data,
        sender=f"alice@{SENDER}",
        recipients=[recipient],
        hostname=service.host,
        port=service.port,
        local_hostname=f"mail.{SENDER}",
        start_tls=False,
        timeout=10,
    )


@pytest.fixture
def postfix_settings(dns_server: DnsTestServer, settings: Settings) -> Settings:
    # sender.test sends through this Postfix, which sees the client at 127.0.0.1
    dns_server.load_zone(
        zone().replace("ip4:192.0.2.25 -all", "ip4:192.0.2.25 ip4:127.0.0.0/8 -all"), "."
    )
    dns_server.add("1.0.0.127.in-addr.arpa.", "PTR", f"mail.{SENDER}.")
    dns_server.add(f"mail.{SENDER}.", "A", "127.0.0.1")
    return settings.with_overrides(dnsbl_zones=("bl.test",))


async def test_a_signed_message_relayed_by_postfix_verifies_end_to_end(
    relay: PostfixRelay, ports: dict[str, int], postfix_settings: Settings
) -> None:
    signed = sign(message(subject="Through a real Postfix"), "s2048")
    async with next_hops(ports) as mailbox:
        await send(relay, signed, "bob@receiver.test")
        received = await mailbox.wait_for("bob@receiver.test")

    report = await diagnose(received, postfix_settings)

    assert report.kind is Kind.MESSAGE
    assert b"(Postfix) with ESMTP id" in received
    assert ("dkim_verify.pass", Status.PASS) in section_codes(report, "dkim_verify")
    assert ("dmarc_align.pass", Status.PASS) in section_codes(report, "dmarc_align")
    assert report.hops[-1].by_host == "mx.example.test"
    assert report.hops[-1].from_ip == "127.0.0.1"


async def test_postfix_bounces_a_refused_message_and_the_dsn_is_explained(
    relay: PostfixRelay, ports: dict[str, int], postfix_settings: Settings
) -> None:
    async with next_hops(ports) as mailbox:
        await send(relay, message(subject="To Gmail"), "bob@gmail.test")
        bounce = await mailbox.wait_for(f"alice@{SENDER}")

    report = await diagnose(bounce, postfix_settings)

    assert b"multipart/report" in bounce
    assert report.kind is Kind.BOUNCE
    dsn = report.dsn
    assert dsn is not None
    assert dsn.style == "dsn"
    assert dsn.first is not None
    assert (dsn.first.recipient, dsn.first.action, dsn.first.status) == (
        "bob@gmail.test",
        "failed",
        "5.7.26",
    )
    assert dsn.first.remote_mta == REFUSER  # Postfix names the next hop it spoke to
    assert dsn.first.diagnostic.startswith("550-5.7.26 Unauthenticated email from sender.test")
    assert dsn.original_from == SENDER
    assert ("bounce.unauthenticated", Status.FAIL) in section_codes(report, "bounce")
    assert [r.domain for r in report.live] == [SENDER]
