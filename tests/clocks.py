"""Clocks for tests, so that no result depends on the hour, the date or the machine's zone.

- `SteadyClock(start)`: the service's clock for tests where real time must pass (the bot's job
  queue and hold timers run on the event loop's real timers): it starts at a fixed moment and
  then advances with the machine's monotonic clock, never with the wall clock.
- `nudge_time_far_from_now()`: a real `python -m bot` process reads the wall clock itself, so a
  test of the real process picks the user's nudge time half a day away from that clock; no
  nudge falls due while the test runs, whatever the hour. This is the one place the tests read
  the wall clock, and only to choose data relative to it (`scripts/test-clock.sh` runs the
  suite with that clock set to several fixed times).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

# A Monday at noon UTC, outside the default quiet hours (22:00-07:00) in every zone the tests use.
NOON = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class SteadyClock:
    """Starts at `start` and runs at the pace of `time.monotonic()`; `shift` moves it on."""

    def __init__(self, start: datetime = NOON) -> None:
        self.start = start
        self.origin = time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.origin)

    def shift(self, by: timedelta) -> None:
        self.start += by


def wall_clock_now() -> datetime:
    """The time a real `python -m bot` process sees (tests of the real process only)."""
    return datetime.now(UTC)


def nudge_time_far_from_now() -> str:
    """A nudge time ("HH:MM", UTC) twelve hours from the process's clock: never due in a test."""
    return (wall_clock_now() + timedelta(hours=12)).strftime("%H:%M")
