"""The zone the DMARC test modules start from, and the DMARC check run over it."""

from __future__ import annotations

from checks.dmarc import check as dmarc
from checks.model import Finding
from tests.conftest import MakeContext

BASE = "@ 300 IN MX 10 mx.example.test.\nmx 300 IN A 192.0.2.10\n"


def zone(*records: str) -> str:
    return BASE + "".join(f"{r}\n" for r in records)


async def check(context_for: MakeContext, z: str, domain: str = "example.test") -> list[Finding]:
    ctx = await context_for(z, domain, origin="example.test")
    return await dmarc.run(ctx)


GOOD = '_dmarc 300 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.test"'
