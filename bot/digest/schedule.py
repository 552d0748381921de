"""When a channel's digest is due (pure): hourly at :MM, daily at HH:MM or weekly on a day, UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

DEFAULT_LEASE: Final = timedelta(minutes=15)  # longer than any digest run takes
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class Cadence(StrEnum):
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"


@dataclass(frozen=True, slots=True)
class When:
    """How often a channel's digest runs: hourly at :MM, daily at HH:MM, weekly on a day."""

    cadence: Cadence = Cadence.DAILY
    hour: int = 9
    minute: int = 0
    weekday: int = 0  # 0 = Monday; weekly only

    def describe(self) -> str:
        clock = f"{self.hour:02d}:{self.minute:02d} UTC"
        if self.cadence is Cadence.HOURLY:
            return "hourly" if self.minute == 0 else f"hourly at :{self.minute:02d}"
        if self.cadence is Cadence.WEEKLY:
            return f"weekly on {_DAY_NAMES[self.weekday]} at {clock}"
        return f"daily at {clock}"

    @property
    def period(self) -> timedelta:
        """The time from one run to the next."""
        match self.cadence:
            case Cadence.HOURLY:
                return timedelta(hours=1)
            case Cadence.WEEKLY:
                return timedelta(days=7)
        return timedelta(days=1)

    def next_after(self, moment: datetime) -> datetime:
        """The first run strictly after `moment` (aware, UTC)."""
        moment = moment.astimezone(UTC)
        if self.cadence is Cadence.HOURLY:
            candidate = moment.replace(minute=self.minute, second=0, microsecond=0)
            step = timedelta(hours=1)
        else:
            candidate = moment.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)
            step = timedelta(days=1)
            if self.cadence is Cadence.WEEKLY:
                candidate += timedelta(days=(self.weekday - candidate.weekday()) % 7)
                step = timedelta(days=7)
        while candidate <= moment:
            candidate += step
        return candidate


@dataclass(frozen=True, slots=True)
class Schedule:
    """A channel's digest schedule, as stored: `id` is what a run is claimed and recorded by."""

    id: int
    team_id: str
    channel_id: str
    when: When
    next_run_at: datetime


def weekday_index(name: str) -> int | None:
    """0 for "mon"/"Monday", …; None when it is not a day."""
    key = name.strip().lower()[:3]
    if len(name.strip()) < 3 or key not in WEEKDAYS:
        return None
    full = _DAY_NAMES[WEEKDAYS.index(key)].lower()
    return WEEKDAYS.index(key) if full.startswith(name.strip().lower()) else None
