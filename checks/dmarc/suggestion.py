"""Suggested DMARC records (RFC 9989): the corrected `_dmarc` TXT record a finding offers to paste."""

from __future__ import annotations

from checks.dmarc.record import DmarcRecord
from checks.model import Record


def suggest(
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
