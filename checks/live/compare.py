"""Is one record live? What each name server and each resolver serves, compared (pure).

The current answer is the one the name servers with the newest SOA serial (RFC 1982) give; when
they disagree among themselves, the primary's (the SOA MNAME) wins, then the most common (on a tie,
the first server's by name). A name server that answers otherwise disagrees: behind (an older
serial) or simply different. A resolver
that answers otherwise still caches the old answer, for at most the TTL it reports: the records'
remaining TTL, or for "no such record" the remaining negative TTL of the SOA it gives (RFC 2308).
Lame and silent servers serve nothing, old or new: they are named, but do not hold the verdict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from checks.live import records
from checks.live.result import LiveReport, RecordLive, Seen, State, Verdict, Wanted
from checks.net.direct import Reply
from checks.ns.health import Standing, newest, standing


def at_server(server: str, address: str, soa: Reply, reply: Reply, wanted: Wanted) -> Seen:
    """What one name server address serves for `wanted`, given its SOA answer and its answer."""
    held = standing(soa)
    if held is not Standing.AUTHORITATIVE:
        state = {Standing.LAME: State.LAME, Standing.SILENT: State.FAILED}.get(held, State.UNTESTED)
        return Seen(server, address, state, detail=soa.describe())
    record = soa.soa_record()
    serial = record.serial if record is not None else None
    if not reply.authoritative or reply.rcode not in ("NOERROR", "NXDOMAIN"):
        return Seen(server, address, State.FAILED, serial=serial, detail=reply.describe())
    return _answer(server, address, reply, wanted, serial)


def at_resolver(resolver: str, reply: Reply, wanted: Wanted) -> Seen:
    """What one resolver serves for `wanted` now: from its cache, or fetched for this question."""
    if not reply.responded or reply.rcode not in ("NOERROR", "NXDOMAIN"):
        return Seen(resolver, resolver, State.FAILED, detail=reply.describe())
    return _answer(resolver, resolver, reply, wanted, None)


def _answer(server: str, address: str, reply: Reply, wanted: Wanted, serial: int | None) -> Seen:
    texts = tuple(sorted(r.to_text() for r in reply.records if records.counts(wanted, r)))
    if reply.cname:
        texts = (f"CNAME {reply.cname}.",)
    if texts:
        return Seen(server, address, State.RECORDS, texts, reply.ttl, serial)
    # no such record: cached as long as the records of another kind, or the negative TTL
    ttl = reply.ttl if reply.records else _negative_ttl(reply)
    return Seen(server, address, State.NONE, (), ttl, serial)


def _negative_ttl(reply: Reply) -> int:
    if reply.soa is None:
        return 0
    # a name server gives the zone's negative TTL; a resolver's SOA TTL is what remains of it
    return reply.soa.negative_ttl if reply.authoritative else reply.soa.ttl


def judge(
    wanted: Wanted, servers: Sequence[Seen], resolvers: Sequence[Seen], primary: str = ""
) -> RecordLive:
    """The verdict on one record, and its sentence."""
    longest = max((s.ttl for s in (*servers, *resolvers)), default=0)
    answering = [s for s in servers if s.answered]
    if not answering:
        sentence = _unknown(wanted, servers)
        return RecordLive(wanted, Verdict.UNKNOWN, sentence, None, tuple(servers), tuple(resolvers))
    top = newest([s.serial for s in answering if s.serial is not None] or [0])
    new = _current([s for s in answering if s.serial in (top, None)] or answering, primary)
    different = [s for s in answering if s.answer != new]
    stale = [r for r in resolvers if r.answer != new or not r.answered]
    wait = max((r.ttl for r in stale if r.answered), default=0)
    if different:
        verdict, sentence = Verdict.SERVERS_DISAGREE, _disagree(wanted, answering, different, top)
    elif stale:
        verdict, sentence = Verdict.RESOLVERS_STALE, _stale(wanted, new, top, resolvers, stale)
    else:
        verdict, sentence = Verdict.LIVE, _live(wanted, new, top, servers, resolvers)
    return RecordLive(
        wanted,
        verdict,
        sentence,
        new,
        tuple(servers),
        tuple(resolvers),
        wait_s=wait if verdict is Verdict.RESOLVERS_STALE else 0,
        longest_ttl=longest,
    )


def _current(candidates: Sequence[Seen], primary: str) -> tuple[str, ...]:
    """The answer of the primary, if it is among them; else the most common, first seen first."""
    for s in candidates:
        if primary and s.server == primary:
            return s.answer
    tally = Counter(s.answer for s in candidates)
    return max(tally, key=lambda answer: tally[answer])


def report(
    domain: str, apex: str, recorded: Sequence[RecordLive], *, serial: int | None = None
) -> LiveReport:
    """The whole answer: the worst record's verdict leads, in one sentence."""
    worst = max(recorded, key=lambda r: r.verdict.rank)
    behind = [r for r in recorded if r.verdict is not Verdict.LIVE]
    if not behind:
        sentence = _all_live(apex, recorded, serial)
    else:
        sentence = worst.sentence
        if len(behind) > 1:
            others = ", ".join(r.wanted.label for r in behind if r is not worst)
            sentence = f"{sentence[:-1]}; not live yet either: {others}."
    return LiveReport(domain, apex, tuple(recorded), worst.verdict, sentence, serial)


def nothing(domain: str, why: str) -> LiveReport:
    """No zone, or no server: nothing to compare."""
    sentence = f"Could not tell whether the change is live: {why}."
    return LiveReport(domain, "", (), Verdict.UNKNOWN, sentence)


# ---- the sentences ------------------------------------------------------------------------------
def shown(wanted: Wanted, answer: Sequence[str]) -> str:
    """'TXT "v=spf1 -all"', 'MX 10 mx.example.com.', 'no record'."""
    if not answer:
        return "no record"
    if answer[0].startswith("CNAME "):
        return answer[0]
    return f"{wanted.rdtype} " + " | ".join(answer)


def _servers(n: int) -> str:
    return f"{n} name server address{'es' if n != 1 else ''}"


def _resolvers(n: int) -> str:
    return f"{n} resolver{'s' if n != 1 else ''}"


def _serial(serial: int) -> str:
    return f"serial {serial}" if serial else "no serial"


def _live(
    wanted: Wanted,
    new: tuple[str, ...],
    top: int,
    servers: Sequence[Seen],
    resolvers: Sequence[Seen],
) -> str:
    answering = [s for s in servers if s.answered]
    silent = [s for s in servers if not s.answered]
    aside = f" ({_aside(silent)})" if silent else ""
    asked = f" and {_resolvers(len(resolvers))}" if resolvers else ""
    return (
        f"{wanted.label} is live everywhere: {_servers(len(answering))} ({_serial(top)})"
        f"{asked} give {shown(wanted, new)}{aside}."
    )


def _aside(silent: Sequence[Seen]) -> str:
    if len(silent) == 1:
        return (
            f"{silent[0].who} does not answer for the zone: {silent[0].detail or silent[0].state}"
        )
    names = "; ".join(f"{s.who}: {s.detail or s.state}" for s in silent)
    return f"{len(silent)} do not answer for the zone: {names}"


def _disagree(
    wanted: Wanted, answering: Sequence[Seen], different: Sequence[Seen], top: int
) -> str:
    parts = []
    for s in different:
        if s.serial is not None and s.serial != top:
            parts.append(f"{s.who} still serves {shown(wanted, s.answer)} ({_serial(s.serial)})")
        else:
            parts.append(f"{s.who} serves {shown(wanted, s.answer)} at the same {_serial(top)}")
    agreeing = [s for s in answering if s not in different]
    rest = len(agreeing)
    current = shown(wanted, agreeing[0].answer) if agreeing else "another answer"
    others = f"the other {rest}" if rest != 1 else "the other one"
    return (
        f"The name servers disagree on {wanted.label}: {'; '.join(parts)}, while {others} "
        f"{'serve' if rest != 1 else 'serves'} {current} ({_serial(top)})."
    )


def _stale(
    wanted: Wanted,
    new: tuple[str, ...],
    top: int,
    resolvers: Sequence[Seen],
    stale: Sequence[Seen],
) -> str:
    cached = [r for r in stale if r.answered]
    parts = [f"{r.who} has {shown(wanted, r.answer)} for {r.ttl} s more" for r in cached]
    parts += [f"{r.who} fails ({r.detail})" for r in stale if not r.answered]
    wait = max((r.ttl for r in cached), default=0)
    one = len(stale) == 1
    if not cached:
        still = "fails to answer" if one else "fail to answer"
    elif any(r.answer for r in cached):
        verb = "serves" if one else "serve"
        still = f"still {verb} the old answer for at most {wait} more seconds"
    else:  # the record is new: they still cache its absence (RFC 2308)
        verb = "says" if one else "say"
        still = (
            f"still {verb} there is no such record for at most {wait} more seconds (the zone's "
            "negative-caching TTL)"
        )
    return (
        f"The name servers agree on {wanted.label} ({shown(wanted, new)}, {_serial(top)}), but "
        f"{len(stale)} of {_resolvers(len(resolvers))} {still}: {'; '.join(parts)}."
    )


def _unknown(wanted: Wanted, servers: Sequence[Seen]) -> str:
    if not servers:
        return f"Could not tell whether {wanted.label} is live: no name server to ask."
    why = "; ".join(f"{s.who}: {s.detail or s.state}" for s in servers)
    return f"Could not tell whether {wanted.label} is live: no name server answered ({why})."


def _all_live(apex: str, recorded: Sequence[RecordLive], serial: int | None) -> str:
    if len(recorded) == 1:
        return recorded[0].sentence
    servers = max(sum(1 for s in r.servers if s.answered) for r in recorded)
    resolvers = max(len(r.resolvers) for r in recorded)
    labels = ", ".join(r.wanted.label for r in recorded)
    asked = f" and {_resolvers(resolvers)}" if resolvers else ""
    return (
        f"Live everywhere: {_servers(servers)} of {apex} ({_serial(serial or 0)}){asked} give "
        f"the same answers for {labels}."
    )
