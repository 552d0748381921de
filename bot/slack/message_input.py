"""What a Slack message holds for the message diagnosis: its text with Slack's markup undone, or
its attached .eml/.txt file, fetched with the bot token (`files.info`, then the file's private
download URL) and capped in size before and while it downloads.

Nothing read here is logged or kept: it goes to the diagnosis and is dropped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

MAX_FILE_BYTES: Final = 10 * 1024 * 1024  # a message worth diagnosing in Slack; larger: the CLI
DOWNLOAD_TIMEOUT: Final = 20.0
_TYPES: Final = frozenset({"message/rfc822", "text/plain", "application/octet-stream"})
_SUFFIXES: Final = (".eml", ".txt", ".msg.txt", ".headers", ".log")
_LINK: Final = re.compile(r"<((?:mailto:|https?://|tel:)[^|>]*)(?:\|([^>]*))?>")
_FENCE: Final = re.compile(r"^```\s*|\s*```$")


@dataclass(frozen=True, slots=True)
class Fetched:
    """The bytes to diagnose, or why there are none (a sentence for the user)."""

    data: bytes = b""
    problem: str = ""
    name: str = ""


def from_text(text: str) -> bytes:
    """A Slack message's text as the pasted mail was: links and mailto markup unwrapped, the
    three escaped characters restored, a code fence removed."""
    text = _FENCE.sub("", text.strip())
    text = _LINK.sub(lambda m: m.group(2) or m.group(1).removeprefix("mailto:"), text)
    return html.unescape(text).encode("utf-8")


def pick_file(files: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The first attached file that can hold mail: .eml, .txt, or a mail or text type."""
    for item in files:
        name = str(item.get("name") or "").lower()
        kind = str(item.get("mimetype") or "").lower()
        if name.endswith(_SUFFIXES) or kind in _TYPES:
            return item
    return None


async def fetch_file(client: AsyncWebClient, file: dict[str, Any]) -> Fetched:
    """The file's bytes, read with the bot token, or the reason they cannot be."""
    file_id = str(file.get("id") or "")
    try:
        info = await client.files_info(file=file_id)
    except SlackApiError as exc:
        data = exc.response.data
        code = (data.get("error") if isinstance(data, dict) else None) or exc.response.status_code
        return Fetched(problem=f"I could not read the file (Slack said {code}).")
    meta: dict[str, Any] = info.get("file") or {}
    name = str(meta.get("name") or file.get("name") or "the file")
    size = int(meta.get("size") or 0)
    if size > MAX_FILE_BYTES:
        return Fetched(problem=_too_big(name, size), name=name)
    url = meta.get("url_private_download") or meta.get("url_private")
    if not url:
        return Fetched(problem=f"Slack gave no download link for {name}.", name=name)
    return await _download(str(url), client.token or "", name)


async def _download(url: str, token: str, name: str) -> Fetched:
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers=headers, allow_redirects=True) as response,
        ):
            if response.status != 200:
                return Fetched(problem=f"Downloading {name} failed (HTTP {response.status}).")
            data = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                data += chunk
                if len(data) > MAX_FILE_BYTES:  # the size files.info gave was not the truth
                    break
    except (aiohttp.ClientError, TimeoutError):
        return Fetched(problem=f"Downloading {name} failed; try again.", name=name)
    if len(data) > MAX_FILE_BYTES:
        return Fetched(problem=_too_big(name, len(data)), name=name)
    return Fetched(data=bytes(data), name=name)


def _too_big(name: str, size: int) -> str:
    return (
        f"{name} is {size / 1048576:.1f} MB; I read files up to {MAX_FILE_BYTES // 1048576} MB. "
        "Attach its headers only, or run `mxbot message FILE`."
    )
