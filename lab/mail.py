"""Real SMTP servers for the lab on 127.0.0.2-6 port 25 (needs root), one situation each."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiosmtpd.smtp import SMTP

from tests.fakes.mailservers.hostile import tarpit
from tests.fakes.mailservers.pki import Pki
from tests.fakes.mailservers.smtp import SmtpScript

# host name (as in the certificates), address, what answers there
SERVERS = {
    "mx.example.test": "127.0.0.2",  # aiosmtpd, STARTTLS, good certificate
    "mx2.example.test": "127.0.0.3",  # aiosmtpd, STARTTLS, expired certificate
    "mail.example.test": "127.0.0.4",  # tarpit: accepts, never greets
    "smtp.example.test": "127.0.0.5",  # 554 greeting
    "imap.example.test": "127.0.0.6",  # aiosmtpd without STARTTLS
    "pop.example.test": "127.0.0.7",  # nothing listens: refused
}
DOMAINS = {
    "smtp-good.lab": "mx.example.test",
    "smtp-expired.lab": "mx2.example.test",
    "smtp-tarpit.lab": "mail.example.test",
    "smtp-554.lab": "smtp.example.test",
    "smtp-nostarttls.lab": "imap.example.test",
    "smtp-closed.lab": "pop.example.test",
}


class _Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


async def _serve(pki: Pki, ready: threading.Event) -> None:
    loop = asyncio.get_running_loop()

    def smtp(tls: Any, name: str) -> SMTP:
        return SMTP(_Sink(), hostname=name, ident="lab", tls_context=tls)

    await loop.create_server(
        lambda: smtp(pki.context(pki.good), "mx.example.test"), "127.0.0.2", 25
    )
    await loop.create_server(
        lambda: smtp(pki.context(pki.expired), "mx2.example.test"), "127.0.0.3", 25
    )
    await asyncio.start_server(tarpit, "127.0.0.4", 25)
    await asyncio.start_server(
        SmtpScript(banner=(b"554 5.7.1 mx.example.test no service here",)), "127.0.0.5", 25
    )
    await loop.create_server(lambda: smtp(None, "imap.example.test"), "127.0.0.6", 25)
    ready.set()
    await asyncio.Event().wait()


def start(pki: Pki) -> None:
    ready = threading.Event()
    threading.Thread(target=lambda: asyncio.run(_serve(pki, ready)), daemon=True).start()
    ready.wait(10)


def zone_lines() -> list[tuple[str, str, str]]:
    records = [(name, "A", address) for name, address in SERVERS.items()]
    records += [(d, "MX", f"10 {mx}.") for d, mx in DOMAINS.items()]
    records += [
        (".".join(reversed(a.split("."))) + ".in-addr.arpa", "PTR", f"{n}.")
        for n, a in SERVERS.items()
    ]
    return records
