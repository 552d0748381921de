"""DKIM selectors (RFC 6376 3.6.2.1): which `<selector>._domainkey` names to ask, and what answered.

Selectors cannot be listed, so without `--selector` we probe the ones the big providers use. A
made-up selector (the canary) tells a wildcard TXT record from a real key.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace
from typing import Final

from checks.context import Context
from checks.net.dns import Answer, Outcome

# Selectors probed when none is given: (selector, who uses it). Providers that make up random or
# dated selectors cannot be found this way (see UNGUESSABLE).
COMMON_SELECTORS: Final[tuple[tuple[str, str], ...]] = (
    ("google", "Google Workspace"),
    ("selector1", "Microsoft 365"),  # Exchange Online: selector1/selector2 CNAMEs
    ("selector2", "Microsoft 365"),
    ("s1", "SendGrid"),  # SendGrid automated security: s1/s2 CNAMEs
    ("s2", "SendGrid"),
    ("smtpapi", "SendGrid (legacy)"),
    ("k1", "Mailchimp"),  # Mailchimp: k1 (k2, k3 for newer set-ups)
    ("k2", "Mailchimp"),
    ("k3", "Mailchimp"),
    ("mandrill", "Mandrill (Mailchimp Transactional)"),
    ("fm1", "Fastmail"),  # Fastmail: fm1/fm2/fm3 CNAMEs to dkim.fmhosted.com
    ("fm2", "Fastmail"),
    ("fm3", "Fastmail"),
    ("zoho", "Zoho Mail"),
    ("zmail", "Zoho Mail"),
    ("mg", "Mailgun"),  # Mailgun: mg, mailo, pic, smtp depending on account age
    ("mailo", "Mailgun"),
    ("pic", "Mailgun"),
    ("smtp", "Mailgun (legacy)"),
    ("pm", "Postmark"),  # Postmark: mostly dated selectors like 20240101123456pm
    ("protonmail", "Proton Mail"),  # Proton: protonmail, protonmail2, protonmail3 CNAMEs
    ("protonmail2", "Proton Mail"),
    ("protonmail3", "Proton Mail"),
    ("sig1", "iCloud Mail custom domains"),
    ("mailjet", "Mailjet"),
    ("hs1", "HubSpot"),
    ("hs2", "HubSpot"),
    ("zendesk1", "Zendesk"),
    ("zendesk2", "Zendesk"),
    ("default", "generic (cPanel, OpenDKIM, rspamd defaults)"),
    ("dkim", "generic (rspamd, Mail-in-a-Box)"),
    ("mail", "generic (many MTAs, Brevo)"),
    ("selector", "generic"),
    ("key1", "generic"),
    ("key2", "generic"),
    ("s1024", "generic (key-size named)"),
    ("s2048", "generic (key-size named)"),
)
UNGUESSABLE: Final = (
    "Amazon SES (Easy DKIM uses three random per-domain selectors)",
    "Postmark (dated selectors such as 20240101123456pm)",
)
# A selector no one publishes: if it answers, a wildcard covers _domainkey.
CANARY: Final = "mxbot-no-such-selector"
# DKIM key records must carry p= (RFC 6376 3.6.1) and may start with v=DKIM1.
_DKIM_LIKE = re.compile(r"(^|;)\s*p\s*=|^\s*v\s*=\s*DKIM1\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Probe:
    """One selector asked about, and the DNS answer (after any CNAME chain)."""

    selector: str
    answer: Answer

    @property
    def name(self) -> str:
        return self.answer.name

    @property
    def chain(self) -> str:
        return " → ".join((self.name, *self.answer.cnames))


async def probe(ctx: Context, selectors: tuple[str, ...]) -> list[Probe]:
    """Ask for every selector at once (each once, in the order given)."""
    unique = tuple(dict.fromkeys(selectors))
    answers = await asyncio.gather(*(ctx.dns.txt(f"{s}._domainkey.{ctx.domain}") for s in unique))
    return [Probe(s, a) for s, a in zip(unique, answers, strict=True)]


def unless_noise(p: Probe, canary: Answer) -> Probe:
    """A guessed selector whose answer is a wildcard's (the same as a name nobody uses) or not a
    DKIM record at all (a zone-wide `* TXT "v=spf1 …"`) found nothing: say so, don't judge it."""
    if not p.answer.ok:
        return p
    texts = p.answer.texts()
    wildcard = canary.ok and set(texts) == set(canary.texts())
    if wildcard or not any(_DKIM_LIKE.search(t) for t in texts):
        return Probe(p.selector, replace(p.answer, outcome=Outcome.NODATA, rdata=()))
    return p
