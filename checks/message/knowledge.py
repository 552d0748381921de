"""What receivers' bounce texts mean: Gmail, Microsoft, Yahoo and generic replies, each mapped to
a cause, a fix, and the live checks that would confirm it.

The table is data, most specific first. It is our own because no maintained package maps reply
texts to causes (`flufl.bounce` finds the recipients of a bounce, not why it bounced); the codes
and wordings are the providers' published ones (Gmail's SMTP error reference, Microsoft's NDR
reference, Yahoo's postmaster error codes) and RFC 3463 / RFC 7372.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

# Live checks a cause asks for (run by `checks.message.live`).
SENDER_AUTH: Final = "sender_auth"  # the sending domain's SPF, DKIM and DMARC
BLOCKLIST: Final = "blocklist"  # the sending IP on DNS blocklists
IP_PTR: Final = "ip_ptr"  # the sending IP's reverse DNS
RECIPIENT_MX: Final = "recipient_mx"  # the recipient domain's mail servers


@dataclass(frozen=True, slots=True)
class Known:
    """One known bounce reason: when it applies, what it means, what to do."""

    key: str  # the finding code's tail: bounce.<key>
    pattern: re.Pattern[str]  # over the status code and diagnostic text together
    cause: str  # one sentence; {provider}, {ip}, {recipient_domain}, {sender_domain} filled in
    fix: str
    live: tuple[str, ...] = ()


def _k(key: str, pattern: str, cause: str, fix: str, *live: str) -> Known:
    return Known(key, re.compile(pattern, re.I | re.S), cause, fix, live)


_BLOCKLISTS: Final = (
    r"spamhaus|spamcop|barracuda|sorbs|uceprotect|psbl|mailspike|spamrats|\bRBL\b|DNSBL|"
    r"block ?list|black ?list|listed at|listed on"
)

TABLE: Final = (
    # ---- Microsoft (Outlook.com, Exchange Online) --------------------------------------------
    _k(
        "microsoft_unauthenticated",
        r"5\.7\.515|does not meet the required authentication level",
        "Outlook.com refused the message: it requires senders of bulk volume to pass SPF, DKIM "
        "and DMARC (since May 2025), and {sender_domain} did not.",
        "Publish SPF listing the sending server, sign with DKIM for the From domain, publish "
        "DMARC (p=none at least) with both aligned; then re-send.",
        SENDER_AUTH,
    ),
    _k(
        "microsoft_dmarc_reject",
        r"5\.7\.509|does not pass DMARC verification",
        "Microsoft refused the message because it fails DMARC and {sender_domain}'s policy is "
        "reject.",
        "Align SPF or DKIM with the From domain (see the live checks), or send through a "
        "service that signs for it.",
        SENDER_AUTH,
    ),
    _k(
        "microsoft_blocked_ip",
        r"\bS3150\b|\bS3140\b|\bS3115\b|\bS3114\b|5\.7\.606|5\.7\.511|banned sending IP|"
        r"part of their network is on our block list",
        "Microsoft blocks the sending address{ip_text} on its own block list (not a public DNSBL).",
        "Request delisting at https://sender.office.com (Outlook.com's delist portal), after "
        "finding why the address sent unwanted mail.",
        BLOCKLIST,
        IP_PTR,
    ),
    _k(
        "microsoft_recipient_unknown",
        r"5\.4\.1.*(?:Access denied|Recipient address rejected)|5\.1\.10|RecipientNotFound",
        "The recipient does not exist in {recipient_domain}'s Microsoft 365 directory (Exchange "
        "Online rejects unknown addresses at the edge).",
        "Check the address for a typo, or ask the recipient's admin whether the mailbox exists.",
        RECIPIENT_MX,
    ),
    # ---- Yahoo / AOL ----------------------------------------------------------------------------
    _k(
        "yahoo_deferred_volume",
        r"\bTSS04\b|\bTS04\b|temporarily deferred due to unexpected volume or user complaints",
        "Yahoo is deferring mail from the sending address{ip_text}: unexpected volume or user "
        "complaints. It will be retried, but keeps failing while complaints stay high.",
        "Slow down, stop mailing recipients who never open, and join Yahoo's Complaint "
        "Feedback Loop; check the address's reputation.",
        BLOCKLIST,
    ),
    _k(
        "yahoo_blocked",
        r"\bTSS09\b|\bTS03\b|permanently deferred",
        "Yahoo has blocked mail from the sending address{ip_text} permanently (reputation).",
        "Fix what drew complaints, then ask Yahoo's postmaster support to review the address.",
        BLOCKLIST,
        IP_PTR,
    ),
    _k(
        "yahoo_policy",
        r"5\.7\.9\b.*(?:policy reasons|yahoo)|not accepted for policy reasons",
        "Yahoo refused the message for policy reasons: almost always DMARC failing, or SPF and "
        "DKIM missing for {sender_domain}.",
        "Make SPF and DKIM pass and align with the From domain (see the live checks).",
        SENDER_AUTH,
    ),
    # ---- Gmail ---------------------------------------------------------------------------------
    _k(
        "unauthenticated",
        r"5\.7\.26|[45]\.7\.26|unauthenticated email|is unauthenticated|"
        r"DMARC policy|did not pass DMARC",
        "{provider} refused the message as unauthenticated: DMARC failed for {sender_domain} "
        "(neither SPF nor DKIM passed and aligned with the From domain).",
        "Sign with DKIM for the From domain and list the sending server in SPF, with at least "
        "one of them aligned; then re-send.",
        SENDER_AUTH,
    ),
    _k(
        "spf_failed",
        r"[45]\.7\.27|[45]\.7\.23|SPF (?:check )?fail|does not pass SPF|"
        r"not designate.*permitted sender",
        "{provider} refused the message because SPF failed: {sender_domain}'s SPF record does "
        "not list the sending address{ip_text}.",
        "Add the sending server (its ip4:/include:) to the envelope domain's SPF record.",
        SENDER_AUTH,
    ),
    _k(
        "not_aligned",
        r"[45]\.7\.32|isn't aligned|not aligned with",
        "{provider} refused the message because the From domain {sender_domain} is not aligned "
        "with the domain SPF or DKIM authenticated.",
        "Sign with DKIM d={sender_domain} or use a Return-Path under it at the email service.",
        SENDER_AUTH,
    ),
    _k(
        "no_ptr",
        r"[45]\.7\.25|PTR record|reverse DNS|rDNS",
        "{provider} refused the message because the sending address{ip_text} has no "
        "forward-confirmed reverse DNS (PTR).",
        "Ask whoever owns the address (hosting provider or ISP) for a PTR naming the server, "
        "with an A/AAAA record back.",
        IP_PTR,
        BLOCKLIST,
    ),
    _k(
        "no_tls",
        r"4\.7\.29|wasn't sent over a TLS|over a TLS connection|TLS (?:is )?required|"
        r"must use TLS|requires encryption",
        "{provider} refused the message because it was not sent over TLS.",
        "Turn on STARTTLS for outgoing mail (Postfix: smtp_tls_security_level = may).",
    ),
    _k(
        "rate_limited",
        r"[45]\.7\.28|unusual rate|rate limited|rate-limited|too many messages",
        "{provider} is limiting mail from the sending address{ip_text}: an unusual rate of "
        "(possibly unsolicited) mail. It is retried, and keeps failing while the rate or the "
        "spam complaints stay high.",
        "Send more slowly, check the spam rate in Google Postmaster Tools (keep it under 0.3 %), "
        "and authenticate every message.",
        BLOCKLIST,
        SENDER_AUTH,
    ),
    _k(
        "spam_suspected",
        r"likely unsolicited|suspicious due to|appears to be spam|classified as spam|"
        r"spam content",
        "{provider} judged the message to be spam (content or the sender's reputation).",
        "Check the sender's reputation (Postmaster Tools), authentication and blocklists; send "
        "only to people who asked for the mail.",
        SENDER_AUTH,
        BLOCKLIST,
    ),
    # ---- blocklists named in the text --------------------------------------------------------
    _k(
        "blocklisted",
        _BLOCKLISTS,
        "The receiver refused the sending address{ip_text} because a DNS blocklist lists it.",
        "Find and stop the cause (a compromised account, an open relay, a bad list), then "
        "request removal from the list named in the bounce.",
        BLOCKLIST,
    ),
    # ---- generic ------------------------------------------------------------------------------
    _k(
        "recipient_unknown",
        r"\b5\.1\.1\b|user unknown|unknown user|no such user|does not exist|address not found|"
        r"mailbox unavailable|recipient not found|invalid recipient|no mailbox",
        "The recipient address does not exist at {recipient_domain}.",
        "Check the address for a typo; remove it from lists if it keeps bouncing.",
        RECIPIENT_MX,
    ),
    _k(
        "domain_unroutable",
        r"\b5\.1\.2\b|\b5\.4\.4\b|\b[45]\.1\.10\b|Host or domain name not found|"
        r"Name service error|no MX|unrouteable|Domain not found|null MX",
        "The recipient domain {recipient_domain} has no usable mail server (it does not exist, "
        "has no MX, or takes no mail).",
        "Check the domain for a typo; if it is yours, publish its MX records.",
        RECIPIENT_MX,
    ),
    _k(
        "mailbox_full",
        r"\b[45]\.2\.2\b|mailbox (?:is )?full|over quota|quota exceeded|insufficient storage",
        "The recipient's mailbox is full.",
        "Nothing to fix on the sending side: the recipient must make room (a 4.2.2 is retried).",
    ),
    _k(
        "too_big",
        r"\b5\.3\.4\b|\b5\.2\.3\b|message (?:size )?(?:is )?too (?:big|large)|exceeds .*size",
        "The message is larger than the receiver accepts.",
        "Send the attachment as a link, or compress it.",
    ),
    _k(
        "greylisted",
        r"greylist|graylist|try again later|please retry|4\.7\.1\b.*later",
        "The receiver deferred the message on purpose (greylisting or a temporary policy); the "
        "sender retries, and the retry normally goes through.",
        "Nothing to fix if it arrives later; if it never does, the sender is not retrying from "
        "the same address.",
    ),
    _k(
        "unreachable",
        r"\b4\.4\.[127]\b|\b5\.4\.7\b|Connection timed out|Connection refused|timed out|"
        r"Network is unreachable|No route to host|delivery time expired",
        "The recipient domain's mail server{ip_text} could not be reached (no answer, or the "
        "connection was refused).",
        "Check the recipient domain's MX and that its servers accept connections on port 25.",
        RECIPIENT_MX,
    ),
    _k(
        "relay_denied",
        r"Relay access denied|relaying denied|not permitted to relay|relay not permitted",
        "The receiving server is not a mail server for {recipient_domain} and refused to relay.",
        "Check the recipient domain's MX records: mail went to a server that does not take it.",
        RECIPIENT_MX,
    ),
    _k(
        "auth_failed",
        r"\b[45]\.7\.2[0-4]\b|DKIM",
        "{provider} refused the message because its DKIM or SPF authentication failed.",
        "Make DKIM and SPF pass for the sending domain (see the live checks).",
        SENDER_AUTH,
    ),
    _k(
        "policy",
        r"\b5\.7\.[01]\b",
        "{provider} refused the message by policy (reputation, content or authentication); "
        "its text does not say more.",
        "Check the sender's authentication and reputation (the live checks below).",
        SENDER_AUTH,
        BLOCKLIST,
    ),
)

_PROVIDERS: Final = (
    (re.compile(r"google|gmail|gsmtp", re.I), "Gmail"),
    (
        re.compile(r"outlook|hotmail|protection\.outlook|microsoft|office365|\blive\.com", re.I),
        "Microsoft",
    ),
    (re.compile(r"yahoo|aol\.com|yahoodns", re.I), "Yahoo"),
)


def provider(text: str) -> str:
    """Which provider's server wrote `text` ("" when none we know)."""
    return next((name for pattern, name in _PROVIDERS if pattern.search(text)), "")


def lookup(status: str, diagnostic: str) -> Known | None:
    """The first entry whose pattern matches the status code and diagnostic text."""
    text = f"{status} {diagnostic}"
    return next((k for k in TABLE if k.pattern.search(text)), None)


def fill(template: str, **values: str) -> str:
    """A cause with its blanks filled; an unknown value reads naturally."""
    defaults = {
        "provider": "The receiver",
        "ip": "",
        "ip_text": "",
        "recipient_domain": "the recipient's domain",
        "sender_domain": "the sending domain",
    }
    merged = {**defaults, **{k: v for k, v in values.items() if v}}
    if merged["ip"] and not values.get("ip_text"):
        merged["ip_text"] = f" {merged['ip']}"
    return template.format(**merged)
