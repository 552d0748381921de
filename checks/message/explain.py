"""A bounce, explained (RFC 3463, the provider table in `knowledge`): the cause with its fix,
whether the sender retries, and who else failed. Pure, over a read `Dsn`."""

from __future__ import annotations

from checks.message import knowledge
from checks.message.bounce import Named
from checks.message.result import Dsn
from checks.model import Finding, Status


def findings(
    dsn: Dsn, known: knowledge.Known | None, names: Named, diagnostic: str
) -> list[Finding]:
    first = dsn.first
    if first is None or first.action in ("delivered", "relayed", "expanded"):
        return [
            Finding(
                "bounce.delivered",
                Status.PASS,
                "The report says the message was delivered"
                + (f" to {first.recipient}" if first else "")
                + "; nothing failed.",
            )
        ]
    who = knowledge.provider(f"{first.remote_mta} {diagnostic} {dsn.reporting_mta}")
    status = Status.FAIL if dsn.permanent else Status.WARN
    values = {
        "provider": who,
        "ip": names.ip,
        "recipient_domain": names.recipient_domain,
        "sender_domain": names.sender_domain,
    }
    evidence = tuple(r.diagnostic for r in dsn.recipients[:3] if r.diagnostic)
    if known is None:
        cause = Finding(
            "bounce.unknown_reason",
            status,
            f"{'Delivery failed' if dsn.permanent else 'Delivery is delayed'}"
            f"{' (' + first.status + ': ' + dsn.meaning + ')' if first.status else ''}; the reply "
            "is not one mxbot knows, so read it below.",
            fix="Read the remote server's reply; its URL or code usually names the fix.",
            evidence=evidence,
        )
    else:
        cause = Finding(
            f"bounce.{known.key}",
            status,
            knowledge.fill(known.cause, **values),
            fix=knowledge.fill(known.fix, **values),
            evidence=evidence,
        )
    return [cause, _retry(dsn), *_recipients(dsn)]


def _retry(dsn: Dsn) -> Finding:
    first = dsn.first
    code = first.status if first and first.status else "no status code"
    if dsn.permanent:
        return Finding(
            "bounce.permanent",
            Status.INFO,
            f"Permanent ({code}{': ' + dsn.meaning if dsn.meaning else ''}): the sending server "
            "has given up; re-send once the cause is fixed.",
        )
    return Finding(
        "bounce.temporary",
        Status.INFO,
        f"Temporary ({code}{': ' + dsn.meaning if dsn.meaning else ''}): the sending server keeps "
        "retrying (typically for up to 5 days) and bounces only then.",
    )


def _recipients(dsn: Dsn) -> list[Finding]:
    if len(dsn.recipients) <= 1:
        return []
    shown = ", ".join(r.recipient or "?" for r in dsn.recipients[:10])
    more = f" and {len(dsn.recipients) - 10} more" if len(dsn.recipients) > 10 else ""
    return [
        Finding(
            "bounce.recipients",
            Status.INFO,
            f"{len(dsn.recipients)} recipients failed: {shown}{more}.",
        )
    ]
