"""What the bot can do, in words: the help reply, usage after a typo, and the check catalogue."""

from __future__ import annotations

from bot.commands import UsageError
from bot.render import blocks
from bot.render.blocks import Message
from bot.slack import watch_commands
from bot.slack.deps import Deps
from checks import registry

MESSAGE_HOW = (
    "Send me a bounce or a message's headers (pasted, or as an .eml/.txt file) in a DM and I "
    "will say why it failed. In a channel: the *Diagnose with mxbot* shortcut on any message "
    "(⋮ → Diagnose with mxbot), or `/mx message` to paste into a box."
)


def help_message(deps: Deps, prefix: str) -> Message:
    return blocks.render_help(prefix, catalogue(), watch_help(deps))


def usage(exc: UsageError, prefix: str) -> Message:
    text = f"{blocks.escape(exc.reason)}\nTry: `{prefix} {blocks.escape(exc.usage)}` (or `{prefix} help`)"
    return blocks.render_text(text)


def catalogue() -> list[tuple[str, str]]:
    """(id, title) of every check, in display order."""
    return [(c.ID, c.TITLE) for c in registry.all_checks()]


def watch_help(deps: Deps) -> str:
    """The watch-list usage lines, when this app keeps watch-lists (and the follow-ups' line,
    when it follows changes)."""
    lines = [watch_commands.render_watch_help()] if deps.watch_store is not None else []
    if deps.follows:
        lines.append(f"`/mx live cancel example.com`: {FOLLOW_HELP}")
    return "\n".join(lines)


FOLLOW_HELP = "stop following it here (*Tell me when it's live*, under a `live` answer)"
