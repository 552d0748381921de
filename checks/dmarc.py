"""DMARC (RFC 9989, reports RFC 9990): which policy record covers <domain>, and does it stop spoofing?

Policy discovery is the DNS tree walk of RFC 9989 4.10 (no public-suffix list): `_dmarc.<domain>`,
then up the labels, at most eight lookups. The same walk decides the organisational domain (psd=n,
psd=y, or the record with the fewest labels), which in turn decides whether a report address is
external and needs the `<domain>._report._dmarc.<destination>` authorisation record (RFC 9990 3).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from checks.context import Context
from checks.dns import Answer, Outcome
from checks.model import DOMAIN, Finding, Record, Status

ID: Final = "dmarc"
TITLE: Final = "DMARC"
SCOPE: Final = DOMAIN

_POLICIES: Final = ("none", "quarantine", "reject")  # weakest first: the index is the strength
_MAX_WALK_LABELS = 7  # RFC 9989 4.10 step 5: long names jump straight to their last 7 labels
# RFC 9989 4.10 step 2: only records that *start* with the version tag count (DMARC1 is
# case-sensitive in the ABNF, %s"DMARC1"); anything else at _dmarc is discarded.
_VERSION = re.compile(r"[ \t]*v[ \t]*=[ \t]*DMARC1[ \t]*(;|$)", re.IGNORECASE)
_EXACT_VERSION = re.compile(r"[ \t]*[vV][ \t]*=[ \t]*DMARC1[ \t]*(;|$)")
_LOOKS_LIKE_DMARC = re.compile(r"\s*v\s*=\s*dmarc", re.IGNORECASE)
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_DIGITS = re.compile(r"[0-9]+")
_SIZE = re.compile(r"[0-9]+[kmgtKMGT]?")  # RFC 7489 "!10m" size limit on a report URI
_HOST = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,63}"
)
_FO_VALUES: Final = frozenset({"0", "1", "d", "s"})
_KNOWN: Final = frozenset(
    {"v", "p", "sp", "np", "adkim", "aspf", "fo", "psd", "t", "rua", "ruf", "pct", "rf", "ri"}
)
_REMOVED: Final = frozenset(
    {"pct", "rf", "ri"}
)  # RFC 9989 Appendix C: gone, still seen in the wild


class DmarcSyntaxError(ValueError):
    """The text is not a DMARC record receivers would use; the message says why."""


@dataclass(frozen=True, slots=True)
class ReportUri:
    """One `rua`/`ruf` entry. `domain` is the destination host of a mailto: URI, else ""."""

    uri: str
    scheme: str
    address: str = ""
    domain: str = ""
    size: str = ""  # RFC 7489 size limit ("10m"), kept for display only


@dataclass(frozen=True, slots=True)
class TagProblem:
    tag: str
    value: str
    reason: str


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    """A parsed record. Bad tag values become `problems` and defaults, as receivers treat them."""

    text: str
    tags: Mapping[str, str]  # first occurrence of each tag, names lower-cased
    p: str | None  # None: missing or invalid (see `policy`)
    sp: str | None = None
    np: str | None = None
    adkim: str = "r"
    aspf: str = "r"
    fo: tuple[str, ...] = ("0",)
    psd: str = "u"
    testing: bool = False
    rua: tuple[ReportUri, ...] = ()
    ruf: tuple[ReportUri, ...] = ()
    pct: int | None = None
    unknown: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    problems: tuple[TagProblem, ...] = ()
    invalid_policy_tags: tuple[str, ...] = ()  # p, sp or np present with a bad value

    @property
    def policy_valid(self) -> bool:
        """p present and valid, and sp/np (when present) valid too."""
        return self.p is not None and not self.invalid_policy_tags

    @property
    def policy(self) -> str | None:
        """p as receivers apply it (RFC 9989 4.7, as RFC 7489 6.6.3): a missing or bad p, sp or
        np turns the whole record into p=none when it has a usable rua, else into no policy."""
        if self.policy_valid:
            return self.p
        return "none" if any(u.scheme == "mailto" and u.domain for u in self.rua) else None

    @property
    def subdomain_policy(self) -> str | None:
        return (self.sp or self.p) if self.policy_valid else self.policy

    @property
    def nonexistent_policy(self) -> str | None:
        return (self.np or self.sp or self.p) if self.policy_valid else self.policy


@dataclass(frozen=True, slots=True)
class DmarcPolicy:
    """The policy that covers a domain, as a receiver would find it; shared with the BIMI check."""

    domain: str  # the domain asked about
    source: str  # the domain whose _dmarc record was used
    record: DmarcRecord
    org_domain: str
    applied: str | None  # p, sp or np as it applies to `domain`; None: no DMARC processing
    from_psd: bool = False  # the record is a public-suffix-domain record (psd=y) above the domain

    @property
    def enforcing(self) -> bool:
        """quarantine/reject for the domain and its subdomains, not in test mode, pct 100 (RFC 7489)."""
        strong = ("quarantine", "reject")
        r = self.record
        return (
            self.applied in strong
            and r.policy in strong
            and r.subdomain_policy in strong
            and not r.testing
            and (r.pct is None or r.pct >= 100)
        )


def parse(text: str) -> DmarcRecord:
    """Parse one DMARC TXT record (strings already joined). Pure and total: only DmarcSyntaxError."""
    if not _EXACT_VERSION.match(text):
        if _VERSION.match(text):
            raise DmarcSyntaxError("the version must be written v=DMARC1, in capitals")
        raise DmarcSyntaxError("the record must begin with v=DMARC1")
    tags: dict[str, str] = {}
    problems: list[TagProblem] = []
    order: list[str] = []
    for part in text.split(";")[1:]:
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not _TAG_NAME.fullmatch(name):
            problems.append(TagProblem(name or part.strip(), value, "is not a tag=value pair"))
            continue
        key = name.lower()
        if key in tags:
            problems.append(TagProblem(key, value, "appears twice; receivers use the first"))
            continue
        tags[key] = value
        order.append(key)
    return _build(text, tags, order, problems)


def _build(
    text: str, tags: dict[str, str], order: list[str], problems: list[TagProblem]
) -> DmarcRecord:
    invalid: list[str] = []

    def policy(tag: str) -> str | None:
        if tag not in tags:
            return None
        value = tags[tag].lower()
        if value in _POLICIES:
            return value
        problems.append(TagProblem(tag, tags[tag], "must be none, quarantine or reject"))
        invalid.append(tag)
        return None

    def choice(tag: str, allowed: tuple[str, ...], default: str) -> str:
        value = tags.get(tag, default).lower()
        if value in allowed:
            return value
        problems.append(TagProblem(tag, tags[tag], f"must be {' or '.join(allowed)}"))
        return default

    if "v" in tags:
        problems.append(TagProblem("v", tags["v"], "appears twice; only the first tag may be v"))
    p = policy("p")
    if "p" not in tags:
        problems.append(TagProblem("p", "", "is missing"))
    return DmarcRecord(
        text=text,
        tags=tags,
        p=p,
        sp=policy("sp"),
        np=policy("np"),
        adkim=choice("adkim", ("r", "s"), "r"),
        aspf=choice("aspf", ("r", "s"), "r"),
        fo=_fo(tags, problems),
        psd=choice("psd", ("y", "n", "u"), "u"),
        testing=choice("t", ("y", "n"), "n") == "y",
        rua=_uris(tags, "rua", problems),
        ruf=_uris(tags, "ruf", problems),
        pct=_pct(tags, problems),
        unknown=tuple(t for t in order if t not in _KNOWN),
        removed=tuple(t for t in order if t in _REMOVED),
        problems=tuple(problems),
        invalid_policy_tags=tuple(invalid),
    )


def _fo(tags: Mapping[str, str], problems: list[TagProblem]) -> tuple[str, ...]:
    if "fo" not in tags:
        return ("0",)
    options = tuple(o.strip().lower() for o in tags["fo"].split(":"))
    if not options or any(o not in _FO_VALUES for o in options):
        problems.append(TagProblem("fo", tags["fo"], "must be 0, 1, d or s, separated by colons"))
        return tuple(o for o in options if o in _FO_VALUES) or ("0",)
    return options


def _pct(tags: Mapping[str, str], problems: list[TagProblem]) -> int | None:
    if "pct" not in tags:
        return None
    value = tags["pct"]
    if not _DIGITS.fullmatch(value) or int(value) > 100:
        problems.append(TagProblem("pct", value, "must be a whole number from 0 to 100"))
        return None
    return int(value)


def _uris(tags: Mapping[str, str], tag: str, problems: list[TagProblem]) -> tuple[ReportUri, ...]:
    if tag not in tags:
        return ()
    out: list[ReportUri] = []
    for raw in tags[tag].split(","):
        raw = raw.strip()
        uri, problem = _uri(raw)
        if problem:
            problems.append(TagProblem(tag, raw, problem))
        if uri is not None:
            out.append(uri)
    return tuple(out)


def _uri(raw: str) -> tuple[ReportUri | None, str]:
    """One report URI; a mailto: with a plausible destination host, or a reason it is unusable."""
    if not raw:
        return None, "has an empty URI (a stray comma?)"
    uri, size = raw, ""
    head, bang, tail = raw.rpartition("!")
    if bang and _SIZE.fullmatch(tail):
        uri, size = head, tail
    scheme, colon, rest = uri.partition(":")
    if not colon or not scheme:
        return None, "is not a URI (write mailto:address@example.com)"
    scheme = scheme.lower()
    if scheme != "mailto":
        # RFC 9990 2: mailto is the only delivery method receivers use
        return ReportUri(
            uri, scheme, size=size
        ), "uses a URI scheme other than mailto:, which receivers do not send to"
    address = rest.split("?", 1)[0]
    local, at, host = address.rpartition("@")
    host = host.rstrip(".").lower()
    if not at or not local or not _HOST.fullmatch(host):
        return ReportUri(uri, scheme, address, size=size), "is not a usable mailto: address"
    return ReportUri(uri, scheme, address, host, size), ""


# ---- discovery ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Level:
    """One step of the tree walk: the TXT answer at _dmarc.<name> and the DMARC record in it."""

    name: str
    answer: Answer
    candidates: tuple[str, ...]  # TXT strings that look like DMARC records (shown as evidence)
    versioned: tuple[str, ...]  # those that start with v=DMARC1 exactly (what receivers count)
    record: DmarcRecord | None  # exactly one versioned record, parsed

    @property
    def query(self) -> str:
        return f"_dmarc.{self.name}"


@dataclass(frozen=True, slots=True)
class _Discovery:
    domain: str
    levels: tuple[_Level, ...]
    found: _Level | None  # the level whose record receivers use
    failed: _Level | None  # a lookup that failed before a record was found
    org_domain: str
    nonexistent: bool = False
    policy: DmarcPolicy | None = field(default=None)


def walk_names(domain: str) -> tuple[str, ...]:
    """The names RFC 9989 4.10 queries for `domain`, in order: at most 8, the TLD last."""
    labels = domain.rstrip(".").split(".")
    names = [".".join(labels)]
    count = len(labels) - 1 if len(labels) <= _MAX_WALK_LABELS else _MAX_WALK_LABELS
    names.extend(".".join(labels[-k:]) for k in range(count, 0, -1))
    return tuple(names)


async def policy(ctx: Context) -> DmarcPolicy | None:
    """The DMARC policy covering the target, memoised per report (None: none usable)."""
    discovery = await ctx.once("dmarc", lambda: _discover(ctx))
    return discovery.policy


async def _walk(ctx: Context, domain: str) -> tuple[_Level, ...]:
    names = walk_names(domain)
    answers = await asyncio.gather(*(ctx.dns.txt(f"_dmarc.{n}") for n in names))
    return tuple(_level(n, a) for n, a in zip(names, answers, strict=True))


def _level(name: str, answer: Answer) -> _Level:
    texts = answer.texts() if answer.ok else ()
    candidates = tuple(t for t in texts if _LOOKS_LIKE_DMARC.match(t))
    versioned = tuple(t for t in texts if _EXACT_VERSION.match(t))
    record = parse(versioned[0]) if len(versioned) == 1 else None
    return _Level(name, answer, candidates, versioned, record)


def _org_domain(domain: str, levels: tuple[_Level, ...]) -> str:
    """RFC 9989 4.10.1: psd=n marks it, psd=y marks the domain one label below, else fewest labels."""
    labels = domain.split(".")
    with_record = [lvl for lvl in levels if lvl.record is not None]
    for index, lvl in enumerate(levels):
        if lvl.record is None:
            continue
        if lvl.record.psd == "n":
            return lvl.name
        if lvl.record.psd == "y" and index > 0:
            return ".".join(labels[-(lvl.name.count(".") + 2) :])
    return with_record[-1].name if with_record else domain


async def org_domain(ctx: Context, domain: str) -> str:
    return _org_domain(domain, await _walk(ctx, domain))


async def _discover(ctx: Context) -> _Discovery:
    domain = ctx.domain
    levels = await _walk(ctx, domain)
    found = failed = None
    for lvl in levels:
        if lvl.answer.failed:
            failed = lvl
            break
        if lvl.record is not None:
            found = lvl
            break
    org = _org_domain(domain, levels)
    if found is None or found.record is None:
        return _Discovery(domain, levels, None, failed, org)
    record = found.record
    nonexistent = False
    if found.name == domain:
        applied = record.policy
    else:
        mx = await ctx.mx()
        nonexistent = mx.answer.outcome is Outcome.NXDOMAIN
        applied = record.nonexistent_policy if nonexistent else record.subdomain_policy
    from_psd = record.psd == "y" and found.name != domain
    pol = DmarcPolicy(domain, found.name, record, org, applied, from_psd)
    return _Discovery(domain, levels, found, None, org, nonexistent, pol)


# ---- the check ---------------------------------------------------------------------------------


async def run(ctx: Context) -> list[Finding]:
    d = await ctx.once("dmarc", lambda: _discover(ctx))
    own = d.levels[0]
    findings = _own_level(d, own)
    if d.failed is not None:
        return [*findings, _lookup_failed(d.failed)]
    if d.found is None or d.policy is None:
        if not findings:
            findings.append(_missing(d))
        return findings
    if d.policy.from_psd:
        return [*findings, _psd_only(d, d.policy)]
    if d.found is not own:
        findings.append(_inherited(d, d.policy))
    findings.extend(_judge(d.found, d.policy, d))
    findings.extend(await _report_auth(ctx, d.found, d.policy))
    if not any(f.status.severity >= Status.WARN.severity for f in findings):
        findings.append(_ok(d.found, d.policy))
    return findings


def _own_level(d: _Discovery, own: _Level) -> list[Finding]:
    """Records at _dmarc.<domain> that receivers discard: several, or not starting with v=DMARC1."""
    if own.versioned and len(own.versioned) > 1:
        return [
            Finding(
                "dmarc.multiple",
                Status.FAIL,
                f"{own.query} has {len(own.versioned)} DMARC records, so receivers discard all of "
                "them" + _then(d) + ".",
                fix="Delete all but one DMARC record (merge them into the suggested one).",
                record=_suggest(d.domain, parse(own.versioned[0])),
                evidence=own.candidates,
            )
        ]
    if own.versioned:
        return []
    findings = []
    for text in own.candidates:
        try:
            parse(text)
        except DmarcSyntaxError as exc:
            findings.append(
                Finding(
                    "dmarc.invalid",
                    Status.FAIL,
                    f"{own.query} has a record that is not a valid DMARC record ({exc}), so "
                    "receivers ignore it" + _then(d) + ".",
                    fix="Replace it with a record that starts with v=DMARC1.",
                    record=_suggest(d.domain, _salvage(text), org=d.org_domain),
                    evidence=(text,),
                )
            )
    return findings


def _salvage(text: str) -> DmarcRecord | None:
    """The tags of a record with a broken version tag, read as if it began with v=DMARC1."""
    _, sep, rest = text.partition(";")
    return parse("v=DMARC1;" + rest) if sep else None


def _then(d: _Discovery) -> str:
    if d.found is not None and d.found is not d.levels[0]:
        return f" and use the policy at {d.found.query} instead"
    if d.failed is None:
        return " and apply no DMARC policy"
    return ""


def _lookup_failed(level: _Level) -> Finding:
    return Finding(
        "dmarc.lookup_failed",
        Status.ERROR,
        f"The DNS lookup of {level.query} failed ({level.answer.describe()}), so the DMARC "
        "policy cannot be determined; receivers may defer or skip DMARC for now.",
        fix="Check that the domain's name servers answer TXT queries; then run the check again.",
    )


def _missing(d: _Discovery) -> Finding:
    asked = ", ".join(lvl.query for lvl in d.levels)
    return Finding(
        "dmarc.missing",
        Status.FAIL,
        f"There is no DMARC record for {d.domain} (asked {asked}), so receivers have no policy for "
        f"mail that fails SPF and DKIM: anyone can send as @{d.domain} and you get no reports.",
        fix="Publish a DMARC record with p=none and a rua address, read the reports, fix your "
        "senders, then move to p=quarantine and p=reject.",
        record=_suggest(d.domain, None, org=d.org_domain),
    )


def _psd_only(d: _Discovery, pol: DmarcPolicy) -> Finding:
    return Finding(
        "dmarc.psd_policy",
        Status.WARN,
        f"{d.domain} has no DMARC record of its own; receivers apply the public-suffix operator's "
        f"record at _dmarc.{pol.source} (psd=y), which gives it "
        f"{_show(pol.applied)}. You get no reports and cannot change that policy.",
        fix=f"Publish your own DMARC record at _dmarc.{d.org_domain}.",
        record=_suggest(d.org_domain, None),
        evidence=(pol.record.text,),
    )


def _inherited(d: _Discovery, pol: DmarcPolicy) -> Finding:
    tag = "np" if d.nonexistent else "sp"
    return Finding(
        "dmarc.inherited",
        Status.INFO,
        f"{d.domain} has no DMARC record of its own; receivers use the one at _dmarc.{pol.source} "
        f"(found by the DNS tree walk), and its {tag} policy gives {d.domain} "
        f"{_show(pol.applied)}.",
        evidence=(pol.record.text,),
    )


def _show(policy: str | None) -> str:
    return f"p={policy}" if policy else "no policy at all"


def _judge(level: _Level, pol: DmarcPolicy, d: _Discovery) -> list[Finding]:
    r = pol.record
    ev = (r.text,)
    out = [*_tag_findings(level, r), *_policy_findings(level, pol, d)]
    if not r.rua and r.policy is not None:
        out.append(
            Finding(
                "dmarc.rua_missing",
                Status.WARN,
                f"{level.query} has no rua address, so no receiver sends aggregate reports: you "
                "cannot see who sends mail as your domain, or what would break if you tighten p.",
                fix="Add a rua=mailto: address whose mailbox you read (or a DMARC report service).",
                record=_suggest(level.name, r, org=d.org_domain),
                evidence=ev,
            )
        )
    return out


def _tag_findings(level: _Level, r: DmarcRecord) -> list[Finding]:
    out: list[Finding] = []
    ev = (r.text,)
    for prob in r.problems:
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
                    record=_suggest(level.name, r),
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
                    record=_suggest(level.name, r),
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


def _removed(level: _Level, r: DmarcRecord, tag: str) -> Finding:
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


def _weaker(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and _POLICIES.index(a) < _POLICIES.index(b)


def _policy_findings(level: _Level, pol: DmarcPolicy, d: _Discovery) -> list[Finding]:
    r = pol.record
    ev = (r.text,)
    out: list[Finding] = []
    name = level.name
    if pol.applied == "none":
        where = (
            f"{level.query} {'says' if r.p == 'none' else 'is read as'} p=none"
            if level.name == d.domain
            else f"the policy inherited from {level.query} is none for {d.domain}"
        )
        out.append(
            Finding(
                "dmarc.policy_none",
                Status.WARN,
                f"{where}: receivers deliver mail that fails DMARC as usual, so anyone can still "
                f"send mail with a From: address at {d.domain}; only your reports will show it.",
                fix="Once reports show all your own mail passing, change to p=quarantine, then "
                "p=reject.",
                record=_suggest(
                    name,
                    r,
                    p=r.p if r.p in ("quarantine", "reject") else "quarantine",
                    sp="" if r.sp == "none" else None,
                    np="" if r.np == "none" else None,
                ),
                evidence=ev,
            )
        )
    if r.testing:
        out.append(
            Finding(
                "dmarc.testing",
                Status.WARN,
                f"{level.query} has t=y (test mode): receivers are asked not to apply "
                f"p={r.policy} in full (RFC 9989 5.3; like pct=0 in RFC 7489), so mail spoofing "
                f"{d.domain} is at most handled one level more gently and may reach inboxes.",
                fix="Remove t=y once the reports show your own mail passing.",
                record=_suggest(name, r, t=False),
                evidence=ev,
            )
        )
    if r.sp and _weaker(r.sp, r.policy):
        np_note = (
            " and from names that do not exist (np is not set, so sp applies to them too)"
            if r.np is None
            else ""
        )
        out.append(
            Finding(
                "dmarc.subdomain_policy_weaker",
                Status.WARN,
                f"{level.query} has p={r.policy} but sp={r.sp}: mail that fails DMARC from any "
                f"subdomain (From: someone@anything.{name}){np_note} gets only sp={r.sp}, so a "
                f"spoofer can use a subdomain instead of {name} itself.",
                fix="Remove sp= (subdomains then follow p) or raise it to match p.",
                record=_suggest(name, r, sp=""),
                evidence=ev,
            )
        )
    if r.np and _weaker(r.np, r.policy):
        out.append(
            Finding(
                "dmarc.nonexistent_policy_weaker",
                Status.WARN,
                f"{level.query} has p={r.policy} but np={r.np}: mail from subdomains that do not "
                f"even exist (From: x@made-up.{name}) gets only np={r.np}, so a spoofer can invent "
                "one.",
                fix="Remove np= or raise it to match p (no real mail comes from non-existent names).",
                record=_suggest(name, r, np=""),
                evidence=ev,
            )
        )
    return out


def _ok(level: _Level, pol: DmarcPolicy) -> Finding:
    r = pol.record
    extra = f", sp={r.sp}" if r.sp else ""
    return Finding(
        "dmarc.ok",
        Status.PASS,
        f"{level.query} publishes p={r.policy}{extra}: receivers {_effect(pol.applied)} mail that "
        f"fails DMARC for {pol.domain}.",
        evidence=(r.text,),
    )


def _effect(policy: str | None) -> str:
    return {"reject": "reject", "quarantine": "quarantine (junk)"}.get(policy or "", "deliver")


# ---- report destinations (RFC 9990 3) -----------------------------------------------------------


async def _report_auth(ctx: Context, level: _Level, pol: DmarcPolicy) -> list[Finding]:
    uris = [(tag, u) for tag, us in (("rua", pol.record.rua), ("ruf", pol.record.ruf)) for u in us]
    uris = [(tag, u) for tag, u in uris if u.domain]
    if not uris:
        return []
    own_org = await org_domain(ctx, level.name)
    hosts = list(dict.fromkeys(u.domain for _, u in uris))
    orgs = await asyncio.gather(*(org_domain(ctx, h) for h in hosts))
    external = [h for h, org in zip(hosts, orgs, strict=True) if org != own_org]
    answers = await asyncio.gather(*(ctx.dns.txt(_auth_name(level.name, h)) for h in external))
    by_host = dict(zip(external, answers, strict=True))
    out: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for tag, uri in uris:
        answer = by_host.get(uri.domain)
        if answer is None or (tag, uri.domain) in seen:
            continue
        seen.add((tag, uri.domain))
        finding = _auth_finding(level, tag, uri, answer)
        if finding is not None:
            out.append(finding)
    return out


def _auth_name(policy_domain: str, host: str) -> str:
    return f"{policy_domain}._report._dmarc.{host}"


def _auth_finding(level: _Level, tag: str, uri: ReportUri, answer: Answer) -> Finding | None:
    name = _auth_name(level.name, uri.domain)
    if answer.failed:
        return Finding(
            "dmarc.report_auth_lookup_failed",
            Status.ERROR,
            f"Could not look up {name} to see whether {uri.domain} accepts DMARC reports for "
            f"{level.name}: {answer.describe()}.",
        )
    if answer.ok and any(_EXACT_VERSION.match(t) for t in answer.texts()):
        return None
    kind = "aggregate" if tag == "rua" else "failure"
    return Finding(
        f"dmarc.{tag}_unauthorized",
        Status.FAIL,
        f"{tag}={uri.uri} sends {kind} reports to another organisation ({uri.domain}), which has "
        f"not published {name} (or *._report._dmarc.{uri.domain}) to accept them, so receivers "
        "will not send those reports (RFC 9990 3).",
        fix=f"Ask the operator of {uri.domain} to publish this record, or use an address at "
        f"your own domain.",
        record=Record(f"{name}.", "TXT", '"v=DMARC1"'),
        evidence=(level.record.text,) if level.record else (),
    )


# ---- suggested records --------------------------------------------------------------------------


def _suggest(
    name: str,
    r: DmarcRecord | None,
    *,
    org: str = "",
    p: str | None = None,
    sp: str | None = None,
    np: str | None = None,
    t: bool | None = None,
) -> Record:
    """A corrected record for _dmarc.<name>: valid tags kept, removed and bad ones dropped.

    Keyword arguments override a tag; an empty string removes it.
    """
    parts = ["v=DMARC1", f"p={p or (r.policy if r else None) or 'none'}"]
    chosen = {"sp": sp if sp is not None else r.sp if r else None}
    chosen["np"] = np if np is not None else r.np if r else None
    parts += [f"{k}={v}" for k, v in chosen.items() if v]
    if r is not None:
        parts += [f"{k}={getattr(r, k)}" for k in ("adkim", "aspf") if getattr(r, k) == "s"]
        if r.testing if t is None else t:
            parts.append("t=y")
        if r.psd != "u":
            parts.append(f"psd={r.psd}")
    rua = [u.uri for u in r.rua if u.domain] if r else []
    parts.append("rua=" + ",".join(rua or [f"mailto:dmarc-reports@{org or name}"]))
    if r is not None and any(u.domain for u in r.ruf):
        parts.append("ruf=" + ",".join(u.uri for u in r.ruf if u.domain))
        if r.fo != ("0",):
            parts.append("fo=" + ":".join(r.fo))
    return Record(f"_dmarc.{name}.", "TXT", _quote("; ".join(parts)))


def _quote(text: str) -> str:
    """TXT presentation: 255-byte strings, quotes and backslashes escaped (RFC 1035 5.1)."""
    escaped = [
        text[i : i + 255].replace("\\", "\\\\").replace('"', '\\"')
        for i in range(0, len(text), 255)
    ]
    return " ".join(f'"{s}"' for s in escaped)
