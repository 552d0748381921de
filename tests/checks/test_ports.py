"""The opt-in ports check end to end: submission and mailbox ports found from SRV records or the
usual names, probed on loopback."""

from __future__ import annotations

from checks import ports, registry
from checks.model import Status
from checks.net.probe.prober import SmtpProber
from checks.net.services import Services
from checks.settings import Settings
from tests.checks.smtp_setup import ZONE, context, pki
from tests.fakes.dnsserver import DnsTestServer
from tests.fakes.mailservers.imap_pop3 import imap
from tests.fakes.mailservers.loopback import Loopback, free_port
from tests.fakes.mailservers.pki import Pki
from tests.fakes.mailservers.smtp import aiosmtpd_server
from tests.findings import code_set

__all__ = ["pki"]  # the module-scoped test CA fixture


async def test_client_ports_from_srv_and_usual_names(
    dns_server: DnsTestServer, settings: Settings, pki: Pki
) -> None:
    zone = ZONE + (
        "_imaps._tcp 300 IN SRV 0 1 993 imap.example.test.\n"
        "_pop3s._tcp 300 IN SRV 0 0 0 .\n"
        "imap 300 IN A 127.0.0.1\n"
        "smtp 300 IN A 127.0.0.1\n"
    )
    closed = free_port()
    async with (
        Loopback(imap(pki.context(pki.good), implicit=True)) as imaps,
        aiosmtpd_server(pki.context(pki.wrong_name)) as submission,
    ):
        ctx = context(dns_server, settings, pki, closed, zone=zone)
        mapping = {
            993: imaps.port,
            587: submission.port,
            465: closed,
            143: closed,
            110: closed,
            995: closed,
        }
        ctx.services = Services(smtp=SmtpProber(ctx.settings, ports=mapping, cache_seconds=0))

        found = await ports.run(ctx)

    got = code_set(found)
    assert ("ports.ok", Status.PASS) in got  # IMAPS via SRV
    assert ("ports.cert_name_mismatch", Status.FAIL) in got  # clients verify: a failure here
    assert ("ports.srv_missing", Status.INFO) in got  # submission found by name, not SRV
    assert ("ports.srv_not_offered", Status.INFO) in got
    assert ("ports.closed", Status.INFO) in got
    srv = next(f for f in found if f.code == "ports.srv_missing")
    assert srv.record is not None
    assert (
        srv.record.zone_line
        == "_submission._tcp.example.test. 3600 IN SRV 0 1 587 smtp.example.test."
    )


def test_ports_is_opt_in_and_the_transport_checks_are_registered() -> None:
    default = [c.ID for c in registry.select(None, is_address=False)]

    assert {"smtp", "tls", "dane"} <= set(default)
    assert "ports" not in default
    assert [c.ID for c in registry.select(["ports"], is_address=False)] == ["ports"]
    assert [
        c.ID for c in registry.select(None, is_address=True) if c.ID in {"smtp", "tls", "dane"}
    ] == ["smtp", "tls"]
