"""The digest schedule model: due times, descriptions and day names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.digest.schedule import Cadence, When, weekday_index

NOW = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)  # a Wednesday


def test_next_run_times_follow_the_cadence() -> None:
    assert When(Cadence.HOURLY).next_after(NOW) == datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    assert When(Cadence.DAILY, 8, 30).next_after(NOW) == datetime(2024, 5, 2, 8, 30, tzinfo=UTC)
    assert When(Cadence.DAILY, 9, 0).next_after(NOW) == datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    monday = When(Cadence.WEEKLY, 9, 0, 0).next_after(NOW)
    assert monday == datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
    wednesday = When(Cadence.WEEKLY, 8, 0, 2).next_after(NOW)
    assert wednesday == datetime(2024, 5, 8, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("when", "text"),
    [
        (When(Cadence.HOURLY), "hourly"),
        (When(Cadence.HOURLY, minute=5), "hourly at :05"),
        (When(), "daily at 09:00 UTC"),
        (When(Cadence.WEEKLY, 6, 15, 4), "weekly on Friday at 06:15 UTC"),
    ],
)
def test_a_schedule_describes_itself(when: When, text: str) -> None:
    assert when.describe() == text


@pytest.mark.parametrize(
    ("name", "index"),
    [("mon", 0), ("Monday", 0), (" thurs ", 3), ("SUN", 6), ("mo", None), ("monk", None)],
)
def test_day_names_and_their_prefixes_are_weekdays(name: str, index: int | None) -> None:
    assert weekday_index(name) == index
