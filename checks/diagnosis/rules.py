"""The diagnosis's rule table: which findings name a root cause of mail trouble, how much each one
matters, how to say it in one sentence, and which other findings only repeat it.

Rules are data. To add one: pick the finding codes that show the cause (`triggers`, shell-style
globs over codes), a `priority` (the highest cause found leads the headline), a `headline` and a
`fact` (templates over `{domain}`), and the `consequences`: codes of findings that fail only
because of this cause. Then add its case to `tests/checks/test_diagnosis_rules.py`.

Longer than our other modules because it is the table itself (about 50 causes); the logic that
applies it is `checks.diagnosis.diagnose`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from checks.model import Status

FAILING: Final = frozenset({Status.FAIL})
UNKNOWN: Final = frozenset({Status.ERROR})  # "we could not tell": a lookup or a probe failed
TROUBLE: Final = frozenset({Status.WARN, Status.ERROR, Status.FAIL})


@dataclass(frozen=True, slots=True)
class Population:
    """The members a rule about "every MX host" counts, read from one check's result: the evidence
    lines of one finding (`listed_by`: mx.ok lists every MX host), or else the check's findings
    themselves, one per member, less those that describe no member (`extras`)."""

    check: str
    listed_by: str = ""
    extras: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Coverage:
    """A rule that holds only when its cause hits every member (`every`), or only some of them.

    `down` are the codes that make a member unusable (whichever rule fires on them), `unknown` the
    codes of members that could not be judged: they count neither way.
    """

    population: Population
    down: tuple[str, ...]
    every: bool
    unknown: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    """One root cause: the findings that show it, and how the report should say it."""

    name: str
    priority: int  # the highest-priority cause found leads the headline
    triggers: tuple[str, ...]  # finding code globs
    headline: str  # one sentence, a template over {domain}
    fact: str  # the cause as one clause: "Because {fact}: …" on consequences, "Also, {fact}."
    statuses: frozenset[Status] = FAILING  # what a trigger's status must be
    coverage: Coverage | None = None
    consequences: tuple[str, ...] = ()  # code globs of findings that only repeat the cause
    claims: frozenset[Status] = TROUBLE  # what a consequence's status may be
    demote_to: Status = Status.INFO  # a consequence's new status


# ---- populations and what counts as a member being down ------------------------------------------
MX_HOSTS: Final = Population("mx", listed_by="mx.ok")
ADDRESSES: Final = Population("address", listed_by="address.ok")
# One probe per (host, address); the name-mismatch note rides along with a probe's own finding.
ENDPOINTS: Final = Population("smtp", extras=("smtp.banner_name_mismatch",))

MX_DOWN: Final = ("mx.target_no_address", "mx.target_ip")
ADDRESS_DOWN: Final = ("address.non_global",)
# Ways a probe shows that no sender can hand mail to that address (a tarpit never greets).
PORT25_DOWN: Final = (
    "smtp.connection_refused",
    "smtp.connect_timeout",
    "smtp.greeting_rejected",
    "smtp.not_smtp",
    "smtp.no_banner",
)
# Not connected to by policy (a non-public address), or not reachable from the bot's own network.
PORT25_UNKNOWN: Final = ("smtp.address_refused", "smtp.unreachable")

# Lookups of names in the domain's own zone: they fail together when the zone does.
ZONE_LOOKUPS: Final = (
    "mx.lookup_failed",
    "mx.target_lookup_failed",
    "address.lookup_failed",
    "spf.lookup_failed",
    "spf.ip_temperror",
    "dmarc.lookup_failed",
    "dkim.lookup_failed",
    "bimi.lookup_failed",
    "mta_sts.lookup_failed",
    "mta_sts.policy_not_checked",
    "tls_rpt.lookup_failed",
    "dane.lookup_failed",
    "dnssec.lookup_failed",
    "dnssec.mx_lookup_failed",
    "ns.lookup_failed",
)
# Name servers resolvers cannot use: lame, silent, without an address, or out of reach (no glue).
NS_UNUSABLE: Final = ("ns.lame", "ns.unresponsive", "ns.no_address", "ns.glue_missing")
# What a sender can no longer check once no TLS session can be made.
NO_SESSION: Final = ("tls.*", "dane.no_tls", "dane.not_verified")
SPF_PERMERROR: Final = ("spf.ip_permerror",)


def _spf(name: str, code: str, why: str, fact: str, *, can: bool = False) -> Rule:
    """An SPF record that receivers evaluate to permerror (RFC 7208 4.6, 4.6.4)."""
    verb = "can fail" if can else "fails"
    return Rule(
        name,
        65,
        (code,),
        f"Mail from {{domain}} {verb} SPF (permerror at receivers): {why}.",
        f"{fact} (SPF permerror)",
        consequences=SPF_PERMERROR,
    )


RULES: Final[tuple[Rule, ...]] = (
    # ---- the domain's DNS: nothing else can work -----------------------------------------------
    Rule(
        "dnssec_bogus",
        100,
        ("dnssec.bogus",),
        "Mail to {domain} fails for senders that validate DNSSEC: the chain of trust of its zone "
        "is broken, so their resolvers answer SERVFAIL for every name in it.",
        "the DNSSEC chain of trust of {domain} is broken",
        consequences=ZONE_LOOKUPS,
        demote_to=Status.SKIP,
    ),
    Rule(
        "nxdomain",
        95,
        ("mx.nxdomain",),
        "Mail to {domain} cannot be delivered: {domain} does not exist in DNS (NXDOMAIN).",
        "{domain} does not exist",
        consequences=("*",),
        claims=TROUBLE | {Status.INFO},  # no "optional: publish …" advice for a missing domain
        demote_to=Status.SKIP,
    ),
    Rule(
        "ns_all_lame",
        92,
        ("ns.all_lame",),
        "Mail to and from {domain} fails: none of its name servers answers for its zone (a lame "
        "delegation), so resolvers cannot look up its MX or any other record.",
        "no name server of {domain} answers for its zone",
        consequences=(*ZONE_LOOKUPS, *NS_UNUSABLE),
        demote_to=Status.SKIP,
    ),
    Rule(
        "dns_failing",
        90,
        ("mx.lookup_failed",),
        "Could not tell whether mail to {domain} flows: DNS lookups for it fail (SERVFAIL or "
        "timeout), and senders that meet the same failure cannot find its mail servers.",
        "DNS lookups for {domain} fail",
        statuses=UNKNOWN,
        consequences=ZONE_LOOKUPS,
        demote_to=Status.SKIP,
    ),
    Rule(
        "ns_not_delegated",
        89,
        ("ns.not_delegated",),
        "Mail to {domain} is about to fail: its parent zone no longer delegates its zone, so "
        "resolvers stop finding it as their caches expire.",
        "the parent zone no longer delegates the zone of {domain}",
    ),
    Rule(
        "dnssec_mx_bogus",
        88,
        ("dnssec.mx_bogus",),
        "Mail to {domain} fails for senders that validate DNSSEC: the chain of trust of its MX "
        "hosts' zone is broken, so they cannot look up the hosts' addresses.",
        "the DNSSEC chain of trust of the zone of {domain}'s MX hosts is broken",
        consequences=(
            "mx.target_lookup_failed",
            "address.lookup_failed",
            "address.none",
            "dane.lookup_failed",
        ),
        demote_to=Status.SKIP,
    ),
    # ---- where mail goes (RFC 5321 5.1, RFC 7505) ----------------------------------------------
    Rule(
        "null_mx",
        86,
        ("mx.null",),
        "Mail to {domain} bounces by design: it publishes a null MX (RFC 7505), which says it "
        "accepts no mail.",
        "{domain} publishes a null MX, so it accepts no mail",
        statuses=frozenset({Status.INFO}),
    ),
    Rule(
        "no_mx_no_address",
        85,
        ("mx.none",),
        "Mail to {domain} cannot be delivered: it has no MX record and no address.",
        "{domain} has no MX record and no address",
        consequences=("address.none",),
    ),
    Rule(
        "mx_no_address",
        84,
        ("mx.target_no_address",),
        "Mail to {domain} cannot be delivered: none of its MX hosts has an address (the names "
        "do not exist or have no A/AAAA records).",
        "no MX host of {domain} has an address",
        coverage=Coverage(MX_HOSTS, MX_DOWN, every=True),
        consequences=("address.none",),
    ),
    Rule(
        "mx_ip_literal",
        83,
        ("mx.target_ip",),
        "Mail to {domain} cannot be delivered by most senders: its MX record names an IP "
        "address instead of a host name.",
        "the MX record of {domain} names an IP address instead of a host",
        coverage=Coverage(MX_HOSTS, MX_DOWN, every=True),
        consequences=("address.none",),
    ),
    Rule(
        "mx_addresses_failing",
        81,
        ("mx.target_lookup_failed",),
        "Could not tell whether mail to {domain} flows: looking up the addresses of its MX hosts "
        "fails (SERVFAIL or timeout).",
        "looking up the addresses of {domain}'s MX hosts fails",
        statuses=UNKNOWN,
        coverage=Coverage(MX_HOSTS, ("mx.target_lookup_failed",), every=True),
        consequences=("address.lookup_failed", "address.none"),
        demote_to=Status.SKIP,
    ),
    Rule(
        "no_public_address",
        80,
        ("address.non_global",),
        "Mail to {domain} cannot be delivered from the internet: its mail hosts have only "
        "non-public addresses (private, reserved or documentation ranges).",
        "the mail hosts of {domain} have no public address",
        coverage=Coverage(ADDRESSES, ADDRESS_DOWN, every=True),
        consequences=("ptr.*",),  # the reverse DNS of an address nobody can reach is moot
    ),
    # ---- port 25 (RFC 5321) ---------------------------------------------------------------------
    Rule(
        "port25_refused",
        78,
        ("smtp.connection_refused",),
        "Mail to {domain} cannot be delivered: its mail servers refuse connections on port 25.",
        "the mail servers of {domain} refuse connections on port 25",
        coverage=Coverage(ENDPOINTS, PORT25_DOWN, every=True, unknown=PORT25_UNKNOWN),
        consequences=NO_SESSION,
    ),
    Rule(
        "greeting_rejected",
        77,
        ("smtp.greeting_rejected",),
        "Mail to {domain} cannot be delivered: its mail servers greet senders with a refusal "
        "(a 5xx reply), so they take no mail.",
        "the mail servers of {domain} greet senders with a refusal",
        coverage=Coverage(ENDPOINTS, PORT25_DOWN, every=True, unknown=PORT25_UNKNOWN),
        consequences=NO_SESSION,
    ),
    Rule(
        "not_smtp",
        76,
        ("smtp.not_smtp",),
        "Mail to {domain} cannot be delivered: what answers on port 25 at its mail servers does "
        "not speak SMTP.",
        "what answers on port 25 at {domain}'s mail servers does not speak SMTP",
        coverage=Coverage(ENDPOINTS, PORT25_DOWN, every=True, unknown=PORT25_UNKNOWN),
        consequences=NO_SESSION,
    ),
    # ---- senders that insist on TLS (RFC 8461, RFC 7672) --------------------------------------
    Rule(
        "mta_sts_mismatch",
        70,
        ("mta_sts.mx_mismatch",),  # a failure only in mode enforce; a warning in mode testing
        "Senders that honour MTA-STS refuse to deliver to {domain}: its policy, in mode enforce, "
        "does not cover all of its MX hosts.",
        "the MTA-STS policy of {domain} (mode enforce) does not cover all of its MX hosts",
    ),
    Rule(
        "dane_mismatch",
        68,
        ("dane.mismatch",),
        "Senders that use DANE refuse to deliver to {domain}: its TLSA records match none of the "
        "certificates its mail servers present.",
        "the TLSA records of {domain} do not match its mail servers' certificates",
    ),
    Rule(
        "no_starttls",
        67,
        (
            "smtp.starttls_missing",
            "smtp.starttls_refused",
            "smtp.tls_failed",
            "smtp.ehlo_after_tls_rejected",
        ),
        "Senders that require TLS do not deliver to {domain}, and others send in plain text: "
        "STARTTLS does not work on its mail server.",
        "STARTTLS does not work on the mail server of {domain}",
        consequences=NO_SESSION,
    ),
    Rule(
        "dane_no_tls",
        66,
        ("dane.no_tls",),
        "Senders that use DANE refuse to deliver to {domain}: its TLSA records require TLS, which "
        "its mail server does not offer.",
        "the TLSA records of {domain} require TLS, which its mail server does not offer",
    ),
    # ---- SPF (RFC 7208): receivers' verdict on mail from the domain ----------------------------
    _spf(
        "spf_multiple",
        "spf.multiple",
        "it publishes more than one SPF record (or a name its record includes does)",
        "{domain}, or a name its SPF record includes, publishes more than one SPF record",
    ),
    _spf(
        "spf_too_many_lookups",
        "spf.too_many_lookups",
        "its SPF record needs more than 10 DNS lookups",
        "the SPF record of {domain} needs more than 10 DNS lookups",
        can=True,
    ),
    _spf(
        "spf_syntax",
        "spf.syntax",
        "its SPF record, or one it includes, has a syntax error",
        "the SPF record of {domain}, or one it includes, has a syntax error",
    ),
    _spf(
        "spf_loop",
        "spf.loop",
        "its SPF record loops back on itself (through include or redirect)",
        "the SPF record of {domain} loops back on itself",
    ),
    _spf(
        "spf_void_lookups",
        "spf.too_many_void_lookups",
        "its SPF record looks up more than 2 names that do not exist",
        "the SPF record of {domain} looks up more than 2 names that do not exist",
    ),
    _spf(
        "spf_include_no_spf",
        "spf.*_no_spf",
        "its SPF record leads (by include or redirect) to a name with no SPF record",
        "the SPF record of {domain} leads to a name with no SPF record",
    ),
    _spf(
        "spf_too_many_mx",
        "spf.too_many_mx",
        "its SPF record names a domain with more than 10 MX records",
        "the SPF record of {domain} names a domain with more than 10 MX records",
    ),
    Rule(
        "spf_ip_fail",
        64,
        ("spf.ip_not_authorised",),
        "Mail from {domain} sent from the address you gave fails SPF: its record does not "
        "authorise that address, so receivers reject or junk it.",
        "the SPF record of {domain} does not authorise the address you gave",
    ),
    Rule(
        "dnsbl_listed",
        62,
        ("dnsbl.listed",),
        "Mail sent from {domain}'s mail servers may be rejected: an address of theirs is on a DNS "
        "blocklist.",
        "an address of {domain}'s mail servers is on a DNS blocklist",
    ),
    # ---- certificates: only certificate-checking senders refuse --------------------------------
    Rule(
        "cert_expired",
        60,
        ("tls.cert_expired",),
        "The TLS certificate of {domain}'s mail server has expired: most senders still deliver, "
        "but any that verify certificates (as MTA-STS and DANE require) refuse to.",
        "the TLS certificate of {domain}'s mail server has expired",
    ),
    Rule(
        "cert_not_yet_valid",
        59,
        ("tls.cert_not_yet_valid",),
        "The TLS certificate of {domain}'s mail server is not valid yet: most senders still "
        "deliver, but any that verify certificates (as MTA-STS and DANE require) refuse to.",
        "the TLS certificate of {domain}'s mail server is not valid yet",
    ),
    Rule(
        "spf_temperror",
        50,
        ("spf.lookup_failed",),
        "Receivers may defer mail from {domain}: a DNS lookup its SPF record needs fails "
        "(SERVFAIL or timeout), so SPF gives temperror.",
        "a DNS lookup in the SPF record of {domain} fails (SPF temperror)",
        statuses=UNKNOWN,
        consequences=("spf.ip_temperror",),
    ),
    Rule(
        "dkim_broken",
        48,
        (
            "dkim.selector_missing",
            "dkim.invalid",
            "dkim.multiple",
            "dkim.not_for_email",
            "dkim.sha1_only",
            "dkim.key_invalid",
            "dkim.key_type_unknown",
            "dkim.key_too_short",
        ),
        "Mail from {domain} signed with an affected DKIM selector fails DKIM: the selector's key "
        "record is missing or unusable.",
        "a DKIM selector of {domain} has a missing or unusable key record",
    ),
    # ---- one of several hosts: mail still flows, through the others ---------------------------
    Rule(
        "some_mx_unusable",
        45,
        MX_DOWN,
        "Mail to {domain} still flows through its other MX hosts, but at least one cannot be "
        "used: it does not exist, has no address, or is an IP address.",
        "at least one MX host of {domain} cannot be used",
        coverage=Coverage(MX_HOSTS, MX_DOWN, every=False),
    ),
    Rule(
        "some_address_private",
        44,
        ADDRESS_DOWN,
        "Mail to {domain} still flows through its other mail hosts, but at least one has a "
        "non-public address that senders on the internet cannot reach.",
        "at least one mail host of {domain} has a non-public address",
        coverage=Coverage(ADDRESSES, ADDRESS_DOWN, every=False),
    ),
    Rule(
        "some_port25_down",
        43,
        PORT25_DOWN,
        "Mail to {domain} still flows through its other mail servers, but at least one refuses "
        "or drops connections on port 25 (senders retry the others).",
        "at least one mail server of {domain} refuses or drops connections on port 25",
        coverage=Coverage(ENDPOINTS, PORT25_DOWN, every=False, unknown=PORT25_UNKNOWN),
    ),
    Rule(
        "no_greeting",
        42,
        ("smtp.no_banner",),
        "Mail to {domain} may be slow or held up: its mail servers accept connections but sent "
        "no greeting while mxbot waited (senders wait up to 5 minutes, then retry later).",
        "the mail servers of {domain} sent no SMTP greeting",
        statuses=TROUBLE,
        coverage=Coverage(ENDPOINTS, PORT25_DOWN, every=True, unknown=PORT25_UNKNOWN),
        consequences=NO_SESSION,
    ),
    Rule(
        "mx_cname",
        40,
        ("mx.target_cname",),
        "Mail to {domain} relies on senders tolerating an alias: its MX points at a CNAME, which "
        "RFC 2181 forbids and some senders refuse.",
        "the MX of {domain} points at an alias (CNAME), which some senders refuse",
    ),
    Rule(
        "null_mx_mixed",
        39,
        ("mx.null_mixed",),
        "Senders treat mail to {domain} inconsistently: it publishes a null MX together with "
        "other MX records.",
        "{domain} publishes a null MX together with other MX records",
    ),
    # ---- a zone's name servers: lookups still work, through the others ------------------------
    Rule(
        "ns_some_unusable",
        38,
        NS_UNUSABLE,
        "Lookups for {domain} are slow or fail now and then: at least one of its name servers "
        "cannot be used (it does not answer for the zone, is silent, or cannot be reached).",
        "at least one name server of {domain} cannot be used",
    ),
    # ---- what receivers make of mail from the domain -----------------------------------------
    Rule(
        "spf_missing",
        36,
        ("spf.missing",),
        "Mail from {domain} may be junked or rejected: it publishes no SPF record.",
        "{domain} publishes no SPF record",
    ),
    Rule(
        "ns_stale",
        35,
        ("ns.serial_mismatch",),
        "Some senders may get old records of {domain}: its name servers serve different versions "
        "of its zone (their SOA serials differ).",
        "the name servers of {domain} serve different versions of its zone",
        statuses=TROUBLE,
    ),
    Rule(
        "no_reverse_dns",
        34,
        ("ptr.missing", "ptr.unconfirmed"),
        "Receivers may reject mail sent from {domain}'s mail servers: reverse DNS (PTR) is "
        "missing or does not match for at least one of their addresses.",
        "reverse DNS (PTR) is missing or does not match for a mail server of {domain}",
    ),
    Rule(
        "dmarc_multiple",
        32,
        ("dmarc.multiple",),
        "Receivers ignore every DMARC record of {domain}: it publishes more than one, and RFC "
        "9989 has them discard them all.",
        "{domain} publishes more than one DMARC record, so receivers ignore them all",
    ),
    Rule(
        "dmarc_invalid",
        32,
        ("dmarc.invalid",),
        "Receivers ignore the DMARC record of {domain}: it is not a valid DMARC record.",
        "the DMARC record of {domain} is not valid, so receivers ignore it",
    ),
    Rule(
        "dmarc_policy_invalid",
        32,
        ("dmarc.policy_invalid",),
        "Receivers do not enforce DMARC for {domain}: the policy in its DMARC record is missing "
        "or invalid.",
        "the DMARC policy of {domain} is missing or invalid",
    ),
    # Inconclusive: the network mxbot runs in may block outgoing port 25 (common in clouds), so it
    # ranks below the definite problems that stop mail or get it junked.
    Rule(
        "port25_silent",
        30,
        ("smtp.connect_timeout",),
        "Could not reach any mail server of {domain} on port 25: a firewall drops the "
        "connections, or the network mxbot runs in blocks outgoing port 25.",
        "no mail server of {domain} answered on port 25",
        statuses=UNKNOWN,
        coverage=Coverage(ENDPOINTS, PORT25_DOWN, every=True, unknown=PORT25_UNKNOWN),
        consequences=NO_SESSION,
        demote_to=Status.SKIP,
    ),
    Rule(
        "spf_plus_all",
        28,
        ("spf.plus_all",),
        "Anyone can send mail as {domain} and pass SPF: its SPF record, or one it includes, "
        "ends in +all.",
        "the SPF record of {domain} passes every sender (+all)",
    ),
    Rule(
        "dmarc_missing",
        25,
        ("dmarc.missing",),
        "Receivers have no DMARC policy for mail from {domain}: it publishes no DMARC record, so "
        "anyone can send as it and large mailbox providers may reject its bulk mail.",
        "{domain} publishes no DMARC record",
    ),
    Rule(
        "dmarc_reports_refused",
        15,
        ("dmarc.rua_unauthorized", "dmarc.ruf_unauthorized"),
        "Receivers will not send the DMARC reports of {domain} where its record asks: the "
        "organisation at that address has not agreed to receive them (RFC 9990 3).",
        "receivers will not send the DMARC reports of {domain} to the address its record names",
    ),
)
