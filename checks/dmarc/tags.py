"""DMARC tag findings (RFC 9989): which tags of the record in use receivers ignore or misread."""

from __future__ import annotations

from checks.dmarc.discovery import Level
from checks.dmarc.record import DmarcRecord
from checks.dmarc.suggestion import suggest
from checks.model import Finding, Status


def tag_findings(level: Level, r: DmarcRecord) -> list[Finding]:
    """Bad tag values (receivers fall back to defaults), unknown tags, and tags RFC 9989 removed."""
    out: list[Finding] = []
    ev = (r.text,)
    for prob in r.problems:
        if prob.tag == "p" and "p" not in r.tags and r.policy == "none":
            # RFC 9989 4.7: p is RECOMMENDED, not required; a record without it (and with a rua
            # address, 4.10) is read as p=none, which the policy_none finding already explains.
            continue
        if prob.tag in r.invalid_policy_tags or (prob.tag == "p" and r.p is None):
            consequence = (
                "receivers treat the whole record as p=none (it has a rua address)"
                if r.policy == "none"
                else "receivers apply no DMARC policy at all"
            )
            out.append(
                Finding(
                    "dmarc.policy_invalid",
                    Status.FAIL,
                    f"In {level.query}, {prob.tag}={prob.value} {prob.reason}, so {consequence}."
                    if prob.value
                    else f"In {level.query}, {prob.tag} {prob.reason}, so {consequence}.",
                    fix=f"Set {prob.tag} to none, quarantine or reject.",
                    record=suggest(level.name, r),
                    evidence=ev,
                )
            )
        else:
            out.append(
                Finding(
                    "dmarc.tag_invalid",
                    Status.WARN,
                    f"In {level.query}, {prob.tag}={prob.value} {prob.reason}"
                    + (
                        "."
                        if "receivers" in prob.reason
                        else "; receivers ignore that value and use the default."
                    ),
                    fix="Correct or remove the tag.",
                    record=suggest(level.name, r),
                    evidence=ev,
                )
            )
    for tag in r.unknown:
        out.append(
            Finding(
                "dmarc.unknown_tag",
                Status.INFO,
                f"{level.query} has a tag that DMARC does not define ({tag}={r.tags[tag]}); "
                "receivers ignore it.",
                fix=f"Remove {tag}= unless a typo hides a real tag.",
                evidence=ev,
            )
        )
    out.extend(_removed(level, r, tag) for tag in r.removed)
    return out


def _removed(level: Level, r: DmarcRecord, tag: str) -> Finding:
    value = r.tags[tag]
    if tag == "pct":
        lower = {"reject": "quarantine", "quarantine": "none"}.get(r.policy or "", "none")
        if r.pct is None or r.pct >= 100:
            meaning = "pct=100 is the old default and changes nothing."
        elif r.policy in (None, "none"):
            meaning = "With p=none there is nothing to apply partially, so it changes nothing."
        elif r.pct == 0:
            meaning = (
                f"Receivers still on RFC 7489 apply the next lower policy (p={lower}) to all "
                f"failing mail instead of p={r.policy}; RFC 9989 receivers ignore pct and apply "
                "the policy in full (use t=y for a test phase)."
            )
        else:
            meaning = (
                f"Receivers still on RFC 7489 apply p={r.policy} to only {r.pct}% of failing mail "
                f"and p={lower} to the rest; RFC 9989 receivers ignore pct and apply the policy "
                "to all of it."
            )
    elif tag == "rf":
        meaning = "It chose the failure-report format; RFC 9989 receivers ignore it (AFRF is the only format)."
    else:
        meaning = (
            "It asked for an aggregate report interval; RFC 9989 receivers ignore it and send "
            "reports at least daily (RFC 9990)."
        )
    return Finding(
        "dmarc.removed_tag",
        Status.INFO,
        f"{level.query} uses {tag}={value}, a tag RFC 9989 removed. {meaning}",
        fix=f"Remove {tag}= once you no longer rely on RFC 7489 receivers honouring it.",
        evidence=(r.text,),
    )
