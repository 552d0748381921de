"""Hostile DNS content through the whole engine and every renderer: nothing crashes, nothing pings.

Hypothesis fills a zone with adversarial records (markup, control characters, huge and empty
strings, odd names, CNAME chains) and the full report runs against it over real DNS.
"""

from __future__ import annotations

import json
import string

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.render import blocks, jsonout, text
from checks import registry
from checks.engine import make_context, run_report
from checks.model import Status
from checks.settings import Settings
from checks.target import normalise
from tests.fakes.dnsserver import DnsTestServer

DOMAIN = "victim.test"
NASTY = [
    "<!channel>",
    "<!here>",
    "<@U123>",
    "<#C123>",
    "<http://evil.test|click>",
    "&amp;",
    "\x1b[31m",
    "\r\n",
    "\x00",
    "v=spf1",
    "v=DMARC1",
    "v=DKIM1",
    "v=STSv1",
    "v=TLSRPTv1",
    "v=BIMI1",
    "%{i}%{h}%{l}",
    "include:",
    "redirect=",
    "p=",
    "rua=mailto:",
    ";",
    "=",
    " ",
    "```",
    "*",
    "_",
    "~",
]
fragment = st.one_of(st.sampled_from(NASTY), st.text(max_size=40))
txt_value = st.lists(fragment, max_size=12).map("".join)
label = st.text(alphabet=string.ascii_lowercase + string.digits + "-_", min_size=1, max_size=20)
host = st.one_of(
    st.just("mx"),
    st.just("."),
    st.just("192.0.2.1"),
    label,
    st.lists(label, min_size=1, max_size=4).map(".".join),
)
OWNERS = [
    "@",
    "_dmarc",
    "_domainkey",
    "google._domainkey",
    "selector1._domainkey",
    "default._bimi",
    "_mta-sts",
    "_smtp._tls",
    "mx",
    "_25._tcp.mx",
]


def _txt_rdata(value: str) -> dns.rdata.Rdata:
    raw = value.encode("utf-8", "surrogatepass")
    chunks = [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]
    quoted = " ".join('"' + "".join(f"\\{b:03d}" for b in c) + '"' for c in chunks)
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, quoted)


@st.composite
def zones(draw: st.DrawFn) -> list[dns.rrset.RRset]:
    origin = dns.name.from_text(DOMAIN)
    out: list[dns.rrset.RRset] = []
    for owner in draw(st.lists(st.sampled_from(OWNERS), max_size=8, unique=True)):
        name = origin if owner == "@" else dns.name.from_text(owner, origin)
        values = draw(st.lists(txt_value, min_size=1, max_size=3))
        out.append(dns.rrset.from_rdata_list(name, 300, [_txt_rdata(v) for v in values]))
    for preference, target in draw(st.lists(st.tuples(st.integers(0, 65535), host), max_size=4)):
        try:
            exchange = dns.name.from_text(target, origin)
        except dns.exception.DNSException:
            continue
        rdata = dns.rdata.from_text("IN", "MX", f"{preference} {exchange.to_text()}")
        out.append(dns.rrset.from_rdata_list(origin, 300, [rdata]))
    if draw(st.booleans()):
        out.append(dns.rrset.from_text(f"mx.{DOMAIN}.", 300, "IN", "A", "192.0.2.25"))
    if draw(st.booleans()):
        out.append(dns.rrset.from_text(f"mx.{DOMAIN}.", 300, "IN", "CNAME", f"mx.{DOMAIN}."))
    return out


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=zones())
async def test_no_hostile_zone_crashes_a_check_or_a_renderer(
    records: list[dns.rrset.RRset], dns_server: DnsTestServer, settings: Settings
) -> None:
    dns_server.clear()
    dns_server.add(DOMAIN, "SOA", "ns.victim.test. host.victim.test. 1 2 3 4 5")
    for rrset in records:
        dns_server.add_rrset(rrset)
    ctx = make_context(normalise(DOMAIN), settings)  # no SMTP/HTTP services: DNS only

    report = await run_report(registry.select(None, is_address=False), ctx)

    crashed = [f.code for r in report.results for f in r.findings if f.code.endswith(".crashed")]
    assert crashed == []
    assert all(isinstance(r.status, Status) for r in report.results)
    rendered = json.dumps(blocks.render_report(report))
    for mention in ("<!channel>", "<!here>", "<@U123>", "<#C123>"):
        assert mention not in rendered
    assert "\x1b" not in text.render(report)
    json.dumps(jsonout.render(report))
