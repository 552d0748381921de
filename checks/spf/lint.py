"""SPF lint (RFC 7208 4.6.4, 4.7, 5, 6.1): what in <domain>'s one valid SPF record, and in the
records it includes, makes receivers judge its mail wrongly or give up?

Each finding builder returns a `Proposal`: its findings and the edits they propose; `lint` joins
them and attaches the one corrected record to every finding that asked for a repair.
"""

from __future__ import annotations

from checks.model import Finding, Status
from checks.net.dns import Answer
from checks.spf.evaluate import MAX_LOOKUPS, MAX_NAMES, MAX_VOID_LOOKUPS
from checks.spf.parse import Modifier, SpfRecord, uses_validated_name
from checks.spf.repair import Append, Drop, Proposal, Replace, attach
from checks.spf.tree import Node, Problem

_UDP_LIMIT = 512  # RFC 1035 4.2.1: larger answers need EDNS or TCP


def lint(domain: str, record: SpfRecord, tree: Node, answer: Answer) -> list[Finding]:
    """Every finding about the record and its tree, in a fixed order, repairs attached."""
    proposal = (
        _all_findings(domain, record)
        + _order_findings(domain, record)
        + _lookup_findings(domain, tree)
        + _void_findings(domain, tree)
        + sum((_node_findings(domain, node) for node in tree.walk()), Proposal())
        + _size_findings(domain, answer)
        + _ptr_findings(domain, record)
    )
    return attach(domain, record, proposal)


# ---- the record's own terms -------------------------------------------------------------------
def _all_findings(domain: str, record: SpfRecord) -> Proposal:
    alls = [m for m in record.mechanisms if m.name == "all"]
    if not alls:
        return Proposal() if record.redirect is not None else _no_all(domain, record)
    first = alls[0]
    if first.qualifier == "+":
        finding = Finding(
            "spf.plus_all",
            Status.FAIL,
            f"{domain}'s SPF record ends in {first.text}, which authorises every server on the "
            "internet to send as the domain.",
            fix="Replace it with ~all (or -all), after listing your real senders.",
            evidence=(record.text,),
        )
        return Proposal((finding,), (Replace(finding.code, first.text, "~all"),))
    if first.qualifier == "?":
        finding = Finding(
            "spf.neutral_all",
            Status.WARN,
            f"{domain}'s SPF record ends in ?all, so unlisted servers get neutral: spoofed mail "
            "is treated as if the domain had no SPF policy.",
            fix="Use ~all (or -all once every sender is listed).",
            evidence=(record.text,),
        )
        return Proposal((finding,), (Replace(finding.code, first.text, "~all"),))
    return Proposal()


def _no_all(domain: str, record: SpfRecord) -> Proposal:
    finding = Finding(
        "spf.no_all",
        Status.WARN,
        f"{domain}'s SPF record has no all mechanism and no redirect, so mail from any "
        "unlisted server gets neutral (RFC 7208 4.7): receivers treat it as if there were no "
        "policy.",
        fix="End the record with ~all (or -all once you are sure every sender is listed).",
        evidence=(record.text,),
    )
    return Proposal((finding,), (Append(finding.code, "~all"),))


def _order_findings(domain: str, record: SpfRecord) -> Proposal:
    mechanisms = list(record.mechanisms)
    index = next((i for i, m in enumerate(mechanisms) if m.name == "all"), None)
    if index is None:
        return Proposal()
    proposal = Proposal()
    if index + 1 < len(mechanisms):
        after = [m.text for m in mechanisms[index + 1 :]]
        finding = Finding(
            "spf.terms_after_all",
            Status.WARN,
            f"{domain}'s SPF record has {', '.join(after)} after {mechanisms[index].text}; "
            "evaluation stops at all, so those terms are never used.",
            fix=f"Move them before {mechanisms[index].text} if they are senders, else remove them.",
            evidence=(record.text,),
        )
        proposal += Proposal((finding,), (Drop(finding.code, frozenset(after)),))
    if record.redirect is not None:
        proposal += _redirect_ignored(domain, record)
    return proposal


def _redirect_ignored(domain: str, record: SpfRecord) -> Proposal:
    redirect = next(
        t.text for t in record.terms if isinstance(t, Modifier) and t.name == "redirect"
    )
    finding = Finding(
        "spf.redirect_ignored",
        Status.WARN,
        f"{domain}'s SPF record has both an all mechanism and {redirect}; RFC 7208 6.1 says "
        "the redirect is then ignored.",
        fix="Remove the redirect, or remove the all mechanism if the redirect is what you meant.",
        evidence=(record.text,),
    )
    return Proposal((finding,), (Drop(finding.code, frozenset({redirect})),))


def _size_findings(domain: str, answer: Answer) -> Proposal:
    if answer.size <= _UDP_LIMIT and not answer.tcp:
        return Proposal()
    how = "it needed TCP" if answer.tcp else f"it is {answer.size} bytes"
    finding = Finding(
        "spf.too_large",
        Status.WARN,
        f"The TXT answer at {domain} is too large for a plain 512-byte UDP reply ({how}); "
        "receivers without EDNS must retry over TCP, and some give up with temperror.",
        fix=f"Delete stale TXT records at {domain} (old verification tokens) and keep the SPF "
        "record short.",
    )
    return Proposal((finding,))


def _ptr_findings(domain: str, record: SpfRecord) -> Proposal:
    uses = [m.text for m in record.mechanisms if m.name == "ptr" or _uses_p(m.domain_spec)]
    if any(
        t.name == "redirect" and _uses_p(t.value) for t in record.terms if isinstance(t, Modifier)
    ):
        uses.append(f"redirect={record.redirect}")
    if not uses:
        return Proposal()
    finding = Finding(
        "spf.ptr_deprecated",
        Status.WARN,
        f"{domain}'s SPF record uses {', '.join(uses)}: RFC 7208 5.5 and 7.3 say not to "
        "use ptr or the %{p} macro: they are slow, cost several lookups per message, and "
        "many receivers skip or distrust them.",
        fix="Replace them with ip4:/ip6: ranges (or a:host names) for your sending servers.",
        evidence=(record.text,),
    )
    return Proposal((finding,))


def _uses_p(spec: str | None) -> bool:
    return spec is not None and uses_validated_name(spec)


# ---- the tree's limits (RFC 7208 4.6.4) -------------------------------------------------------
def _lookup_findings(domain: str, tree: Node) -> Proposal:
    if tree.total <= MAX_LOOKUPS:
        return Proposal()
    finding = Finding(
        "spf.too_many_lookups",
        Status.FAIL,
        f"{domain}'s SPF record needs {tree.total} DNS lookups when fully evaluated; "
        f"receivers stop at {MAX_LOOKUPS} (RFC 7208 4.6.4) and return permerror, so mail "
        "from senders listed late in the record fails SPF.",
        fix="Remove includes you no longer use, replace a/mx with ip4:/ip6: ranges, or "
        "move some senders to a subdomain with its own SPF record.",
        evidence=tuple(tree.lines()),
    )
    return Proposal((finding,))


def _void_findings(domain: str, tree: Node) -> Proposal:
    voids = tuple(f"{n.domain}: {v}" for n in tree.walk() for v in n.voids)
    findings: tuple[Finding, ...] = ()
    if 0 < tree.void_total <= MAX_VOID_LOOKUPS:
        # Allowed, but dead: such a term never matches, and each one uses up the budget of two
        # void lookups that a receiver allows the whole evaluation (RFC 7208 4.6.4).
        findings = (_void_lookups(domain, voids),)
    if tree.void_total > MAX_VOID_LOOKUPS:
        findings = (_too_many_void_lookups(domain, voids),)
    if not tree.voids:  # the record's own dead terms can be dropped; an include's are not ours
        return Proposal(findings)
    own = frozenset(tree.voids)
    # Both void findings offer the same record; the second drop finds nothing left to remove.
    return Proposal(
        findings, (Drop("spf.void_lookups", own), Drop("spf.too_many_void_lookups", own))
    )


def _void_lookups(domain: str, voids: tuple[str, ...]) -> Finding:
    return Finding(
        "spf.void_lookups",
        Status.WARN,
        f"{domain}'s SPF tree has {len(voids)} term{'s' * (len(voids) != 1)} whose "
        "lookup finds nothing (a name that does not exist or has no records): "
        f"{', '.join(voids)}. Such terms never match, and receivers allow only "
        f"{MAX_VOID_LOOKUPS} of them per evaluation (RFC 7208 4.6.4); one more, in your "
        "record or a provider's include, makes every message permerror.",
        fix="Remove the terms naming hosts or domains that no longer exist.",
        evidence=voids,
    )


def _too_many_void_lookups(domain: str, voids: tuple[str, ...]) -> Finding:
    return Finding(
        "spf.too_many_void_lookups",
        Status.FAIL,
        f"{len(voids)} terms in {domain}'s SPF tree look up names that do not exist or have "
        f"no records; receivers allow {MAX_VOID_LOOKUPS} (RFC 7208 4.6.4) and then return "
        "permerror.",
        fix="Remove the terms naming hosts or domains that no longer exist.",
        evidence=voids,
    )


# ---- each record in the tree ------------------------------------------------------------------
def _node_findings(domain: str, node: Node) -> Proposal:
    where = f"{node.via} (in the SPF tree of {domain})"
    match node.problem:
        case Problem.NO_SPF:
            return _no_spf(where, node)
        case Problem.LOOP:
            return Proposal((_loop(where, node),))
        case Problem.LOOKUP_FAILED:
            finding = Finding(
                "spf.lookup_failed",
                Status.ERROR,
                f"The TXT lookup of {node.domain} ({where}) failed: {node.detail}.",
            )
            return Proposal((finding,))
        case Problem.MULTIPLE | Problem.SYNTAX:
            return Proposal((_broken(where, node, node.problem),))
        case _:
            return Proposal((*_plus_all(where, node), *_too_many_mx(node)))


def _no_spf(where: str, node: Node) -> Proposal:
    code = "spf.include_no_spf" if node.via.startswith("include") else "spf.redirect_no_spf"
    finding = Finding(
        code,
        Status.FAIL,
        f"{where} points at {node.domain}, which has no SPF record ({node.detail}); "
        "receivers return permerror when they reach it.",
        fix=f"Remove {node.via} or correct the name (check the provider's documentation).",
    )
    # Only a term of the record itself can be dropped; a deeper one is a provider's to fix.
    if node.depth != 1 or not node.via:
        return Proposal((finding,))
    return Proposal((finding,), (Drop(code, frozenset({node.via})),))


def _loop(where: str, node: Node) -> Finding:
    return Finding(
        "spf.loop",
        Status.FAIL,
        f"{where} loops back to a record already being evaluated ({node.detail}); receivers "
        "run out of lookups and return permerror.",
        fix=f"Remove {node.via} from the record of the domain that includes it.",
    )


def _broken(where: str, node: Node, problem: Problem) -> Finding:
    what = "more than one SPF record" if problem is Problem.MULTIPLE else "an invalid SPF record"
    return Finding(
        f"spf.{problem}",
        Status.FAIL,
        f"{node.domain}, reached by {where}, has {what} ({node.detail}); receivers return "
        "permerror when they reach it.",
        fix=f"Ask the owner of {node.domain} to fix it, or remove {node.via}.",
        evidence=(node.text or node.detail,),
    )


def _plus_all(where: str, node: Node) -> tuple[Finding, ...]:
    if not node.plus_all or node.depth == 0:
        return ()
    finding = Finding(
        "spf.plus_all",
        Status.FAIL,
        f"{node.domain}, included by {where}, ends in +all: the include matches every "
        "server on the internet, so anyone passes SPF as the domain.",
        fix=f"Remove {node.via}, or ask the owner of {node.domain} to end it in ~all or -all.",
        evidence=(node.text or "",),
    )
    return (finding,)


def _too_many_mx(node: Node) -> tuple[Finding, ...]:
    return tuple(
        Finding(
            "spf.too_many_mx",
            Status.FAIL,
            f"{term} in the SPF record of {node.domain} names a domain with more than {MAX_NAMES} "
            "MX records; receivers return permerror (RFC 7208 4.6.4).",
            fix="Replace the mx mechanism with ip4:/ip6: ranges of the servers that send.",
        )
        for term in node.too_many_mx
    )
