"""When the next daily nudge is due, and which nudge it is.

Pure: the caller passes ``now`` (an aware datetime) and a :class:`NudgePlan` read from the
user's row; :func:`next_nudge_at` returns the aware UTC instant to store as the row's next nudge
time. The scheduler sends whatever is due and then records, in the user's local calendar:
``last_nudged_on`` = the local date the nudge went out, and clears ``snoozed_until``. Those two
facts are what stop a second nudge on the same day.

Rules, in the user's zone (zoneinfo, so DST is followed):

* The result is the earliest qualifying instant **at or after** ``now``; a nudge whose time
  today has already passed is not sent late, it moves to the next qualifying day.
* A qualifying day is a training day, after ``paused_until``, not the day of
  ``last_trained_on``, after ``last_nudged_on`` (at most one nudge a day), and, once
  ``missed_days`` >= 7, at least 7 days after ``last_nudged_on`` (one nudge a week).
* The nudge fires at ``nudge_time`` local wall time. A time skipped by a spring-forward change
  moves forward by the gap (02:30 becomes 03:30 in Berlin); a time repeated by a fall-back
  change fires once, at its first occurrence.
* Quiet hours are the half-open local interval [``quiet_start``, ``quiet_end``); it wraps
  midnight when start > end and is empty when start == end. A nudge time inside quiet hours
  fires at ``quiet_end`` on the same local date instead (so with 22:00-07:00 a 23:00 nudge fires
  at 07:00 that morning). If a DST gap pushes the time into quiet hours, the nudge again falls
  back to ``quiet_end`` that day; a day where no time outside quiet hours exists is skipped.
* A pending snooze wins over the normal time: the nudge fires at ``snoozed_until``, or, when
  that is inside quiet hours, at the end of that quiet period (a snooze to 23:30 under
  22:00-07:00 fires at 07:00 the next morning). A snooze re-sends the nudge it came from, so it
  may fire on the ``last_nudged_on`` day and ignores the training-day and weekly rules. It is
  dropped (the normal rules apply) once its firing instant is before ``now``, or when it would
  fire on a paused day, on the day the user trained, or on a day before ``last_nudged_on``.
* No training days means no nudges: the result is ``None``. ``None`` is also returned when no
  day qualifies within two weeks of the first candidate day (or the date is past year 9999).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from schedules.local_time import ALL_DAYS

NudgeKind = Literal["daily", "welcome_back", "weekly"]

WELCOME_BACK_AFTER_MISSED = 3
WEEKLY_AFTER_MISSED = 7
_WEEK = timedelta(days=7)
# A non-empty set of training days recurs within a week; the second week covers a day lost to
# a DST gap swallowing the whole non-quiet window.
_SEARCH_DAYS = 15


@dataclass(frozen=True, slots=True, kw_only=True)
class NudgePlan:
    """Everything the next nudge depends on; dates are the user's local calendar dates."""

    nudge_time: time
    zone: str
    training_days: frozenset[int] = ALL_DAYS
    quiet_start: time = time(22, 0)
    quiet_end: time = time(7, 0)
    paused_until: date | None = None
    last_trained_on: date | None = None
    last_nudged_on: date | None = None
    snoozed_until: datetime | None = None
    missed_days: int = 0

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone: {self.zone!r}") from error
        if not self.training_days <= ALL_DAYS:
            raise ValueError("training days must be weekday numbers 0 (Monday) to 6 (Sunday)")
        # A zone on a wall time would be a second, conflicting source of truth for the zone.
        if any(t.tzinfo is not None for t in (self.nudge_time, self.quiet_start, self.quiet_end)):
            raise ValueError("nudge and quiet-hour times are local wall times without tzinfo")
        if self.snoozed_until is not None and self.snoozed_until.utcoffset() is None:
            raise ValueError("snoozed_until must be timezone-aware")
        if self.missed_days < 0:
            raise ValueError("missed_days cannot be negative")

    @property
    def tzinfo(self) -> ZoneInfo:
        """The user's zone; ZoneInfo caches instances, so this is cheap."""
        return ZoneInfo(self.zone)

    def in_quiet_hours(self, wall: time) -> bool:
        """Whether a local wall time falls inside the half-open quiet interval."""
        start, end = self.quiet_start, self.quiet_end
        if start == end:
            return False
        if start < end:
            return start <= wall < end
        return wall >= start or wall < end


def next_nudge_at(plan: NudgePlan, now: datetime) -> datetime | None:
    """Return the next nudge as an aware UTC datetime at or after ``now``, or ``None``.

    See the module docstring for the rules.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if not plan.training_days:
        return None
    try:
        snoozed = _snoozed_nudge(plan, now)
        if snoozed is not None:
            return snoozed
        return _scheduled_nudge(plan, now)
    except OverflowError:
        # Pause or nudge dates at the end of the calendar: there is no representable next time.
        return None


def nudge_kind(plan: NudgePlan) -> NudgeKind:
    """Return which nudge message to send, from the run of consecutive missed training days.

    "weekly" from 7 missed days (the once-a-week reminder), "welcome_back" from 3 (the gentle
    offer of a shorter session), otherwise "daily".
    """
    if plan.missed_days >= WEEKLY_AFTER_MISSED:
        return "weekly"
    if plan.missed_days >= WELCOME_BACK_AFTER_MISSED:
        return "welcome_back"
    return "daily"


def _at(plan: NudgePlan, day: date, wall: time) -> datetime:
    """Return the UTC instant of a local wall time on a local day.

    fold=0 picks the first of a repeated time, and for a skipped time uses the offset before the
    change, which lands the gap's length later on the wall clock.
    """
    local = datetime.combine(day, wall.replace(fold=0), tzinfo=plan.tzinfo)
    return local.astimezone(UTC)


def _local(plan: NudgePlan, instant: datetime) -> datetime:
    return instant.astimezone(plan.tzinfo)


def _is_paused(plan: NudgePlan, day: date) -> bool:
    return plan.paused_until is not None and day <= plan.paused_until


def _snoozed_nudge(plan: NudgePlan, now: datetime) -> datetime | None:
    if plan.snoozed_until is None:
        return None
    fire = plan.snoozed_until.astimezone(UTC)
    local = _local(plan, fire)
    if plan.in_quiet_hours(local.time()):
        # In the evening part of quiet hours that wrap midnight, the quiet period ends tomorrow.
        wraps = plan.quiet_start > plan.quiet_end
        ends_tomorrow = wraps and local.time() >= plan.quiet_start
        end_day = local.date() + timedelta(days=1) if ends_tomorrow else local.date()
        fire = _at(plan, end_day, plan.quiet_end)
        local = _local(plan, fire)
        if plan.in_quiet_hours(local.time()):
            return None
    day = local.date()
    if (
        fire < now
        or _is_paused(plan, day)
        or day == plan.last_trained_on
        or (plan.last_nudged_on is not None and day < plan.last_nudged_on)
    ):
        return None
    return fire


def _first_candidate_day(plan: NudgePlan, now: datetime) -> date:
    first = _local(plan, now).date()
    if plan.paused_until is not None:
        first = max(first, plan.paused_until + timedelta(days=1))
    if plan.last_nudged_on is not None:
        gap = _WEEK if plan.missed_days >= WEEKLY_AFTER_MISSED else timedelta(days=1)
        first = max(first, plan.last_nudged_on + gap)
    return first


def _scheduled_nudge(plan: NudgePlan, now: datetime) -> datetime | None:
    wall = plan.quiet_end if plan.in_quiet_hours(plan.nudge_time) else plan.nudge_time
    first = _first_candidate_day(plan, now)
    for offset in range(_SEARCH_DAYS):
        day = first + timedelta(days=offset)
        if day.weekday() not in plan.training_days or day == plan.last_trained_on:
            continue
        fire = _fire_on(plan, day, wall)
        if fire is not None and fire >= now:
            return fire
    return None


def _fire_on(plan: NudgePlan, day: date, wall: time) -> datetime | None:
    """Return the nudge instant on a local day, or ``None`` if DST leaves no valid time."""
    for choice in (wall, plan.quiet_end):
        fire = _at(plan, day, choice)
        local = _local(plan, fire)
        if local.date() == day and not plan.in_quiet_hours(local.time()):
            return fire
    return None
