"""The one `/mx` grammar, shared by slash commands, mentions and the CLI: text in, `Command` out.

    example.com                      every check that applies to a domain
    example.com spf dmarc            only these checks (ids from checks.registry)
    spf example.com 203.0.113.7      may this address send mail for the domain?
    dkim example.com selector […]    DKIM with these selectors
    203.0.113.7                      address-level checks
    fix example.com [spf …]          the records that fix what the checks find, as one zone snippet
    message                          (answered by the Slack layer: the paste box for a bounce)
    live example.com [TYPE [NAME]]   is a DNS change live at every name server and resolver?
    live cancel example.com          stop the channel's follow-ups of it ("tell me when it's live")
    dkim keygen                      answered with a pointer to the CLI: no private key in Slack
    help

Mentions may add words around it ("check dmarc for example.com") and carry the bot's own
`<@U…>` mention, which is stripped. Targets go through `checks.target.normalise`, so Slack link
markup, pasted e-mail addresses, URLs and IDNs are understood. `parse` is pure and raises only
`UsageError`, whose message ends with the closest valid usage.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Literal

from checks import registry
from checks.context import Options
from checks.target import Target, TargetError, normalise

MAX_SELECTORS = 10
MAX_TEXT = 1000  # Slack slash-command text is short; anything longer is a paste accident

USAGES: tuple[tuple[str, str], ...] = (
    ("example.com", "run every check on a domain"),
    ("example.com spf dmarc", "run only some checks"),
    ("spf example.com 203.0.113.7", "may this address send mail for the domain?"),
    ("dkim example.com selector", "check DKIM keys for a selector"),
    ("203.0.113.7", "check a mail server's address (reverse DNS, …)"),
    ("fix example.com", "the DNS records that fix it, as one zone-file snippet"),
    ("message", "paste a bounce or a message's headers: why did it fail?"),
    (
        "live example.com TXT s1._domainkey",
        "is a DNS change live everywhere yet? (default: MX, SPF, DMARC, MTA-STS)",
    ),
    ("help", "show this help"),
)

# Words people put around a command in a mention; they carry no meaning for the grammar.
_FILLER = frozenset(
    [
        "check",
        "checks",
        "run",
        "test",
        "tests",
        "for",
        "on",
        "of",
        "the",
        "please",
        "pls",
        "can",
        "you",
        "is",
        "are",
        "a",
        "an",
        "and",
        "to",
        "may",
        "allowed",
        "send",
        "sending",
        "authorised",
        "authorized",
        "from",
        "with",
        "selector",
        "selectors",
        "domain",
        "ip",
        "me",
        "what",
        "about",
        "how",
        "why",
        "does",
        "do",
        "&amp;",
        "hi",
        "hey",
        "hello",
        "thanks",
        "thank",
        "thx",
    ]
)
_HELP = frozenset({"help", "?", "-h", "--help", "usage"})
_FIX = "fix"
_KEYGEN = "keygen"
_LIVE = "live"
# Words around a live question ("is the TXT s1._domainkey of example.com live yet?"); "a" is not
# one of them here: it is the A record type.
_LIVE_FILLER = frozenset(
    {
        "is",
        "it",
        "the",
        "of",
        "for",
        "on",
        "at",
        "yet",
        "now",
        "please",
        "check",
        "record",
        "records",
        "are",
        "my",
        "change",
        "changes",
        "in",
        "hi",
        "hey",
        "thanks",
    }
)
_CANCEL = frozenset({"cancel", "stop", "unfollow"})
_RDTYPE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,9}$")
# Record types people follow; a word among them is the TYPE of `live DOMAIN TYPE NAME`.
LIVE_TYPES = frozenset(
    {
        "A",
        "AAAA",
        "CAA",
        "CNAME",
        "DNSKEY",
        "DS",
        "HTTPS",
        "MX",
        "NS",
        "PTR",
        "SOA",
        "SRV",
        "SVCB",
        "TLSA",
        "TXT",
    }
)
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
_SELECTOR = re.compile(r"^[a-z0-9_][a-z0-9_.-]{0,62}$", re.IGNORECASE)


MESSAGE_WORDS = frozenset({"message", "bounce", "headers", "msg"})


def is_message_request(text: str) -> bool:
    """`/mx message` (or `@mxbot message`): the user wants to paste a message, not check a domain."""
    return text.strip().lower() in MESSAGE_WORDS


class UsageError(ValueError):
    """The text is not a command; `reason` says why and `usage` is the closest valid form."""

    def __init__(self, reason: str, usage: str) -> None:
        super().__init__(f"{reason} Try: {usage}")
        self.reason = reason
        self.usage = usage


@dataclass(frozen=True, slots=True)
class Command:
    """What the user asked for: help, a report on `target` (all checks when `checks` is empty),
    the fix bundle for that report, whether a change is live (`record`: TYPE and NAME, or the
    mail set when empty), to stop following whether it is (`live_cancel`), or DKIM key
    generation (which is not done in Slack)."""

    kind: Literal["report", "help", "fix", "live", "live_cancel", "keygen"]
    target: Target | None = None
    checks: tuple[str, ...] = ()
    options: Options = field(default_factory=Options)
    record: tuple[str, ...] = ()  # live: (TYPE, NAME)

    @property
    def text(self) -> str:
        """The canonical text of this command; `parse(cmd.text) == cmd`."""
        if self.kind == "keygen":
            return " ".join(["dkim", "keygen", *([self.target.name] if self.target else [])])
        if self.kind == "help" or self.target is None:
            return "help"
        if self.kind == "fix":
            return "fix " + replace(self, kind="report").text
        if self.kind == "live":
            return " ".join(["live", self.target.name, *self.record])
        if self.kind == "live_cancel":
            return f"live cancel {self.target.name}"
        name = self.target.name
        if self.options.sending_ip:
            return " ".join([*self.checks, name, self.options.sending_ip])
        if self.options.selectors:
            return " ".join([*self.checks, name, *self.options.selectors])
        return " ".join([name, *self.checks])


HELP = Command("help")


def parse(text: str, *, known: Collection[str] | None = None, bot_user: str = "") -> Command:
    """Parse what the user typed.

    Args:
        known: the check ids (the registry's by default).
        bot_user: the bot's user id: its `<@U…>` mention is dropped. Without it, every user
            mention is dropped (text from a mention event always starts with one).
    """
    ids = set(registry.all_ids() if known is None else known)
    if len(text) > MAX_TEXT:
        raise UsageError("That is too long for one command.", USAGES[0][0])
    tokens = _tokens(text, bot_user)
    if not tokens or all(t.lower() in _HELP for t in tokens):
        return HELP
    lowered = {t.lower() for t in tokens}
    if _KEYGEN in lowered:
        return _keygen(tokens)
    if _LIVE in lowered:
        return _live([t for t in tokens if t.lower() != _LIVE and t.lower() not in _LIVE_FILLER])
    chosen: list[str] = []
    words: list[str] = []
    for token in tokens:
        check = _check_id(token, ids)
        if token.lower() == _FIX:
            continue
        if check is not None:
            if check not in chosen:
                chosen.append(check)
        elif token.lower() not in _FILLER:
            words.append(token)
    if any(w.lower() in _HELP for w in words):
        return HELP
    if _FIX in lowered:
        return _fix(words, chosen, ids)
    return _build(words, chosen, ids)


def without_mention(text: str, bot_user: str) -> str:
    """The text without the bot's own `<@U…>` mention (every user mention when the id is unknown)."""
    if bot_user:
        return re.sub(rf"<@{re.escape(bot_user)}(?:\|[^>]*)?>", " ", text).strip()
    return _MENTION.sub(" ", text).strip()


def _tokens(text: str, bot_user: str) -> list[str]:
    text = without_mention(text, bot_user)
    # Slack turns "a.com" into "<http://a.com|a.com>": keep each <…> together as one token, and
    # its escapes (&lt; &gt; &amp;) inside the token that carries them (the normaliser undoes them).
    parts = re.findall(r"<[^<>]*>|(?:&(?:lt|gt|amp);|[^\s,;])+", text.replace("\u00a0", " "))
    tokens = [p if p.startswith("<") else _unformat(p) for p in parts]
    return [t for t in tokens if t]


def _unformat(token: str) -> str:
    """Drop punctuation and Slack's *bold*, ~strike~ and _italic_ marks around a word."""
    token = token.strip("\"'`()[]{}!.?:*~")
    if len(token) > 2 and token[0] == token[-1] == "_":  # _italic_; "_dmarc.a.com" stays
        token = token[1:-1].strip("\"'`()[]{}!.?:*~")
    return token


def _check_id(token: str, ids: set[str]) -> str | None:
    candidate = token.lower().replace("-", "_")
    return candidate if candidate in ids else None


def _build(words: list[str], chosen: list[str], ids: set[str]) -> Command:
    parsed: list[tuple[str, Target | TargetError]] = []
    for word in words:
        try:
            parsed.append((word, normalise(word)))
        except TargetError as exc:
            parsed.append((word, exc))
    domains = [i for i, (_, t) in enumerate(parsed) if isinstance(t, Target) and not t.is_address]
    if "dkim" in chosen and domains and len(parsed) > 1:
        first = domains[0]
        domain = parsed[first][1]
        assert isinstance(domain, Target)  # noqa: S101 -- narrowed by the list above
        return _dkim(domain, [w for i, (w, _) in enumerate(parsed) if i != first], chosen)
    for word, outcome in parsed:
        if isinstance(outcome, TargetError):
            raise _unknown(word, str(outcome), chosen, ids)
    targets = [t for _, t in parsed if isinstance(t, Target)]
    if not targets:
        raise UsageError("Tell me which domain or address to check.", _closest(chosen))
    addresses = [t for t in targets if t.is_address]
    if len(targets) == 2 and len(addresses) == 1:
        domain = next(t for t in targets if not t.is_address)
        return _sending_ip(domain, addresses[0], chosen, ids)
    if len(targets) > 1:
        raise UsageError("Give one domain or address at a time.", _closest(chosen))
    return Command("report", targets[0], tuple(chosen))


def _fix(words: list[str], chosen: list[str], ids: set[str]) -> Command:
    """The fix bundle is about a domain's own records: no IP target, no sending address."""
    usage = "fix example.com"
    if not words:
        raise UsageError("Tell me which domain to fix.", usage)
    try:
        cmd = _build(words, chosen, ids)
    except UsageError as exc:
        raise UsageError(exc.reason, f"fix {exc.usage}") from None
    assert cmd.target is not None  # noqa: S101 -- _build always names one
    if cmd.target.is_address or cmd.options.sending_ip:
        raise UsageError("fix takes one domain (its records are what gets fixed).", usage)
    return replace(cmd, kind="fix")


def _keygen(tokens: list[str]) -> Command:
    """`dkim keygen [domain]`: answered with a pointer to the CLI, so the domain is optional."""
    for token in tokens:
        try:
            target = normalise(token)
        except TargetError:
            continue
        if not target.is_address:
            return Command("keygen", target)
    return Command("keygen")


def _live(words: list[str]) -> Command:
    """`live DOMAIN [TYPE [NAME]]`, in any order: the TYPE is a record type's name, the DOMAIN
    the first word that names one (no underscore label: `s1._domainkey` is a NAME)."""
    usage = "live example.com TXT s1._domainkey"
    if any(w.lower() in _HELP for w in words):
        return HELP
    if words and words[0].lower() in _CANCEL:
        return _live_cancel(words[1:])
    types = [i for i, w in enumerate(words) if w.upper() in LIVE_TYPES]
    rest = [i for i in range(len(words)) if i not in types[:1]]
    domains = [
        (i, t) for i in rest if "_" not in words[i] and (t := _domain_or_none(words[i])) is not None
    ]
    if not domains:
        raise UsageError("Tell me which domain's change to follow.", usage)
    at, domain = domains[0]
    names = [words[i] for i in rest if i != at]
    if len(names) > 1 or len(types) > 1:
        raise UsageError("Give one record: its type, then its name.", usage)
    if names and not types:
        raise UsageError(f"Give the record type of {names[0]!r} too.", usage)
    record = (words[types[0]].upper(), names[0] if names else "@") if types else ()
    return Command("live", domain, record=record)


def _live_cancel(words: list[str]) -> Command:
    """`live cancel DOMAIN`: stop following it in this channel."""
    domains = [t for w in words if (t := _domain_or_none(w)) is not None]
    if len(domains) != 1 or len(words) != 1:
        raise UsageError("Tell me which domain to stop following.", "live cancel example.com")
    return Command("live_cancel", domains[0])


def _domain_or_none(word: str) -> Target | None:
    try:
        target = normalise(word)
    except TargetError:
        return None
    return None if target.is_address or "." not in target.name else target


def _dkim(domain: Target, rest: list[str], chosen: list[str]) -> Command:
    selectors: list[str] = []
    for word in rest:
        selector = word.lower().rstrip(".")
        if not _SELECTOR.match(selector):
            raise UsageError(f"{word!r} is not a DKIM selector.", "dkim example.com selector")
        if selector not in selectors:
            selectors.append(selector)
    if len(selectors) > MAX_SELECTORS:
        raise UsageError(f"Give at most {MAX_SELECTORS} selectors.", "dkim example.com selector")
    return Command("report", domain, tuple(chosen), Options(selectors=tuple(selectors)))


def _sending_ip(domain: Target, address: Target, chosen: list[str], ids: set[str]) -> Command:
    if "spf" not in ids:
        raise UsageError("The SPF check is not available here.", "example.com")
    checks = tuple(chosen) if "spf" in chosen else ("spf", *chosen)
    return Command("report", domain, checks, Options(sending_ip=address.name))


def _unknown(word: str, reason: str, chosen: list[str], ids: set[str]) -> UsageError:
    close = difflib.get_close_matches(word.lower(), sorted(ids | {"help"}), n=1, cutoff=0.6)
    if close and close[0] != "help":
        return UsageError(
            f"{word!r} is not a check; did you mean {close[0]}?", f"example.com {close[0]}"
        )
    if close:
        return UsageError(f"{word!r} is not a command.", "help")
    return UsageError(f"{reason.rstrip('.')}.", _closest(chosen))


def _closest(chosen: list[str]) -> str:
    if chosen == ["spf"]:
        return "spf example.com 203.0.113.7"
    if chosen == ["dkim"]:
        return "dkim example.com selector"
    if chosen:
        return " ".join(["example.com", *chosen])
    return "example.com"
