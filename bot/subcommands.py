"""Subcommands that live beside `check`: each module registers its parser and a handler."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

Registration = Callable[[Any, argparse.ArgumentParser], None]


def registrations() -> list[Registration]:
    from bot.cli import digest as digest_command
    from bot.cli import serve as serve_command
    from bot.cli import spf as spf_command

    return [spf_command.add_parser, serve_command.add_parsers, digest_command.add_parser]
