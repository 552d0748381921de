"""Deliberately broken domains for trying mxbot by hand (`python -m lab.run`), one failure each.

Addresses are documentation ranges, so nothing is ever connected to unless a test says so.
"""

from __future__ import annotations

import base64

import dns.name
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tests.fakes.dnsserver import DnsTestServer

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
    z.update(_spf_domains())
    z.update(_dmarc_domains())
    z.update(_dkim_domains())
    return z


# ---- more SPF breakage (RFC 7208), each with a valid DMARC record so only SPF differs -----------
def _spf(domain: str, body: str) -> str:
    return SOA + GOOD_MAIL + f'_dmarc TXT "v=DMARC1; p=reject; rua=mailto:dmarc@{domain}"\n' + body


def _spf_domains() -> dict[str, str]:
    z: dict[str, str] = {}
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
    z: dict[str, str] = {}

    def rua(d: str) -> str:
        return f"rua=mailto:dmarc@{d}"

    d = "dmarc-quarantine.lab"
    z[d] = _dmarc(f'"v=DMARC1; p=quarantine; {rua(d)}"')
    d = "dmarc-reject.lab"
    z[d] = _dmarc(f'"v=DMARC1; p=reject; {rua(d)}"')
    d = "dmarc-none-rua.lab"
    z[d] = _dmarc(f'"v=DMARC1; p=none; {rua(d)}"')
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
    base = SOA + GOOD_MAIL + '@ TXT "v=spf1 mx -all"\n_dmarc TXT "v=DMARC1; p=reject"\n'
    return {
        "dkim-ok.lab": base + f"s1._domainkey TXT {dkim_value(2048)}\n",
        "dkim-testing.lab": base
        + f"s1._domainkey TXT {dkim_value(2048, 'v=DKIM1; k=rsa; t=y; ')}\n",
        "dkim-garbage.lab": base + 's1._domainkey TXT "v=DKIM1; k=rsa; p=not-base64!"\n',
        "dkim-wrongver.lab": base + 's1._domainkey TXT "v=DKIM2; k=rsa; p=AAAA"\n',
        "dkim-cname.lab": base + "s1._domainkey CNAME s1.dkim.gone-provider.lab.\n",
        "dkim-ed25519.lab": base + f's1._domainkey TXT "v=DKIM1; k=ed25519; p={_ed25519()}"\n',
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


def load(server: DnsTestServer) -> None:
    for domain, text in domains().items():
        server.load_zone(text, domain)
    server.load_zone(SOA + "@ MX 10 mx1.good.lab.\n", "collector.lab")
    server.add("dmarc-ext-auth.lab._report._dmarc.collector.lab", "TXT", '"v=DMARC1"')
    wildcard = '*._report._dmarc TXT "v=DMARC1"\n'
    server.load_zone(SOA + "@ MX 10 mx1.good.lab.\n" + wildcard, "collector2.lab")
    # no MX, but an address: the implicit MX of RFC 5321 5.1 receives the reports
    server.load_zone(SOA + "@ A 192.0.2.60\n" + wildcard, "collector3.lab")
    server.add("50.113.0.203.in-addr.arpa", "PTR", "host.spf-ptr.lab.")
    server.add("25.2.0.192.in-addr.arpa", "PTR", "mx1.good.lab.")
    server.add("26.2.0.192.in-addr.arpa", "PTR", "mx2.good.lab.")
    server.add(
        "6.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
        "PTR",
        "mx2.good.lab.",
    )
    server.behaviour.servfail_zones.add(dns.name.from_text("servfail.lab"))
    server.behaviour.timeout_zones.add(dns.name.from_text("timeout.lab"))
