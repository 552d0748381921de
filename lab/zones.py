"""Deliberately broken domains for trying mxbot by hand (`python -m lab.run`), one failure each.

Addresses are documentation ranges, so nothing is ever connected to unless a test says so.
"""

from __future__ import annotations

import base64

import dns.name
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.dnsserver import DnsTestServer

SOA = "@ 300 IN SOA ns1 host 1 7200 3600 1209600 300\n"
GOOD_MAIL = """@ MX 10 mx1
@ MX 20 mx2
mx1 A 192.0.2.25
mx2 A 192.0.2.26
mx2 AAAA 2001:db8::26
"""
AUTH = """@ TXT "v=spf1 mx include:_spf.good.lab -all"
_dmarc TXT "v=DMARC1; p=reject; rua=mailto:dmarc@{d}"
_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tlsrpt@{d}"
"""


def txt(text: str) -> str:
    """A TXT value as zone text: split into 255-character strings."""
    return " ".join(f'"{text[i : i + 255]}"' for i in range(0, len(text), 255))


def dkim_value(bits: int) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return txt("v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode())


def domains() -> dict[str, str]:
    """domain -> zone text (relative to the domain)."""
    z: dict[str, str] = {}
    z["good.lab"] = (
        SOA + GOOD_MAIL + AUTH.format(d="good.lab") + '_spf TXT "v=spf1 ip4:198.51.100.0/24 -all"\n'
    )
    z["nomx.lab"] = SOA + "@ A 192.0.2.80\n"
    z["nomail.lab"] = SOA + '@ TXT "hello"\n'
    z["nullmx.lab"] = SOA + '@ MX 0 .\n@ TXT "v=spf1 -all"\n_dmarc TXT "v=DMARC1; p=reject"\n'
    z["cname-mx.lab"] = SOA + "@ MX 10 mail\nmail CNAME real\nreal A 192.0.2.30\n"
    z["ip-mx.lab"] = SOA + "@ MX 10 192.0.2.31.\n"
    z["dangling-mx.lab"] = SOA + "@ MX 10 gone.dangling-mx.lab.\n"
    z["private-mx.lab"] = SOA + "@ MX 10 mx\nmx A 10.1.2.3\n"
    z["noptr.lab"] = SOA + "@ MX 10 mx\nmx A 192.0.2.99\n"
    z["spf-toomany.lab"] = (
        SOA
        + GOOD_MAIL
        + "@ TXT "
        + txt("v=spf1 " + " ".join(f"include:i{i}.spf-toomany.lab" for i in range(11)) + " -all")
        + "\n"
        + "".join(f'i{i} TXT "v=spf1 ip4:198.51.100.{i} -all"\n' for i in range(11))
    )
    z["spf-plusall.lab"] = SOA + GOOD_MAIL + '@ TXT "v=spf1 +all"\n'
    z["spf-multiple.lab"] = SOA + GOOD_MAIL + '@ TXT "v=spf1 -all"\n@ TXT "v=spf1 mx -all"\n'
    z["spf-syntax.lab"] = SOA + GOOD_MAIL + '@ TXT "v=spf1 ip4:198.51.100.300 include -all"\n'
    z["spf-void.lab"] = (
        SOA
        + GOOD_MAIL
        + '@ TXT "v=spf1 a:x1.spf-void.lab a:x2.spf-void.lab a:x3.spf-void.lab -all"\n'
    )
    z["spf-loop.lab"] = (
        SOA
        + GOOD_MAIL
        + '@ TXT "v=spf1 include:a.spf-loop.lab -all"\na TXT "v=spf1 include:spf-loop.lab -all"\n'
    )
    z["dmarc-none.lab"] = (
        SOA + GOOD_MAIL + '@ TXT "v=spf1 mx -all"\n_dmarc TXT "v=DMARC1; p=none"\n'
    )
    z["dmarc-multi.lab"] = (
        SOA + GOOD_MAIL + '_dmarc TXT "v=DMARC1; p=reject"\n_dmarc TXT "v=DMARC1; p=none"\n'
    )
    z["dmarc-bad.lab"] = SOA + GOOD_MAIL + '_dmarc TXT "p=reject; v=DMARC1"\n'
    z["dmarc-ext.lab"] = (
        SOA + GOOD_MAIL + '_dmarc TXT "v=DMARC1; p=quarantine; rua=mailto:reports@collector.lab"\n'
    )
    z["dkim-weak.lab"] = SOA + GOOD_MAIL + f"selector1._domainkey TXT {dkim_value(1024)}\n"
    z["dkim-revoked.lab"] = SOA + GOOD_MAIL + 'google._domainkey TXT "v=DKIM1; k=rsa; p="\n'
    z["hostile.lab"] = (
        SOA
        + GOOD_MAIL
        + '@ TXT "v=spf1 <!channel> include:<@U123> -all"\n_dmarc TXT "v=DMARC1; p=none; rua=mailto:<!here>@x.lab"\n'
    )
    z["mtasts-mismatch.lab"] = (
        SOA + GOOD_MAIL + '_mta-sts TXT "v=STSv1; id=1"\nmta-sts A 192.0.2.44\n'
    )
    z["xn--bcher-kva.lab"] = SOA + GOOD_MAIL
    return z


def load(server: DnsTestServer) -> None:
    for domain, text in domains().items():
        server.load_zone(text, domain)
    server.load_zone(SOA, "collector.lab")
    server.add("25.2.0.192.in-addr.arpa", "PTR", "mx1.good.lab.")
    server.add("26.2.0.192.in-addr.arpa", "PTR", "mx2.good.lab.")
    server.add(
        "6.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
        "PTR",
        "mx2.good.lab.",
    )
    server.behaviour.servfail_zones.add(dns.name.from_text("servfail.lab"))
    server.behaviour.timeout_zones.add(dns.name.from_text("timeout.lab"))
