"""One settings object for the engine, read from the environment in one place and overridable by flags."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

DEFAULT_TIMEOUT = 3.0
# How long the SMTP probe waits for a port-25 server's greeting (the 220), apart from the step
# timeout. RFC 5321 4.5.3.2.1 suggests senders wait 5 minutes for it, and real MTAs do (Postfix
# smtp_helo_timeout, Exim's command_timeout: 300 s), so a pause is never lost mail; but servers
# pause on purpose to catch spambots that talk first (Postfix postscreen's greet wait: 6 s;
# sendmail greet_pause: a few seconds; Exim `delay` ACLs: often 5-10 s). 20 s lets all of those
# pass with a note, and a server silent for longer is reported as a tarpit (a warning: senders
# still wait), while the rest of the report is not held up: every other check streams in first.
DEFAULT_GREETING_TIMEOUT = 20.0


def minimum_check_budget(timeout: float, greeting_timeout: float) -> float:
    """Room for one port-25 probe (the greeting wait and three steps) and one step more for the
    check's own lookups: the probe budget is the check budget less one step."""
    return greeting_timeout + 4 * timeout


def minimum_report_budget(check_budget: float, timeout: float) -> float:
    """The slowest check, and two steps more for the checks that wait on its probe."""
    return check_budget + 2 * timeout


DEFAULT_CHECK_BUDGET = minimum_check_budget(DEFAULT_TIMEOUT, DEFAULT_GREETING_TIMEOUT)  # 32 s
DEFAULT_REPORT_BUDGET = 40.0  # above minimum_report_budget(32, 3) = 38 s


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names it."""


@dataclass(frozen=True, slots=True)
class Nameserver:
    host: str
    port: int = 53

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_nameserver(text: str) -> Nameserver:
    """`host[:port]`, `[v6]:port` or a bare IPv6 address; the host must be an IP literal."""
    text = text.strip()
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise SettingsError(f"resolver {text!r}: expected [ipv6]:port")
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _port(port_text, text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise SettingsError(
            f"resolver {text!r}: give an IP address (a resolver cannot be found by name)"
        ) from None
    return Nameserver(host, port)


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise SettingsError(f"resolver {whole!r}: {text!r} is not a port number")
    return int(text)


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """Comma-separated CIDRs, e.g. '127.0.0.0/8,::1/128'."""
    out = []
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            out.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            raise SettingsError(
                f"MXBOT_CONNECT_NETWORKS: {part.strip()!r} is not a network"
            ) from None
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the engine needs to know about where and how long it may look."""

    resolvers: tuple[Nameserver, ...] = ()  # empty: the host's /etc/resolv.conf nameservers
    timeout: float = DEFAULT_TIMEOUT  # one DNS query or one network step
    dns_retries: int = (
        1  # one more try per resolver: a lost UDP packet is common, a dead server is not
    )
    check_budget: float = DEFAULT_CHECK_BUDGET  # one check, its lookups and connections included
    report_budget: float = DEFAULT_REPORT_BUDGET  # the whole report
    allow_private: bool = False  # connect to loopback/private addresses (labs and tests)
    # When set, connect only inside these networks: tests pin themselves to loopback this way.
    connect_networks: tuple[IPNetwork, ...] = ()
    ca_file: str | None = None
    dnsbl_zones: tuple[str, ...] = ()
    smtp_cache_seconds: float = (
        60.0  # one address's probe result is reused across reports this long
    )
    helo_name: str = ""  # the name given in EHLO; empty: this host's name
    # The port-25 greeting's own wait (never less than `timeout`); see DEFAULT_GREETING_TIMEOUT.
    greeting_timeout: float = DEFAULT_GREETING_TIMEOUT
    # One SMTP probe, all steps; None: the greeting wait and 3 steps, within the check budget.
    probe_budget: float | None = None
    # Where a zone's name servers are asked when asked directly (the `ns` check, `mxbot live`):
    # 53, as everywhere; a lab or a test serving its zones on loopback sets its own port.
    authoritative_port: int = 53
    # More resolvers `mxbot live` asks whether a change has reached them (besides `resolvers`).
    live_resolvers: tuple[Nameserver, ...] = ()

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the non-None values of `changes` applied (CLI flags win over env)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read MXBOT_* variables; the only place the engine looks at the environment."""
        resolvers = tuple(
            parse_nameserver(part)
            for part in env.get("MXBOT_RESOLVERS", "").split(",")
            if part.strip()
        )
        timeout = _float(env, "MXBOT_TIMEOUT", DEFAULT_TIMEOUT)
        greeting = _float(env, "MXBOT_GREETING_TIMEOUT", DEFAULT_GREETING_TIMEOUT)
        check_budget = _float(
            env,
            "MXBOT_CHECK_BUDGET",
            max(DEFAULT_CHECK_BUDGET, minimum_check_budget(timeout, greeting)),
        )
        return cls(
            resolvers=resolvers,
            timeout=timeout,
            greeting_timeout=greeting,
            check_budget=check_budget,
            report_budget=_float(
                env,
                "MXBOT_REPORT_BUDGET",
                max(DEFAULT_REPORT_BUDGET, minimum_report_budget(check_budget, timeout)),
            ),
            allow_private=env.get("MXBOT_ALLOW_PRIVATE", "").strip().lower()
            in {"1", "true", "yes", "on"},
            ca_file=env.get("MXBOT_CA_FILE") or None,
            connect_networks=parse_networks(env.get("MXBOT_CONNECT_NETWORKS", "")),
            dnsbl_zones=tuple(
                z.strip() for z in env.get("MXBOT_DNSBL_ZONES", "").split(",") if z.strip()
            ),
            helo_name=env.get("MXBOT_HELO_NAME", "").strip(),
            authoritative_port=_port_setting(env, "MXBOT_AUTHORITATIVE_PORT"),
            live_resolvers=tuple(
                parse_nameserver(part)
                for part in env.get("MXBOT_LIVE_RESOLVERS", "").split(",")
                if part.strip()
            ),
        )


def _port_setting(env: Mapping[str, str], name: str) -> int:
    raw = env.get(name, "").strip() or "53"
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SettingsError(f"{name}={raw!r} is not a port number")
    return int(raw)


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number of seconds") from None
    if not 0 < value <= 600:
        raise SettingsError(f"{name}={raw!r}: use a number of seconds between 0 and 600")
    return value
