"""The DNS test server: the lab's authoritative server on 127.0.0.1 (`bot.lab.dnsserver`), under the
name the tests know it by."""

from __future__ import annotations

from bot.lab.dnsserver import Behaviour, DnsServer

DnsTestServer = DnsServer

__all__ = ["Behaviour", "DnsTestServer"]
