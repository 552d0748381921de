"""SPF repairs (RFC 7208 3.3, 4.5, 4.6): which corrected record, ready to paste, do the findings about
<domain>'s SPF record propose?"""

from __future__ import annotations

from checks.model import Record
from checks.spf.parse import Mechanism, Modifier, SpfSyntaxError, is_spf, parse

_MAX_STRING = 255  # RFC 7208 3.3: one TXT character-string holds at most 255 octets
_MAX_BAD_TERMS = 10  # syntax errors removed before giving up on a repair


def spf_record(domain: str, text: str) -> Record:
    """A ready-to-paste TXT record, split into 255-character strings (RFC 7208 3.3)."""
    chunks = [text[i : i + _MAX_STRING] for i in range(0, len(text), _MAX_STRING)] or [""]
    return Record(f"{domain}.", "TXT", " ".join(f'"{c}"' for c in chunks))


def merged(records: tuple[str, ...]) -> str | None:
    """One record with every mechanism of the valid ones; ~all unless they all agree on the end.

    DNS returns the records in no fixed order, so they are merged in sorted order.
    """
    terms: list[str] = []
    endings: set[str] = set()
    for text in sorted(records):
        try:
            record = parse(text)
        except SpfSyntaxError:
            return None
        for term in record.terms:
            if isinstance(term, Mechanism) and term.name == "all":
                endings.add(term.text.lower().lstrip("+"))
            elif isinstance(term, Modifier):
                return None  # redirect/exp of several records cannot be merged blindly
            elif term.text not in terms:
                terms.append(term.text)
    ending = endings.pop() if len(endings) == 1 and endings != {"all"} else "~all"
    return " ".join(["v=spf1", *terms, ending])


def without_bad_terms(text: str) -> str | None:
    """The record with the offending terms removed, if that leaves a valid record."""
    if not is_spf(text):
        return None
    for _ in range(_MAX_BAD_TERMS):
        try:
            parse(text)
        except SpfSyntaxError as exc:
            if not exc.term or exc.term not in text.split(" "):
                return None
            words = text.split(" ")
            words.remove(exc.term)
            text = " ".join(w for w in words if w)
            continue
        return text
    return None
