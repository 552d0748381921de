"""The fix bundle for people and scripts (pure): the terminal text, the JSON, the Slack message.

Remote text reaches these only inside the bundle's comments and notes: the terminal gets it
without control characters, Slack escaped inside a code block that cannot close itself early.
"""

from __future__ import annotations

from typing import Any, Final

from bot.render.blocks import (
    MAX_BLOCKS,
    MAX_FALLBACK,
    MAX_SECTION,
    Message,
    clip,
    code,
    context_block,
    escape,
    header_block,
    section_block,
)
from bot.render.text import clean
from checks.bundle.result import Action, Bundle, Entry
from checks.model import Record

MAX_ZONE_SECTIONS: Final = 8  # code blocks the snippet may take in one Slack message
MAX_NOTES: Final = 2000  # characters of notes in Slack
_RULE = "-" * 100


# ---- terminal ------------------------------------------------------------------------------------
def text(bundle: Bundle) -> str:
    """The summary, the snippet, the files to serve and the notes, in reading order."""
    lines = [clean(summary(bundle))]
    if bundle.headline:
        lines.append(clean(bundle.headline))
    lines += ["", f"Zone snippet for {bundle.domain} (paste into its zone):", _RULE]
    lines.append(clean(bundle.zone).rstrip("\n"))
    lines.append(_RULE)
    for file in bundle.files:
        lines += ["", f"Serve at {file.path}:", _RULE, clean(file.content).rstrip("\n"), _RULE]
    if bundle.notes:
        lines += ["", "Notes:", *(f"- {clean(n)}" for n in bundle.notes)]
    return "\n".join(lines) + "\n"


def summary(bundle: Bundle) -> str:
    """One line: whose bundle, how much there is to publish, and what waits."""
    name = bundle.display_name
    if bundle.display_name != bundle.domain:
        name = f"{bundle.display_name} ({bundle.domain})"
    return f"Fix bundle for {name}: {counts(bundle)}"


def counts(bundle: Bundle) -> str:
    """How much there is to publish, and what waits."""
    parts = [_count(_records(bundle, Action.PUBLISH), "record", "to publish")]
    for action, what in (
        (Action.FILL_IN, "to fill in first"),
        (Action.LATER, "to publish after the policy file"),
        (Action.ELSEWHERE, "for other zones"),
    ):
        n = _records(bundle, action)
        if n:
            parts.append(f"{n} {what}")
    if bundle.files:
        parts.append(_count(len(bundle.files), "file", "to serve"))
    return ", ".join(parts)


def _records(bundle: Bundle, action: Action) -> int:
    return sum(len(e.records) for e in bundle.with_action(action))


def _count(n: int, noun: str, tail: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'} {tail}"


# ---- JSON ----------------------------------------------------------------------------------------
def as_json(bundle: Bundle) -> dict[str, Any]:
    """{"domain", "zone", "records", "files", "notes"}: one entry in "records" per record."""
    return {
        "domain": bundle.domain,
        "zone": bundle.zone,
        "records": [_record(e, r) for e in bundle.entries for r in e.records],
        "files": [{"path": f.path, "content": f.content} for f in bundle.files],
        "notes": list(bundle.notes),
    }


def _record(entry: Entry, record: Record) -> dict[str, Any]:
    return {
        "name": record.name,
        "type": record.type,
        "value": record.value,
        "ttl": record.ttl,
        "zone_line": record.zone_line,
        "action": entry.action.value,
        "replaces": list(entry.current),
        "new": entry.new,
        "codes": [r.code for r in entry.reasons],
        "why": [r.message for r in entry.reasons],
    }


# ---- Slack ---------------------------------------------------------------------------------------
def render_blocks(bundle: Bundle, *, command: str = "") -> Message:
    """The bundle as one message: summary, the snippet in code blocks, files, notes; in limits."""
    blocks: list[dict[str, Any]] = [header_block(f"🛠 Fix bundle for {bundle.display_name}")]
    intro = (
        f"*{escape(counts(bundle))}.* Paste the snippet into the "
        f"{escape(bundle.domain)} zone: each comment says what the record below it replaces, and why."
    )
    if bundle.headline:
        intro = f"*{escape(bundle.headline)}*\n{intro}"
    blocks.append(section_block(intro))
    blocks += [section_block(part) for part in _code_sections(bundle.zone, bundle.domain)]
    for file in bundle.files:
        body = f"Serve at `{escape(file.path)}`:\n{code(file.content.rstrip())}"
        blocks.append(section_block(clip(body, MAX_SECTION)))
    if bundle.notes:
        notes = "\n".join(f"• {escape(n)}" for n in bundle.notes)
        blocks.append(section_block(clip(notes, MAX_NOTES, "… (more: run mxbot fix)")))
    if command:
        blocks.append(context_block(f"`/mx {escape(command)}`"))
    fallback = clip(summary(bundle), MAX_FALLBACK)
    return {"text": escape(fallback), "blocks": blocks[:MAX_BLOCKS]}


def _code_sections(zone: str, domain: str) -> list[str]:
    """The snippet in code blocks of whole lines, each inside Slack's section limit."""
    room = MAX_SECTION - 10  # the fences, and room for the zero-width breaks `code` may add
    chunks: list[str] = []
    current: list[str] = []
    for line in zone.rstrip("\n").split("\n"):
        candidate = "\n".join([*current, line])
        if current and len(code(candidate)) > room:
            chunks.append("\n".join(current))
            current = []
        current.append(line)
    if current:
        chunks.append("\n".join(current))
    shown = [_fit(c, room) for c in chunks[:MAX_ZONE_SECTIONS]]
    if len(chunks) > MAX_ZONE_SECTIONS:
        shown.append(f"_…the snippet goes on: run `mxbot fix {escape(domain)}` for all of it._")
    return shown


def _fit(chunk: str, room: int) -> str:
    """One chunk as a code block; a single line too long for a section is cut, visibly."""
    block = code(chunk)
    while len(block) > room:
        chunk = chunk[: len(chunk) - (len(block) - room) - 2]
        block = code(chunk + " …")
    return block


def render_progress(name: str) -> Message:
    text = f"Working out the fix bundle for {escape(name)}: running the checks…"
    return {"text": text, "blocks": [section_block(text)]}


def keygen_pointer(domain: str = "") -> Message:
    """Why there is no DKIM keygen in Slack, and the command to run instead."""
    where = escape(domain) if domain else "example.com"
    text = (
        "DKIM keys are made on your own machine, never in Slack (a private key posted here is a "
        f"leaked key): run `mxbot dkim keygen --domain {where} --selector s1` and publish the "
        "record it prints."
    )
    return {"text": text, "blocks": [section_block(text)]}
