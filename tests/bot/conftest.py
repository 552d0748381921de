"""Fixtures shared by the bot tests: the Slack app on its real HTTP server, with Slack stood in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.slackharness import MakeHarness, harness_factory


@pytest.fixture
async def make_harness(tmp_path: Path) -> AsyncIterator[MakeHarness]:
    async with harness_factory(tmp_path) as make:
        yield make
