"""The lab: deliberately broken domains, one fault each, beside sound ones (`mxbot demo`).

Every domain is sound apart from the one fault it is built to show (`SHOWS`): it has mail hosts
with addresses and reverse DNS, an SPF record and a DMARC record with a report address, so its
report names that fault and nothing else. Mail host addresses are documentation ranges
(192.0.2.0/24, 2001:db8::/32), which the address check accepts in a lab (private addresses allowed)
and which lie outside the lab's loopback-only connection pin, so nothing is ever connected to; the
SMTP domains (`bot.lab.mail`) are the exception, on the lab's own servers on 127.0.0.2-7.

Every zone is delegated from the lab's own parent zone, `lab.`, to two name servers in different
networks, ns1.lab (127.0.0.1) and ns2.lab (127.0.1.1): the one DNS server the demo runs answers on
both addresses, for the parent and every zone alike, so the `ns` check finds each zone sound.

Longer than our other modules because it is data: about 120 zones and what each must show, kept
in one place so a domain's zone and its expected fault are read together.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

import dns.name
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from bot.lab import mail
from bot.lab.dnsserver import DnsServer

# The lab's name servers: two, in different /24s (RFC 2182), each answering for every lab zone.
NAME_SERVERS = {"ns1.lab": "127.0.0.1", "ns2.lab": "127.0.1.1"}
SOA = "@ 300 IN SOA ns1.lab. hostmaster.lab. 1 7200 3600 1209600 300\n" + "".join(
    f"@ 300 IN NS {name}.\n" for name in NAME_SERVERS
)
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


@dataclass(frozen=True, slots=True)
class LabDomain:
    """One lab domain: its zone, its section of the demo's table, and what it is built to show."""

    name: str
    zone: str  # zone text, names relative to `name`
    topic: str
    shows: tuple[str, ...] = ()  # finding codes (warn or worse) it is built to show; () = sound
    selectors: tuple[str, ...] = ()  # the DKIM selectors its report asks for
    needs_mail: bool = False  # its mail host is one of the lab's SMTP servers (`--mail`)

    @property
    def sound(self) -> bool:
        return not self.shows


def lab() -> tuple[LabDomain, ...]:
    """Every lab domain, in the demo's order: by topic, each sound example before its breakage."""
    topics = (
        ("Mail routing", _routing()),
        ("SPF", _spf_domains()),
        ("DMARC", _dmarc_domains()),
        ("DKIM", _dkim_domains()),
        ("Other records", _other()),
        ("Name servers", _ns_domains()),
        ("DNS failures", {d: SOA for d in DNS_FAILURES}),
        ("SMTP (--mail)", _smtp_domains()),
    )
    return tuple(
        LabDomain(
            name,
            zone,
            topic,
            SHOWS.get(name, ()),
            DKIM_SELECTORS.get(name, ()),
            needs_mail=name in mail.SERVERS,
        )
        for topic, zones in topics
        for name, zone in zones.items()
    )


def domains() -> dict[str, str]:
    """domain -> zone text (relative to the domain), for every domain served from zone data."""
    return {d.name: d.zone for d in lab() if d.name not in DNS_FAILURES}


def txt(text: str) -> str:
    """A TXT value as zone text: split into 255-character strings."""
    return " ".join(f'"{text[i : i + 255]}"' for i in range(0, len(text), 255))


def dkim_value(bits: int, tags: str = "v=DKIM1; k=rsa; ") -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return txt(tags + "p=" + base64.b64encode(der).decode())


def _ed25519() -> str:
    raw = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return base64.b64encode(raw).decode()


def _dmarc_reject(domain: str) -> str:
    return f'_dmarc TXT "v=DMARC1; p=reject; rua=mailto:dmarc@{domain}"\n'


def _sound(domain: str, spf: str = "v=spf1 mx -all") -> str:
    """SPF and DMARC as they should be, for a domain whose fault lies elsewhere."""
    return f'@ TXT "{spf}"\n' + _dmarc_reject(domain)


# For domains that receive no mail: reports go to good.lab, which authorises every lab domain.
_NO_MAIL_AUTH = '@ TXT "v=spf1 -all"\n_dmarc TXT "v=DMARC1; p=reject; rua=mailto:dmarc@good.lab"\n'


# ---- mail routing: MX, addresses, reverse DNS (RFC 5321 5.1, RFC 7505) ------------------------
def _routing() -> dict[str, str]:
    z: dict[str, str] = {}
    z["good.lab"] = (
        SOA
        + GOOD_MAIL
        + AUTH.format(d="good.lab")
        + '_spf TXT "v=spf1 ip4:198.51.100.0/24 -all"\n'
        + '*._report._dmarc TXT "v=DMARC1"\n'  # any domain may send its DMARC reports here
    )
    z["xn--bcher-kva.lab"] = SOA + GOOD_MAIL + _sound("xn--bcher-kva.lab")  # bücher.lab, an IDN
    z["nullmx.lab"] = SOA + "@ MX 0 .\n" + _NO_MAIL_AUTH  # takes no mail, and says so (RFC 7505)
    z["nomx.lab"] = SOA + "@ A 192.0.2.80\n" + _sound("nomx.lab", "v=spf1 a -all")
    z["nomail.lab"] = SOA + '@ TXT "hello"\n' + _NO_MAIL_AUTH
    z["cname-mx.lab"] = (
        SOA + "@ MX 10 mail\nmail CNAME real\nreal A 192.0.2.30\n" + _sound("cname-mx.lab")
    )
    z["ip-mx.lab"] = SOA + "@ MX 10 192.0.2.31.\n" + _NO_MAIL_AUTH
    z["dangling-mx.lab"] = SOA + "@ MX 10 gone.dangling-mx.lab.\n" + _NO_MAIL_AUTH
    z["private-mx.lab"] = SOA + "@ MX 10 mx\nmx A 10.1.2.3\n" + _sound("private-mx.lab")
    z["noptr.lab"] = SOA + "@ MX 10 mx\nmx A 192.0.2.99\n" + _sound("noptr.lab")
    return z


# ---- the first SPF and DMARC breakage, each beside a sound other half --------------------------
def _first_spf(domain: str, body: str) -> str:
    return SOA + GOOD_MAIL + _dmarc_reject(domain) + body


def _first_dmarc(body: str) -> str:
    return SOA + GOOD_MAIL + '@ TXT "v=spf1 mx -all"\n' + body


def _basic_spf() -> dict[str, str]:
    z: dict[str, str] = {}
    d = "spf-toomany.lab"
    z[d] = _first_spf(
        d,
        "@ TXT "
        + txt("v=spf1 " + " ".join(f"include:i{i}.{d}" for i in range(11)) + " -all")
        + "\n"
        + "".join(f'i{i} TXT "v=spf1 ip4:198.51.100.{i} -all"\n' for i in range(11)),
    )
    z["spf-plusall.lab"] = _first_spf("spf-plusall.lab", '@ TXT "v=spf1 +all"\n')
    z["spf-multiple.lab"] = _first_spf(
        "spf-multiple.lab", '@ TXT "v=spf1 -all"\n@ TXT "v=spf1 mx -all"\n'
    )
    z["spf-syntax.lab"] = _first_spf(
        "spf-syntax.lab", '@ TXT "v=spf1 ip4:198.51.100.300 include -all"\n'
    )
    d = "spf-void.lab"
    z[d] = _first_spf(d, f'@ TXT "v=spf1 a:x1.{d} a:x2.{d} a:x3.{d} -all"\n')
    d = "spf-loop.lab"
    z[d] = _first_spf(d, f'@ TXT "v=spf1 include:a.{d} -all"\na TXT "v=spf1 include:{d} -all"\n')
    return z


def _basic_dmarc() -> dict[str, str]:
    return {
        "dmarc-none.lab": _first_dmarc(
            '_dmarc TXT "v=DMARC1; p=none; rua=mailto:dmarc@dmarc-none.lab"\n'
        ),
        "dmarc-norua.lab": _first_dmarc('_dmarc TXT "v=DMARC1; p=reject"\n'),
        "dmarc-multi.lab": _first_dmarc(
            '_dmarc TXT "v=DMARC1; p=reject"\n_dmarc TXT "v=DMARC1; p=none"\n'
        ),
        "dmarc-bad.lab": _first_dmarc('_dmarc TXT "p=reject; v=DMARC1"\n'),
        "dmarc-ext.lab": _first_dmarc(
            '_dmarc TXT "v=DMARC1; p=quarantine; rua=mailto:reports@collector.lab"\n'
        ),
    }


# ---- everything else: Slack-hostile text, MTA-STS ---------------------------------------------
def _other() -> dict[str, str]:
    return {
        # Slack markup in records: shown escaped, never pinging anyone
        "hostile.lab": SOA
        + GOOD_MAIL
        + '@ TXT "v=spf1 <!channel> include:<@U123> -all"\n'
        + '_dmarc TXT "v=DMARC1; p=reject; rua=mailto:dmarc@hostile.lab; x=<!here>"\n',
        # MTA-STS announced, but the policy host mta-sts.<domain> does not exist
        "mtasts-nohost.lab": SOA
        + GOOD_MAIL
        + _sound("mtasts-nohost.lab")
        + '_mta-sts TXT "v=STSv1; id=1"\n',
    }


# ---- name servers (RFC 1034 4.2.2, RFC 2182, RFC 1912) -----------------------------------------
# A lab name server at an address nothing listens on: it never answers.
SILENT_SERVER = ("ns3.lab", "127.0.2.1")


def _ns_domains() -> dict[str, str]:
    def zone(domain: str, soa: str = SOA) -> str:
        return soa + GOOD_MAIL + _sound(domain)

    one = SOA.replace("@ 300 IN NS ns2.lab.\n", "")
    timers = SOA.replace("@ 300 IN SOA", "@ 86400 IN SOA").replace(
        " 1 7200 3600 1209600 300", " 1 172800 3600 172800 86400"
    )
    return {
        "ns-single.lab": zone("ns-single.lab", one),  # one server: down, and the zone is gone
        "ns-timers.lab": zone("ns-timers.lab", timers),  # refresh 2 days, expire 2 days, neg. 1 day
        "ns-noaddr.lab": zone("ns-noaddr.lab")
        + "@ NS ns3.ns-noaddr.lab.\n",  # a server no one finds
        "ns-silent.lab": zone("ns-silent.lab") + f"@ NS {SILENT_SERVER[0]}.\n",  # one never answers
    }


# ---- names whose DNS fails: the lab's server answers SERVFAIL, or never answers ----------------
DNS_FAILURES = ("servfail.lab", "timeout.lab")
# Domains whose reports wait out timeouts (the demo starts them first, to overlap the wait)
SLOW = (*DNS_FAILURES, "ns-silent.lab")


# ---- the SMTP servers of `bot.lab.mail`, one situation each -------------------------------------
def _smtp_domains() -> dict[str, str]:
    return {
        domain: SOA + f"@ MX 10 mx\nmx A {address}\n" + _sound(domain)
        for domain, (address, _) in mail.SERVERS.items()
    }


# ---- more SPF breakage (RFC 7208), each with a valid DMARC record so only SPF differs -----------
def _spf(domain: str, body: str) -> str:
    return SOA + GOOD_MAIL + f'_dmarc TXT "v=DMARC1; p=reject; rua=mailto:dmarc@{domain}"\n' + body


def _spf_domains() -> dict[str, str]:
    z: dict[str, str] = _basic_spf()
    d = "spf-nested.lab"  # 2 + 3 + 3 + 3 + 3 = 14 lookups through nested includes
    z[d] = _spf(
        d,
        f'@ TXT "v=spf1 include:n1.{d} include:n2.{d} -all"\n'
        f'n1 TXT "v=spf1 a:mx1.{d} a:mx2.{d} include:n3.{d} -all"\n'
        f'n2 TXT "v=spf1 a:mx1.{d} a:mx2.{d} include:n4.{d} -all"\n'
        f'n3 TXT "v=spf1 a:mx1.{d} a:mx2.{d} mx:{d} -all"\n'
        f'n4 TXT "v=spf1 a:mx1.{d} a:mx2.{d} mx:{d} -all"\n',
    )
    d = "spf-ten.lab"  # exactly 10 lookups: allowed
    z[d] = _spf(
        d,
        "@ TXT "
        + txt("v=spf1 " + " ".join(f"include:i{i}.{d}" for i in range(10)) + " -all")
        + "\n"
        + "".join(f'i{i} TXT "v=spf1 ip4:198.51.100.{i} -all"\n' for i in range(10)),
    )
    d = "spf-void2.lab"  # exactly 2 void lookups: allowed
    z[d] = _spf(d, f'@ TXT "v=spf1 a:x1.{d} a:x2.{d} mx -all"\n')
    d = "spf-void-mx.lab"  # names that exist but hold no MX: 3 void lookups
    z[d] = _spf(
        d,
        f'@ TXT "v=spf1 mx:h1.{d} mx:h2.{d} mx:h3.{d} -all"\n'
        "h1 A 192.0.2.41\nh2 A 192.0.2.42\nh3 A 192.0.2.43\n",
    )
    d = "spf-redirect-loop.lab"
    z[d] = _spf(d, f'@ TXT "v=spf1 redirect=r.{d}"\nr TXT "v=spf1 redirect={d}"\n')
    d = "spf-include-nx.lab"  # include of a name that does not exist
    z[d] = _spf(d, f'@ TXT "v=spf1 mx include:gone.{d} -all"\n')
    d = "spf-include-nospf.lab"  # include of a name with TXT but no SPF record
    z[d] = _spf(d, f'@ TXT "v=spf1 mx include:other.{d} -all"\nother TXT "hello"\n')
    d = "spf-redirect-nx.lab"
    z[d] = _spf(d, f'@ TXT "v=spf1 redirect=gone.{d}"\n')
    d = "spf-redirect-ok.lab"
    z[d] = _spf(d, '@ TXT "v=spf1 redirect=_spf.good.lab"\n')
    d = "spf-redirect-all.lab"  # redirect ignored because all is present (6.1)
    z[d] = _spf(d, '@ TXT "v=spf1 mx redirect=_spf.good.lab -all"\n')
    d = "spf-ptr.lab"
    z[d] = _spf(d, '@ TXT "v=spf1 ptr -all"\nhost A 203.0.113.50\n')
    d = "spf-neutral.lab"
    z[d] = _spf(d, '@ TXT "v=spf1 mx ?all"\n')
    d = "spf-softfail.lab"
    z[d] = _spf(d, '@ TXT "v=spf1 mx ~all"\n')
    d = "spf-noall.lab"
    z[d] = _spf(d, '@ TXT "v=spf1 mx"\n')
    d = "spf-all-middle.lab"  # terms after all are never used
    z[d] = _spf(d, '@ TXT "v=spf1 -all mx"\n')
    d = "spf-macro.lab"  # exists with macros; 192.0.2.25 is listed
    z[d] = _spf(
        d,
        '@ TXT "v=spf1 exists:%{i}._spf.%{d} -all"\n' + "192.0.2.25._spf A 127.0.0.2\n",
    )
    d = "spf-macro-ptr.lab"  # %{p} in an exists (deprecated like ptr)
    z[d] = _spf(d, '@ TXT "v=spf1 exists:%{p}.%{d} -all"\n')
    d = "spf-macro-bad.lab"  # %{z} is no macro letter
    z[d] = _spf(d, '@ TXT "v=spf1 exists:%{z}.spf-macro-bad.lab -all"\n')
    d = "spf-long.lab"  # one record in several 255-character strings
    z[d] = _spf(
        d,
        "@ TXT "
        + txt("v=spf1 " + " ".join(f"ip4:198.51.{i}.0/24" for i in range(40)) + " mx -all")
        + "\n",
    )
    d = "spf-split.lab"  # strings split mid-term: joined without spaces (RFC 7208 3.3)
    z[d] = _spf(d, '@ TXT "v=spf1 ip4:198.51.1" "00.0/24 mx -all"\n')
    d = "spf-trailing.lab"  # trailing spaces are allowed by the ABNF (*SP at the end)
    z[d] = _spf(d, '@ TXT "v=spf1 mx -all   "\n')
    d = "spf-upper.lab"  # the version and mechanism names are case-insensitive (RFC 7208 12)
    z[d] = _spf(d, '@ TXT "V=SPF1 MX -ALL"\n')
    d = "spf-pra.lab"  # Sender ID only: not an SPF record
    z[d] = _spf(d, '@ TXT "spf2.0/pra mx -all"\n')
    d = "spf-pra-both.lab"  # Sender ID next to SPF: one SPF record, not two
    z[d] = _spf(d, '@ TXT "spf2.0/mfrom,pra mx ~all"\n@ TXT "v=spf1 mx -all"\n')
    d = "spf-v1x.lab"  # v=spf10 is not v=spf1
    z[d] = _spf(d, '@ TXT "v=spf10 mx -all"\n')
    d = "spf-toomany-mx.lab"  # mx naming a domain with 11 MX records
    z[d] = (
        SOA
        + "".join(f"@ MX {10 + i} m{i}\nm{i} A 192.0.2.{100 + i}\n" for i in range(11))
        + f'_dmarc TXT "v=DMARC1; p=reject; rua=mailto:dmarc@{d}"\n@ TXT "v=spf1 mx -all"\n'
    )
    d = "spf-include-plusall.lab"
    z[d] = _spf(d, f'@ TXT "v=spf1 include:open.{d} -all"\nopen TXT "v=spf1 +all"\n')
    d = "spf-ip6.lab"
    z[d] = _spf(d, '@ TXT "v=spf1 ip6:2001:db8::/32 ip4:198.51.100.0/24 -all"\n')
    d = "spf-cidr-bad.lab"
    z[d] = _spf(d, '@ TXT "v=spf1 ip4:198.51.100.0/33 -all"\n')
    d = "spf-dup-redirect.lab"
    z[d] = _spf(d, '@ TXT "v=spf1 redirect=_spf.good.lab redirect=_spf.good.lab"\n')
    d = "spf-unknown-mod.lab"  # unknown modifiers are ignored (RFC 7208 6)
    z[d] = _spf(d, '@ TXT "v=spf1 mx foo=bar -all"\n')
    d = "spf-nodot.lab"  # include:localhost: a domain-spec needs a dot and a top label (7.1)
    z[d] = _spf(d, '@ TXT "v=spf1 mx include:localhost -all"\n')
    d = "spf-exp.lab"
    z[d] = _spf(
        d,
        f'@ TXT "v=spf1 mx -all exp=why.{d}"\nwhy TXT "%{{i}} is not one of %{{d}}\'s servers"\n',
    )
    d = "spf-dynamic-include.lab"  # include target built from a macro: cannot be followed ahead
    z[d] = _spf(d, '@ TXT "v=spf1 include:%{d}.spf-dynamic-include.lab mx -all"\n')
    d = "spf-cidr.lab"  # dual CIDR lengths on a and mx
    z[d] = _spf(d, '@ TXT "v=spf1 a:mx1.spf-cidr.lab/24//64 mx/28 -all"\n')
    d = "spf-cidr6-bad.lab"
    z[d] = _spf(d, '@ TXT "v=spf1 a//129 -all"\n')
    d = "spf-exp-c.lab"  # %{c} is allowed only in explanation text, not in a domain-spec
    z[d] = _spf(d, '@ TXT "v=spf1 exists:%{c}.spf-exp-c.lab -all"\n')
    d = "spf-redirect-plusall.lab"  # redirect to a record ending in +all
    z[d] = _spf(d, f'@ TXT "v=spf1 redirect=open.{d}"\nopen TXT "v=spf1 +all"\n')
    d = "spf-loop-case.lab"  # a loop spelled in another case
    z[d] = _spf(
        d, f'@ TXT "v=spf1 include:a.{d} -all"\na TXT "v=spf1 include:SPF-LOOP-CASE.lab -all"\n'
    )
    d = "spf-deep.lab"  # a chain of 9 includes: deep, within 10 lookups
    z[d] = _spf(
        d,
        f'@ TXT "v=spf1 include:c1.{d} -all"\n'
        + "".join(f'c{i} TXT "v=spf1 include:c{i + 1}.{d} -all"\n' for i in range(1, 9))
        + 'c9 TXT "v=spf1 ip4:198.51.100.0/24 -all"\n',
    )
    d = "spf-nonascii.lab"
    z[d] = _spf(d, '@ TXT "v=spf1 mx \\195\\169 -all"\n')
    d = "spf-empty.lab"  # v=spf1 and nothing else: neutral for everyone
    z[d] = _spf(d, '@ TXT "v=spf1"\n')
    d = "spf-servfail-include.lab"  # include of a zone that answers SERVFAIL: temperror
    z[d] = _spf(d, '@ TXT "v=spf1 mx include:_spf.servfail.lab -all"\n')
    return z


# ---- more DMARC breakage (RFC 9989, reports RFC 9990), each with a valid SPF record -------------
def _dmarc(value: str, extra: str = "") -> str:
    return SOA + GOOD_MAIL + '@ TXT "v=spf1 mx -all"\n' + f"_dmarc TXT {value}\n" + extra


def _dmarc_domains() -> dict[str, str]:
    z: dict[str, str] = _basic_dmarc()

    def rua(d: str) -> str:
        return f"rua=mailto:dmarc@{d}"

    d = "dmarc-quarantine.lab"
    z[d] = _dmarc(f'"v=DMARC1; p=quarantine; {rua(d)}"')
    d = "dmarc-reject.lab"
    z[d] = _dmarc(f'"v=DMARC1; p=reject; {rua(d)}"')
    d = "dmarc-nop-rua.lab"  # p missing but rua present: read as p=none (RFC 9989 4.7)
    z[d] = _dmarc(f'"v=DMARC1; {rua(d)}"')
    d = "dmarc-nop.lab"  # p missing, no rua: no policy
    z[d] = _dmarc('"v=DMARC1; adkim=s"')
    d = "dmarc-badp.lab"
    z[d] = _dmarc('"v=DMARC1; p=block"')
    d = "dmarc-badp-rua.lab"
    z[d] = _dmarc(f'"v=DMARC1; p=block; {rua(d)}"')
    d = "dmarc-sp-none.lab"
    z[d] = _dmarc(f'"v=DMARC1; p=reject; sp=none; {rua(d)}"')
    d = "dmarc-np-none.lab"
    z[d] = _dmarc(f'"v=DMARC1; p=reject; np=none; {rua(d)}"')
    d = "dmarc-pct50.lab"  # pct removed by RFC 9989 (Appendix C)
    z[d] = _dmarc(f'"v=DMARC1; p=reject; pct=50; {rua(d)}"')
    d = "dmarc-pct0.lab"
    z[d] = _dmarc(f'"v=DMARC1; p=quarantine; pct=0; {rua(d)}"')
    d = "dmarc-testing.lab"  # t=y: RFC 9989 test mode
    z[d] = _dmarc(f'"v=DMARC1; p=reject; t=y; {rua(d)}"')
    d = "dmarc-ext-auth.lab"  # external rua, authorised by the destination
    z[d] = _dmarc('"v=DMARC1; p=reject; rua=mailto:reports@collector.lab"')
    d = "dmarc-ext-wild.lab"  # external rua, authorised by a wildcard at the destination
    z[d] = _dmarc('"v=DMARC1; p=reject; rua=mailto:reports@collector2.lab"')
    d = "dmarc-ext-aonly.lab"  # external rua, authorised, at a domain with an address but no MX
    z[d] = _dmarc('"v=DMARC1; p=reject; rua=mailto:reports@collector3.lab"')
    d = "dmarc-ext-nx.lab"  # rua at a domain that does not exist
    z[d] = _dmarc('"v=DMARC1; p=reject; rua=mailto:reports@nowhere-at-all.lab"')
    d = "dmarc-ruf-ext.lab"  # external ruf without authorisation
    z[d] = _dmarc(f'"v=DMARC1; p=reject; {rua(d)}; ruf=mailto:forensic@collector.lab"')
    d = "dmarc-org.lab"  # record only at the organisational domain; mail.dmarc-org.lab inherits
    z[d] = (
        SOA
        + GOOD_MAIL
        + '@ TXT "v=spf1 mx -all"\n'
        + f'_dmarc TXT "v=DMARC1; p=reject; {rua(d)}"\n'
    )
    z["mail.dmarc-org.lab"] = SOA + GOOD_MAIL + '@ TXT "v=spf1 mx -all"\n'
    d = "dmarc-upper.lab"  # "v" is case-insensitive, "DMARC1" is not (%s in the ABNF)
    z[d] = _dmarc(f'"V=DMARC1; P=reject; {rua(d)}"')
    d = "dmarc-lower.lab"  # v=dmarc1: not a DMARC record
    z[d] = _dmarc(f'"v=dmarc1; p=reject; {rua(d)}"')
    d = "dmarc-spaces.lab"  # *WSP around "=" and ";" is allowed
    z[d] = _dmarc(f'"v = DMARC1 ; p = reject ; rua = mailto:dmarc@{d}"')
    d = "dmarc-nospace.lab"
    z[d] = _dmarc(f'"v=DMARC1;p=reject;{rua(d)}"')
    d = "dmarc-rua-nomailto.lab"
    z[d] = _dmarc(f'"v=DMARC1; p=reject; rua=dmarc@{d}"')
    d = "dmarc-rua-https.lab"
    z[d] = _dmarc(f'"v=DMARC1; p=reject; rua=https://{d}/dmarc"')
    d = "dmarc-adkim-bad.lab"
    z[d] = _dmarc(f'"v=DMARC1; p=reject; adkim=x; {rua(d)}"')
    d = "dmarc-unrelated.lab"  # another TXT record next to the DMARC one: discarded (4.10)
    z[d] = _dmarc(f'"v=DMARC1; p=reject; {rua(d)}"', '_dmarc TXT "google-site-verification=abc"\n')
    d = "dmarc-missing.lab"
    z[d] = SOA + GOOD_MAIL + '@ TXT "v=spf1 mx -all"\n'
    d = "dmarc-dup-tag.lab"
    z[d] = _dmarc(f'"v=DMARC1; p=reject; p=none; {rua(d)}"')
    d = "dmarc-unknown-tag.lab"
    z[d] = _dmarc(f'"v=DMARC1; p=reject; foo=bar; {rua(d)}"')
    d = "dmarc-ri.lab"
    z[d] = _dmarc(f'"v=DMARC1; p=reject; ri=3600; {rua(d)}"')
    d = "dmarc-split.lab"  # one record in two strings
    z[d] = _dmarc(f'"v=DMARC1; p=rej" "ect; {rua(d)}"')
    d = "dmarc-sp-bad.lab"  # invalid sp: RFC 9989 4.7 treats the whole policy as invalid
    z[d] = _dmarc(f'"v=DMARC1; p=reject; sp=bogus; {rua(d)}"')
    d = "dmarc-fo-bad.lab"
    z[d] = _dmarc(f'"v=DMARC1; p=reject; fo=2; {rua(d)}"')
    d = "dmarc-pct-bad.lab"
    z[d] = _dmarc(f'"v=DMARC1; p=reject; pct=150; {rua(d)}"')
    d = "dmarc-nullmx-rua.lab"  # rua at a domain that publishes a null MX
    z[d] = _dmarc(f'"v=DMARC1; p=reject; rua=mailto:dmarc@noreply.{d}"', "noreply MX 0 .\n")
    d = "dmarc-psd-n.lab"
    z[d] = _dmarc(f'"v=DMARC1; p=reject; psd=n; {rua(d)}"')
    d = "dmarc-upper-values.lab"  # values are case-insensitive ABNF strings
    z[d] = _dmarc(f'"v=DMARC1; p=REJECT; adkim=S; {rua(d)}"')
    d = "dmarc-only-v.lab"  # v=DMARC1 alone: no p, no rua
    z[d] = _dmarc('"v=DMARC1;"')
    d = "dmarc-size.lab"  # the RFC 7489 "!10m" size suffix, ignored by RFC 9990
    z[d] = _dmarc(f'"v=DMARC1; p=reject; rua=mailto:dmarc@{d}!10m"')
    d = "dmarc-cname.lab"  # the record behind a CNAME
    z[d] = (
        SOA
        + GOOD_MAIL
        + '@ TXT "v=spf1 mx -all"\n_dmarc CNAME policy\n'
        + (f'policy TXT "v=DMARC1; p=reject; {rua(d)}"\n')
    )
    d = "dmarc-sub-sp.lab"  # sp in a subdomain's own record is ignored (RFC 9989 4.7 sp)
    z["mail." + d] = (
        SOA
        + GOOD_MAIL
        + '@ TXT "v=spf1 mx -all"\n'
        + (f'_dmarc TXT "v=DMARC1; p=reject; sp=none; rua=mailto:dmarc@{d}"\n')
    )
    z[d] = _dmarc(f'"v=DMARC1; p=reject; {rua(d)}"')
    d = "dmarc-psd.lab"  # psd=y on an ordinary domain
    z[d] = _dmarc(f'"v=DMARC1; p=reject; psd=y; {rua(d)}"')
    return z


# ---- DKIM keys for `--selector` checks (RFC 6376, RFC 8301) --------------------------------------
def _dkim_domains() -> dict[str, str]:
    def base(d: str) -> str:
        return SOA + GOOD_MAIL + '@ TXT "v=spf1 mx -all"\n' + _dmarc_reject(d)

    return {
        "dkim-ok.lab": base("dkim-ok.lab") + f"s1._domainkey TXT {dkim_value(2048)}\n",
        "dkim-weak.lab": base("dkim-weak.lab") + f"selector1._domainkey TXT {dkim_value(1024)}\n",
        "dkim-revoked.lab": base("dkim-revoked.lab")
        + 'google._domainkey TXT "v=DKIM1; k=rsa; p="\n',
        "dkim-testing.lab": base("dkim-testing.lab")
        + f"s1._domainkey TXT {dkim_value(2048, 'v=DKIM1; k=rsa; t=y; ')}\n",
        "dkim-garbage.lab": base("dkim-garbage.lab")
        + 's1._domainkey TXT "v=DKIM1; k=rsa; p=not-base64!"\n',
        "dkim-wrongver.lab": base("dkim-wrongver.lab")
        + 's1._domainkey TXT "v=DKIM2; k=rsa; p=AAAA"\n',
        "dkim-cname.lab": base("dkim-cname.lab")
        + "s1._domainkey CNAME s1.dkim.gone-provider.lab.\n",
        "dkim-ed25519.lab": base("dkim-ed25519.lab")
        + f's1._domainkey TXT "v=DKIM1; k=ed25519; p={_ed25519()}"\n',
    }


# What each broken domain is built to show: the codes of its findings at warn or worse once the
# diagnosis has run, the cause first. Findings that only repeat the cause are its consequences
# (skip or info, "because …"), so a dangling MX shows mx.target_no_address, not address.none too.
# A domain missing here is sound: its report has nothing to fix (info at most).
SHOWS: dict[str, tuple[str, ...]] = {
    "nomx.lab": ("mx.implicit",),
    "nomail.lab": ("mx.none",),
    "cname-mx.lab": ("mx.target_cname",),
    "ip-mx.lab": ("mx.target_ip",),
    "dangling-mx.lab": ("mx.target_no_address",),
    "private-mx.lab": ("address.non_global",),
    "noptr.lab": ("ptr.missing",),
    "spf-toomany.lab": ("spf.too_many_lookups",),
    "spf-plusall.lab": ("spf.plus_all",),
    "spf-multiple.lab": ("spf.multiple",),
    "spf-syntax.lab": ("spf.syntax",),
    "spf-void.lab": ("spf.too_many_void_lookups",),
    "spf-loop.lab": ("spf.loop",),
    "spf-nested.lab": ("spf.too_many_lookups",),
    "spf-void2.lab": ("spf.void_lookups",),
    "spf-void-mx.lab": ("spf.too_many_void_lookups",),
    "spf-redirect-loop.lab": ("spf.loop",),
    "spf-include-nx.lab": ("spf.include_no_spf",),
    "spf-include-nospf.lab": ("spf.include_no_spf",),
    "spf-redirect-nx.lab": ("spf.redirect_no_spf",),
    "spf-redirect-all.lab": ("spf.redirect_ignored",),
    "spf-ptr.lab": ("spf.ptr_deprecated",),
    "spf-neutral.lab": ("spf.neutral_all",),
    "spf-noall.lab": ("spf.no_all",),
    "spf-all-middle.lab": ("spf.terms_after_all",),
    "spf-macro-ptr.lab": ("spf.ptr_deprecated",),
    "spf-macro-bad.lab": ("spf.syntax",),
    "spf-long.lab": ("spf.too_large",),
    "spf-pra.lab": ("spf.missing",),
    "spf-v1x.lab": ("spf.missing",),
    "spf-toomany-mx.lab": ("spf.too_many_mx",),
    "spf-include-plusall.lab": ("spf.plus_all",),
    "spf-cidr-bad.lab": ("spf.syntax",),
    "spf-dup-redirect.lab": ("spf.syntax",),
    "spf-nodot.lab": ("spf.syntax",),
    "spf-dynamic-include.lab": ("spf.include_no_spf",),
    "spf-cidr6-bad.lab": ("spf.syntax",),
    "spf-exp-c.lab": ("spf.syntax",),
    "spf-redirect-plusall.lab": ("spf.plus_all",),
    "spf-loop-case.lab": ("spf.loop",),
    "spf-nonascii.lab": ("spf.syntax",),
    "spf-empty.lab": ("spf.no_all",),
    "spf-servfail-include.lab": ("spf.lookup_failed",),
    "dmarc-none.lab": ("dmarc.policy_none",),
    "dmarc-norua.lab": ("dmarc.rua_missing",),
    "dmarc-multi.lab": ("dmarc.multiple",),
    "dmarc-bad.lab": ("dmarc.invalid",),
    "dmarc-ext.lab": ("dmarc.rua_unauthorized",),
    "dmarc-nop-rua.lab": ("dmarc.policy_none",),
    "dmarc-nop.lab": ("dmarc.policy_invalid",),
    "dmarc-badp.lab": ("dmarc.policy_invalid",),
    "dmarc-badp-rua.lab": ("dmarc.policy_invalid", "dmarc.policy_none"),
    "dmarc-sp-none.lab": ("dmarc.subdomain_policy_weaker",),
    "dmarc-np-none.lab": ("dmarc.nonexistent_policy_weaker",),
    "dmarc-testing.lab": ("dmarc.testing",),
    "dmarc-ext-nx.lab": ("dmarc.rua_unauthorized", "dmarc.report_undeliverable"),
    "dmarc-ruf-ext.lab": ("dmarc.ruf_unauthorized",),
    "dmarc-lower.lab": ("dmarc.invalid",),
    "dmarc-rua-nomailto.lab": ("dmarc.tag_invalid", "dmarc.rua_missing"),
    "dmarc-rua-https.lab": ("dmarc.tag_invalid",),
    "dmarc-adkim-bad.lab": ("dmarc.tag_invalid",),
    "dmarc-missing.lab": ("dmarc.missing",),
    "dmarc-dup-tag.lab": ("dmarc.tag_invalid",),
    "dmarc-sp-bad.lab": ("dmarc.policy_invalid", "dmarc.policy_none"),
    "dmarc-fo-bad.lab": ("dmarc.tag_invalid",),
    "dmarc-pct-bad.lab": ("dmarc.tag_invalid",),
    "dmarc-nullmx-rua.lab": ("dmarc.report_undeliverable",),
    "dmarc-only-v.lab": ("dmarc.policy_invalid",),
    "dkim-weak.lab": ("dkim.key_weak",),
    "dkim-revoked.lab": ("dkim.revoked",),
    "dkim-testing.lab": ("dkim.testing",),
    "dkim-garbage.lab": ("dkim.invalid",),
    "dkim-wrongver.lab": ("dkim.invalid",),
    "dkim-cname.lab": ("dkim.selector_missing",),
    "hostile.lab": ("spf.syntax",),
    "mtasts-nohost.lab": ("mta_sts.policy_host_missing",),
    "ns-single.lab": ("ns.single",),
    "ns-timers.lab": ("ns.negative_ttl_long", "ns.soa_timers"),
    "ns-noaddr.lab": ("ns.no_address",),
    "ns-silent.lab": ("ns.unresponsive",),
    "smtp-expired.lab": ("tls.cert_expired", "tls.cert_invalid"),
    "smtp-tarpit.lab": ("smtp.no_banner",),
    "smtp-554.lab": ("smtp.greeting_rejected",),
    "smtp-nostarttls.lab": ("smtp.starttls_missing",),
    "smtp-closed.lab": ("smtp.connection_refused",),
    "servfail.lab": ("mx.lookup_failed",),
    "timeout.lab": ("mx.lookup_failed",),
}


# Sending addresses worth evaluating with `mxbot spf DOMAIN --ip X` (and pyspf) for every domain.
SPF_PROBE_IPS: tuple[str, ...] = ("192.0.2.25", "198.51.100.7", "203.0.113.50", "2001:db8::26")
# Selectors to pass with `--selector` for the DKIM domains.
DKIM_SELECTORS: dict[str, tuple[str, ...]] = {
    "dkim-weak.lab": ("selector1",),
    "dkim-revoked.lab": ("google",),
    "dkim-ok.lab": ("s1",),
    "dkim-testing.lab": ("s1",),
    "dkim-garbage.lab": ("s1",),
    "dkim-wrongver.lab": ("s1",),
    "dkim-cname.lab": ("s1",),
    "dkim-ed25519.lab": ("s1",),
}


def load(server: DnsServer, domains: Sequence[LabDomain] | None = None) -> None:
    """Serve every lab domain (`domains`, as `lab()` made them) and the names they point at."""
    servers = {**NAME_SERVERS, SILENT_SERVER[0]: SILENT_SERVER[1]}
    server.load_zone(
        SOA + "".join(f"{name}. A {address}\n" for name, address in servers.items()), "lab"
    )
    for domain in lab() if domains is None else domains:
        if domain.name not in DNS_FAILURES:
            server.load_zone(domain.zone, domain.name)
    server.load_zone(SOA + "@ MX 10 mx1.good.lab.\n", "collector.lab")
    server.add("dmarc-ext-auth.lab._report._dmarc.collector.lab", "TXT", '"v=DMARC1"')
    wildcard = '*._report._dmarc TXT "v=DMARC1"\n'
    server.load_zone(SOA + "@ MX 10 mx1.good.lab.\n" + wildcard, "collector2.lab")
    # no MX, but an address: the implicit MX of RFC 5321 5.1 receives the reports
    server.load_zone(SOA + "@ A 192.0.2.60\n" + wildcard, "collector3.lab")
    server.add("50.113.0.203.in-addr.arpa", "PTR", "host.spf-ptr.lab.")
    # reverse DNS for every mail host but noptr.lab's (192.0.2.99), which lacks it on purpose
    server.add("80.2.0.192.in-addr.arpa", "PTR", "nomx.lab.")
    server.add("30.2.0.192.in-addr.arpa", "PTR", "real.cname-mx.lab.")
    server.add("3.2.1.10.in-addr.arpa", "PTR", "mx.private-mx.lab.")
    for i in range(11):
        server.add(f"{100 + i}.2.0.192.in-addr.arpa", "PTR", f"m{i}.spf-toomany-mx.lab.")
    for name, (address, _) in mail.SERVERS.items():
        server.add(".".join(reversed(address.split("."))) + ".in-addr.arpa", "PTR", f"mx.{name}.")
    server.add("25.2.0.192.in-addr.arpa", "PTR", "mx1.good.lab.")
    server.add("26.2.0.192.in-addr.arpa", "PTR", "mx2.good.lab.")
    server.add(
        "6.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
        "PTR",
        "mx2.good.lab.",
    )
    servfail, timeout = DNS_FAILURES
    server.behaviour.servfail_zones.add(dns.name.from_text(servfail))
    server.behaviour.timeout_zones.add(dns.name.from_text(timeout))
