"""How much of a Slack message a laptop screen shows, in lines of message text (estimates).

Slack keeps a growing message's bottom in view, so a report's first problem is seen at once
only if everything from it down fits the screen: a 13-inch laptop shows about 560 px of a
channel, lines of about 110 characters, 22 px each. Heights below are in those lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

SCREEN_LINES: Final = 25  # ~560 px, less a margin
LINE_CHARS: Final = 110
GAP: Final = 0.4  # between two blocks (~8 px)
SMALL_LINE: Final = 0.8  # a line of a context block's small print (~18 px)
CODE_FRAME: Final = 0.7  # a code block's frame (~16 px)
BUTTONS: Final = 2.2  # the actions block (~48 px)


def lines(mrkdwn: str) -> float:
    """About how many lines a section of `mrkdwn` takes."""
    frames = mrkdwn.count("```") // 2
    text = mrkdwn.replace("```", "").split("\n")
    return sum(-(-len(line) // LINE_CHARS) or 1 for line in text) + frames * CODE_FRAME


@dataclass(frozen=True, slots=True)
class Fit:
    """How to show a list of problems: the first `full` in full, then `short` in one line each
    (and, when there are more, one line saying how many), then a line pointing to Details."""

    full: int
    short: int


def fit(costs: Sequence[float], reserved: float) -> Fit:
    """Fit problems whose full sections take `costs` lines above `reserved` lines of the rest of
    the message. The first problem is always shown in full."""
    budget = SCREEN_LINES - reserved
    full = 0
    for index, cost in enumerate(costs):
        after = len(costs) - index - 1  # each in one line, and the line pointing to Details
        if index and cost + GAP + (after + 1 if after else 0) > budget:
            break
        budget -= cost + GAP
        full += 1
    rest = len(costs) - full
    room = max(int(budget) - 1, 0)  # less the line pointing to Details
    return Fit(full, rest if rest <= room else max(room - 1, 0))
