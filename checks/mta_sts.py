"""MTA-STS (RFC 8461): does the domain publish a valid policy, and does every MX host match it?

Senders that honour MTA-STS look up `_mta-sts.<domain>` TXT, fetch the policy from
`https://mta-sts.<domain>/.well-known/mta-sts.txt`, and under `mode: enforce` refuse to deliver to an
MX host the policy does not name or whose certificate they cannot verify.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Final

from checks import tagvalue
from checks.context import Context, MxSet
from checks.model import DOMAIN, Fact, Finding, Record, Status, with_facts
from checks.net.https import FetchOutcome, FetchResult

ID: Final = "mta_sts"
TITLE: Final = "MTA-STS"
SCOPE: Final = DOMAIN

POLICY_PATH: Final = "/.well-known/mta-sts.txt"
MAX_POLICY_BYTES: Final = 65536  # RFC 8461 3.3: senders may refuse larger bodies
MAX_AGE_LIMIT: Final = 31557600  # RFC 8461 3.2: about one year
_SHORT_MAX_AGE = 86400  # RFC 8461 3.2 advises weeks; under a day protects almost nothing
_SUGGESTED_MAX_AGE = 604800
_MODES = frozenset({"enforce", "testing", "none"})
_TXT_VERSION = re.compile(r"v=STSv1[ \t]*(;|$)")  # RFC 8461 3.1: case-sensitive, first field
_ID = re.compile(r"[A-Za-z0-9]{1,32}")
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_PATTERN = re.compile(rf"(\*\.)?{_LABEL}(\.{_LABEL})*")
_KEY = re.compile(r"[A-Za-z0-9_]{1,32}")
# RFC 8461 3.1: sts-sep = *WSP ";" *WSP, nothing around "=" (%s"id="), names case-sensitive.
_TXT_GRAMMAR: Final = tagvalue.Grammar(
    tag_name=_KEY,  # narrower than sts-ext-name, which also allows "-" and "."
    fold_case=False,
    version=tagvalue.Version.LEADS,  # matched by _TXT_VERSION; a later v= is an extension
    on_problem=tagvalue.OnProblem.REJECT_RECORD,
    space_around_semicolon=tagvalue.WSP,
    space_before_equals=tagvalue.NO_SPACE,
    space_after_equals=tagvalue.NO_SPACE,
    blank=tagvalue.WSP,
)


class MtaStsSyntaxError(ValueError):
    """The TXT record or policy is not usable MTA-STS; the message says why."""


@dataclass(frozen=True, slots=True)
class StsRecord:
    """The `_mta-sts` TXT record (RFC 8461 3.1)."""

    id: str
    extensions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class MtaStsPolicy:
    """A parsed policy file (RFC 8461 3.2)."""

    mode: str
    mx: tuple[str, ...]
    max_age: int
    version: str = "STSv1"
    extensions: tuple[tuple[str, str], ...] = ()

    def matches(self, host: str) -> bool:
        return any(mx_matches(pattern, host) for pattern in self.mx)


def parse_txt(text: str) -> StsRecord:
    """Parse one `_mta-sts` TXT record. Pure."""
    if not _TXT_VERSION.match(text):
        raise MtaStsSyntaxError("the record must begin with v=STSv1")
    read = tagvalue.parse(text, _TXT_GRAMMAR)
    if read.problems:
        raise MtaStsSyntaxError(_describe(read.problems[0]))
    values = read.tags
    extensions = [(name, value) for name, value in values.items() if name != "id"]
    sts_id = values.get("id")
    if sts_id is None:
        raise MtaStsSyntaxError("the record has no id= field")
    if not _ID.fullmatch(sts_id):
        raise MtaStsSyntaxError(f"id={sts_id[:40]!r}: use 1 to 32 letters and digits")
    return StsRecord(sts_id, tuple(extensions))


def _describe(problem: tagvalue.Problem) -> str:
    if problem.kind is tagvalue.Kind.DUPLICATE:
        return f"{problem.name}= appears more than once"
    return f"{problem.entry[:60]!r} is not a name=value field"


def parse(text: str) -> MtaStsPolicy:
    """Parse a policy body (CRLF or LF lines). Pure, so it can be tested exhaustively."""
    singles: dict[str, str] = {}
    mx: list[str] = []
    extensions: list[tuple[str, str]] = []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.removesuffix("\r").strip(" \t")
        if not line:
            continue
        key, sep, value = line.partition(":")
        key, value = key.strip(" \t"), value.strip(" \t")
        if not sep or not _KEY.fullmatch(key):
            raise MtaStsSyntaxError(f"line {number} ({line[:60]!r}) is not a 'key: value' line")
        if key == "mx":
            mx.append(_mx_pattern(value))
        elif key in ("version", "mode", "max_age"):
            if key in singles:
                raise MtaStsSyntaxError(f"{key} appears more than once")
            singles[key] = value
        else:
            extensions.append((key, value))  # RFC 8461 3.2: unknown fields are ignored
    return _policy(singles, tuple(mx), tuple(extensions))


def mx_matches(pattern: str, host: str) -> bool:
    """RFC 8461 4.1: exact match, or `*.` standing for exactly one leftmost label."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        first, dot, rest = host.partition(".")
        return bool(first) and bool(dot) and rest == pattern[2:]
    return host == pattern


def _mx_pattern(value: str) -> str:
    pattern = value.lower().rstrip(".")
    if not _PATTERN.fullmatch(pattern) or len(pattern) > 253:
        raise MtaStsSyntaxError(f"mx: {value[:60]!r} is not a host name or *.domain pattern")
    return pattern


def _policy(
    singles: dict[str, str], mx: tuple[str, ...], extensions: tuple[tuple[str, str], ...]
) -> MtaStsPolicy:
    version = singles.get("version")
    if version != "STSv1":
        raise MtaStsSyntaxError(f"version: {version or '(missing)'}; it must be STSv1")
    mode = singles.get("mode")
    if mode not in _MODES:
        raise MtaStsSyntaxError(f"mode: {mode or '(missing)'}; use enforce, testing or none")
    max_age_text = singles.get("max_age")
    if max_age_text is None:
        raise MtaStsSyntaxError("max_age is missing")
    if not max_age_text.isascii() or not max_age_text.isdigit() or len(max_age_text) > 10:
        raise MtaStsSyntaxError(f"max_age: {max_age_text[:20]!r} is not a number of seconds")
    max_age = int(max_age_text)
    if max_age > MAX_AGE_LIMIT:
        raise MtaStsSyntaxError(f"max_age: {max_age} exceeds the limit of {MAX_AGE_LIMIT} seconds")
    if not mx and mode != "none":
        raise MtaStsSyntaxError(f"mode: {mode} needs at least one mx: line")
    return MtaStsPolicy(mode, mx, max_age, version, extensions)


# ---- the check --------------------------------------------------------------------------------


async def _fetch_policy(ctx: Context) -> FetchResult:
    """The policy file, fetched alongside the TXT lookup; with no HTTPS client, nothing connects."""
    host = f"mta-sts.{ctx.domain}"
    if ctx.services.https is None:
        return FetchResult(
            f"https://{host}{POLICY_PATH}", FetchOutcome.REFUSED, "no HTTPS client is configured"
        )
    return await ctx.services.https.fetch(ctx.dns, host, POLICY_PATH, max_bytes=MAX_POLICY_BYTES)


async def run(ctx: Context) -> list[Finding]:
    mx = await ctx.mx()
    if mx.null:
        return [Finding("mta_sts.skipped", Status.SKIP, f"{ctx.domain} takes no mail (null MX).")]
    txt_name = f"_mta-sts.{ctx.domain}"
    answer, fetched = await asyncio.gather(ctx.dns.txt(txt_name), _fetch_policy(ctx))
    if answer.failed:
        return [
            Finding(
                "mta_sts.lookup_failed",
                Status.ERROR,
                f"The lookup of {txt_name} TXT failed: {answer.describe()}.",
                fix="Check that the domain's name servers answer; then run the check again.",
            )
        ]
    records = [t for t in answer.texts() if t.startswith("v=STSv1")]
    return with_facts(_verdict(ctx, mx, records, fetched), _published(records, fetched))


def _published(records: list[str], fetched: FetchResult) -> list[Fact]:
    """Record history: the TXT record's id and the policy served ("" when none is), each only
    when it could be read."""
    ids = []
    for text in records:
        try:
            ids.append(parse_txt(text).id)
        except MtaStsSyntaxError:
            ids.append(text)
    facts = [Fact("mta_sts.id", 0, text="\n".join(sorted(ids)))]
    response = fetched.response
    if response is not None and response.status == 404:
        facts.append(Fact("mta_sts.policy", 0, text=""))
    elif (policy := _usable_policy(fetched)) is not None:
        shown = [f"mode: {policy.mode}", f"max_age: {policy.max_age}"]
        shown += [f"mx: {pattern}" for pattern in sorted(policy.mx)]
        facts.append(Fact("mta_sts.policy", 0, text="\n".join(shown)))
    return facts


def _verdict(ctx: Context, mx: MxSet, records: list[str], fetched: FetchResult) -> list[Finding]:
    txt_name = f"_mta-sts.{ctx.domain}"
    if not records:
        return _without_txt(ctx.domain, mx, fetched)
    if len(records) > 1:
        return [
            Finding(
                "mta_sts.txt_multiple",
                Status.FAIL,
                f"{txt_name} has {len(records)} MTA-STS TXT records, so senders ignore MTA-STS "
                "for the domain (RFC 8461 3.1).",
                fix="Delete all but one.",
                evidence=tuple(records),
            )
        ]
    try:
        record = parse_txt(records[0])
    except MtaStsSyntaxError as exc:
        return [
            Finding(
                "mta_sts.txt_invalid",
                Status.FAIL,
                f"The MTA-STS record at {txt_name} is invalid: {exc}; senders ignore it.",
                fix="Replace it with a valid record.",
                record=_txt_record(ctx.domain),
                evidence=(records[0],),
            )
        ]
    return _with_txt(ctx.domain, mx, record, fetched)


def _without_txt(domain: str, mx: MxSet, fetched: FetchResult) -> list[Finding]:
    policy = _usable_policy(fetched)
    if policy is None:
        return [
            Finding(
                "mta_sts.none",
                Status.INFO,
                f"{domain} does not use MTA-STS (optional): senders deliver over TLS when they "
                "can, but an attacker on the path can strip it.",
                fix=f"Optional: serve a policy at https://mta-sts.{domain}{POLICY_PATH} "
                f"(start with mode: testing) and publish the TXT record. Policy:\n"
                f"{_suggested_policy(domain, mx)}",
                record=_txt_record(domain),
            )
        ]
    return [
        Finding(
            "mta_sts.txt_missing",
            Status.FAIL,
            f"A policy is served at https://mta-sts.{domain}{POLICY_PATH} but _mta-sts.{domain} "
            "has no TXT record, so senders never fetch it and MTA-STS is not in effect.",
            fix="Publish the TXT record below (change the id whenever the policy changes).",
            record=_txt_record(domain),
            evidence=_policy_evidence(fetched),
        )
    ]


def _usable_policy(fetched: FetchResult) -> MtaStsPolicy | None:
    response = fetched.response
    if response is None or response.status != 200:
        return None
    try:
        return parse(response.body.decode("utf-8"))
    except (UnicodeDecodeError, MtaStsSyntaxError):
        return None


def _with_txt(domain: str, mx: MxSet, record: StsRecord, fetched: FetchResult) -> list[Finding]:
    problem = _fetch_problem(domain, mx, fetched)
    response = fetched.response
    if problem is not None or response is None:  # no response means a problem was found
        return [problem] if problem is not None else []
    findings: list[Finding] = []
    if response.content_type != "text/plain":
        findings.append(
            Finding(
                "mta_sts.policy_content_type",
                Status.WARN,
                f"The policy is served as {response.content_type or 'no Content-Type'}, not "
                "text/plain as RFC 8461 3.3 requires; some senders reject it.",
                fix="Serve mta-sts.txt with Content-Type: text/plain.",
            )
        )
    try:
        policy = parse(response.body.decode("utf-8"))
    except (UnicodeDecodeError, MtaStsSyntaxError) as exc:
        why = "it is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
        return [
            *findings,
            Finding(
                "mta_sts.policy_invalid",
                Status.FAIL,
                f"The MTA-STS policy of {domain} is invalid ({why}); senders treat the domain "
                "as having no policy.",
                fix=f"Serve a valid policy, for example:\n{_suggested_policy(domain, mx)}",
                evidence=_policy_evidence(fetched),
            ),
        ]
    judged = _judge(domain, mx, record, policy, fetched)
    if findings:  # a warning above: the summary is no longer a pass
        judged = [f for f in judged if f.code != "mta_sts.ok"]
    return [*findings, *judged]


def _fetch_problem(domain: str, mx: MxSet, fetched: FetchResult) -> Finding | None:
    url = fetched.url
    host = f"mta-sts.{domain}"
    serve = f"Serve the policy at https://{host}{POLICY_PATH}:\n{_suggested_policy(domain, mx)}"
    consequence = "so senders cannot fetch the policy and MTA-STS is not in effect"
    response = fetched.response
    match fetched.outcome:
        case FetchOutcome.OK if response is not None and response.is_redirect:
            where = response.header("location") or "nowhere"
            return Finding(
                "mta_sts.policy_redirect",
                Status.FAIL,
                f"{url} redirects (HTTP {response.status}) to {where}; RFC 8461 3.3 forbids "
                f"following redirects, {consequence}.",
                fix=f"Serve the file itself at {url}, with no redirect.",
            )
        case FetchOutcome.OK if response is not None and response.status != 200:
            return Finding(
                "mta_sts.policy_http_status",
                Status.FAIL,
                f"{url} answered HTTP {response.status} {response.reason}, {consequence}.",
                fix=serve,
            )
        case FetchOutcome.OK:
            return None
        case FetchOutcome.REFUSED | FetchOutcome.DNS_FAILED:
            return Finding(
                "mta_sts.policy_not_checked",
                Status.ERROR,
                f"The policy at {url} could not be checked: {fetched.detail}.",
            )
        case FetchOutcome.NO_ADDRESS:
            return Finding(
                "mta_sts.policy_host_missing",
                Status.FAIL,
                f"_mta-sts.{domain} announces a policy, but {host} has no address, {consequence}.",
                fix=f"Publish an A/AAAA record for {host} on a web server with a valid "
                f"certificate for that name. {serve}",
                record=Record(f"{host}.", "A", "<address of your web server>"),
            )
        case FetchOutcome.TLS_FAILED:
            return Finding(
                "mta_sts.policy_certificate",
                Status.FAIL,
                f"Fetching the policy failed: {fetched.detail}; senders require a valid "
                f"certificate for {host}, {consequence}.",
                fix=f"Install a certificate for {host} issued by a public CA, with the full chain.",
            )
        case FetchOutcome.TOO_LARGE:
            return Finding(
                "mta_sts.policy_too_large",
                Status.FAIL,
                f"The policy at {url} is larger than {MAX_POLICY_BYTES} bytes, {consequence}.",
                fix=serve,
            )
        case _:
            return Finding(
                "mta_sts.policy_unreachable",
                Status.FAIL,
                f"Fetching {url} failed: {fetched.detail}, {consequence}.",
                fix=f"Make sure {host} serves HTTPS on port 443. {serve}",
            )


def _judge(
    domain: str, mx: MxSet, record: StsRecord, policy: MtaStsPolicy, fetched: FetchResult
) -> list[Finding]:
    evidence = _policy_evidence(fetched)
    summary = (
        f"MTA-STS policy id {record.id}: mode {policy.mode}, mx {', '.join(policy.mx) or '(none)'}, "
        f"max_age {policy.max_age} s."
    )
    if policy.mode == "none":
        return [
            Finding(
                "mta_sts.mode_none",
                Status.INFO,
                f"{summary} Mode none withdraws MTA-STS: senders stop applying it.",
                fix="If that is not intended, serve mode: testing or enforce and change the TXT id.",
                evidence=evidence,
            )
        ]
    findings = _mx_findings(domain, mx, policy, evidence)
    if policy.max_age < _SHORT_MAX_AGE:
        findings.append(
            Finding(
                "mta_sts.max_age_short",
                Status.WARN,
                f"max_age is {policy.max_age} s: senders forget the policy that quickly, so it "
                "protects little against an attacker who blocks the policy fetch.",
                fix=f"Use max_age: {_SUGGESTED_MAX_AGE} (a week) or more once the policy is stable.",
            )
        )
    if policy.mode == "testing":
        findings.append(
            Finding(
                "mta_sts.mode_testing",
                Status.INFO,
                f"{summary} Mode testing: senders report TLS problems (via TLS-RPT) but still "
                "deliver without TLS when it fails.",
                fix="Read the TLS-RPT reports; when they are clean, switch to mode: enforce and "
                "change the id in the TXT record.",
                evidence=evidence,
            )
        )
    elif not any(f.status.severity >= Status.WARN.severity for f in findings):
        findings.append(Finding("mta_sts.ok", Status.PASS, summary, evidence=evidence))
    return findings


def _mx_findings(
    domain: str, mx: MxSet, policy: MtaStsPolicy, evidence: tuple[str, ...]
) -> list[Finding]:
    if not mx.hosts:
        return []
    unmatched = [h.name for h in mx.hosts if not policy.matches(h.name)]
    if not unmatched:
        return []
    enforce = policy.mode == "enforce"
    consequence = (
        "senders that honour MTA-STS refuse to deliver to them"
        if enforce
        else "under mode: enforce senders would refuse to deliver to them; now they report it"
    )
    lines = "\n".join(f"mx: {h}" for h in unmatched)
    return [
        Finding(
            "mta_sts.mx_mismatch",
            Status.FAIL if enforce else Status.WARN,
            f"The MTA-STS policy of {domain} does not cover MX host{'s' if len(unmatched) > 1 else ''} "
            f"{', '.join(unmatched)}; {consequence}.",
            fix=f"Add to the policy:\n{lines}\nthen change the id in the _mta-sts TXT record so "
            "senders fetch the new policy.",
            evidence=evidence,
        )
    ]


def _txt_record(domain: str) -> Record:
    return Record(f"_mta-sts.{domain}.", "TXT", '"v=STSv1; id=20240101000000"')


def _suggested_policy(domain: str, mx: MxSet) -> str:
    hosts = [h.name for h in mx.hosts if h.name != "."] or [f"mail.{domain}"]
    lines = ["version: STSv1", "mode: testing", *(f"mx: {h}" for h in hosts)]
    return "\n".join([*lines, f"max_age: {_SUGGESTED_MAX_AGE}"])


def _policy_evidence(fetched: FetchResult) -> tuple[str, ...]:
    if fetched.response is None:
        return ()
    text = fetched.response.body[:2000].decode("utf-8", "replace")
    return tuple(line.rstrip("\r") for line in text.split("\n") if line.strip())
