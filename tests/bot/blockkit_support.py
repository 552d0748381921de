"""What the Block Kit tests share: Slack's own validators plus the limits they do not check, the
test for live markup, and a model of how much of a message a laptop screen shows.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

from slack_sdk.models.blocks import Block

from bot.render import blocks

HOSTILE: Final = "<!channel> <!here> <@U123> <#C123> <https://evil.example|click> & ```"

# A 13-inch laptop (1280 x 800) with Slack's sidebar open: about 560 px of the channel shows
# messages, a line of message text holds about 110 characters and is 22 px high.
SCREEN_PX: Final = 560
LINE_CHARS: Final = 110
LINE_PX: Final = 22
_BLOCK_PX: Final = {"header": 44, "divider": 25, "actions": 48}
_GAP_PX: Final = 8  # between blocks
_CODE_PX: Final = 16  # a code block's frame


def validate(message: dict[str, Any]) -> None:
    """Slack's own validators, plus the limits they do not check."""
    assert message["text"]
    assert len(message["text"]) <= blocks.MAX_FALLBACK
    assert len(message["blocks"]) <= blocks.MAX_BLOCKS
    for block in Block.parse_all(message["blocks"]):
        assert block is not None
        block.validate_json()
    action_ids = [
        e["action_id"] for b in message["blocks"] for e in b.get("elements", []) if "action_id" in e
    ]
    assert len(action_ids) == len(set(action_ids))
    for block in message["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        for element in block.get("elements", []):
            if element.get("type") == "button":
                assert len(element["text"]["text"]) <= 75
    assert "link_names" not in message


def _shown(node: Any) -> Any:
    """The message without button values: Slack returns those to us and never displays them."""
    if isinstance(node, dict):
        return {k: _shown(v) for k, v in node.items() if k != "value"}
    if isinstance(node, list):
        return [_shown(v) for v in node]
    return node


def no_live_markup(message: dict[str, Any]) -> None:
    text = json.dumps(_shown(message), ensure_ascii=False)
    for token in ("<!", "<@", "<#", "<http"):
        assert token not in text
    assert "<" not in message["text"]


def block_px(block: dict[str, Any]) -> int:
    """About how tall Slack draws `block` on that laptop."""
    kind = block["type"]
    if kind in _BLOCK_PX:
        return _BLOCK_PX[kind]
    text: str
    if kind == "context":
        text, per_line, line_px = block["elements"][0]["text"], LINE_CHARS * 5 // 4, 18
    else:
        text, per_line, line_px = block["text"]["text"], LINE_CHARS, LINE_PX
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")  # as drawn
    frames = text.count("```") // 2
    lines = sum(max(1, math.ceil(len(line) / per_line)) for line in text.split("\n"))
    return _GAP_PX + lines * line_px + frames * _CODE_PX


def px_from(message: dict[str, Any], index: int) -> int:
    """How tall the message is from block `index` to its end: Slack keeps a growing message's
    bottom in view, so this much must fit on the screen for block `index` to be seen."""
    return sum(block_px(b) for b in message["blocks"][index:])
