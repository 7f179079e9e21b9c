"""Tests for the next-nudge computation: zones, DST, quiet hours, pause, snooze, missed days."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from schedules.local_time import WEEKDAYS
from schedules.nudges import NudgePlan, next_nudge_at, nudge_kind

BERLIN = "Europe/Berlin"


def at(local_iso: str, zone: str = BERLIN) -> datetime:
    """An aware UTC instant from a local wall time such as "2026-06-01T07:30"."""
    naive = datetime.fromisoformat(local_iso)
    return naive.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def plan(**changes: Any) -> NudgePlan:
    fields: dict[str, Any] = {"nudge_time": time(7, 30), "zone": BERLIN}
    fields.update(changes)
    return NudgePlan(**fields)


def next_local(nudges: NudgePlan, now: datetime) -> str | None:
    """The next nudge as a local ISO string with offset, so a test pins both wall time and UTC."""
    result = next_nudge_at(nudges, now)
    if result is None:
        return None
    assert result.tzinfo is UTC
    assert result >= now
    return result.astimezone(ZoneInfo(nudges.zone)).isoformat(timespec="minutes")


# 2026-06-01 is a Monday.


# --- time zones and DST -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "nudge_time", "last_nudged_on", "now_local", "expected"),
    [
        # No DST.
        ("UTC", time(7, 30), None, "2026-06-01T06:00", "2026-06-01T07:30+00:00"),
        ("Asia/Kolkata", time(7, 30), None, "2026-06-01T06:00", "2026-06-01T07:30+05:30"),
        ("Asia/Kolkata", time(7, 30), None, "2026-06-01T08:00", "2026-06-02T07:30+05:30"),
        # Europe/Berlin springs forward 2026-03-29 02:00 -> 03:00 and falls back 10-25 03:00.
        (BERLIN, time(7, 30), None, "2026-03-28T08:00", "2026-03-29T07:30+02:00"),
        (BERLIN, time(7, 30), None, "2026-03-28T07:00", "2026-03-28T07:30+01:00"),
        (BERLIN, time(2, 30), None, "2026-03-28T12:00", "2026-03-29T03:30+02:00"),
        (BERLIN, time(2, 30), None, "2026-03-29T12:00", "2026-03-30T02:30+02:00"),
        (BERLIN, time(7, 30), None, "2026-10-24T08:00", "2026-10-25T07:30+01:00"),
        (BERLIN, time(2, 30), None, "2026-10-24T12:00", "2026-10-25T02:30+02:00"),
        (BERLIN, time(3, 0), None, "2026-03-28T12:00", "2026-03-29T03:00+02:00"),
        # America/New_York springs forward 2026-03-08 02:00 and falls back 11-01 02:00.
        ("America/New_York", time(7, 30), None, "2026-03-07T08:00", "2026-03-08T07:30-04:00"),
        ("America/New_York", time(2, 30), None, "2026-03-07T08:00", "2026-03-08T03:30-04:00"),
        ("America/New_York", time(7, 30), None, "2026-10-31T08:00", "2026-11-01T07:30-05:00"),
        ("America/New_York", time(1, 30), None, "2026-10-31T08:00", "2026-11-01T01:30-04:00"),
        # Australia/Lord_Howe shifts by 30 minutes: back 2026-04-05 02:00 -> 01:30,
        # forward 2026-10-04 02:00 -> 02:30.
        ("Australia/Lord_Howe", time(7, 30), None, "2026-04-04T08:00", "2026-04-05T07:30+10:30"),
        ("Australia/Lord_Howe", time(1, 45), None, "2026-04-04T08:00", "2026-04-05T01:45+11:00"),
        ("Australia/Lord_Howe", time(7, 30), None, "2026-10-03T08:00", "2026-10-04T07:30+11:00"),
        ("Australia/Lord_Howe", time(2, 15), None, "2026-10-03T08:00", "2026-10-04T02:45+11:00"),
    ],
)
def test_nudge_keeps_local_wall_time_across_dst(
    zone: str, nudge_time: time, last_nudged_on: date | None, now_local: str, expected: str
) -> None:
    # Quiet hours off so that small-hours nudge times exercise the DST gaps and overlaps.
    nudges = plan(
        zone=zone, nudge_time=nudge_time, quiet_start=time(0), quiet_end=time(0),
        last_nudged_on=last_nudged_on,
    )  # fmt: skip
    assert next_local(nudges, at(now_local, zone)) == expected


def test_repeated_fall_back_time_fires_only_once() -> None:
    nudges = plan(nudge_time=time(2, 30), quiet_start=time(0), quiet_end=time(0))
    first = next_nudge_at(nudges, at("2026-10-25T00:00"))
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    # Sent at the first 02:30; the second 02:30 an hour later must not fire again.
    sent = replace(nudges, last_nudged_on=date(2026, 10, 25))
    again = next_nudge_at(sent, first + timedelta(minutes=1))
    assert again == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)


def test_between_the_two_repeated_times_the_nudge_moves_to_the_next_day() -> None:
    nudges = plan(nudge_time=time(2, 30), quiet_start=time(0), quiet_end=time(0))
    # 02:45 summer time, after the first 02:30 and before the second: no late or second nudge.
    between = datetime(2026, 10, 25, 0, 45, tzinfo=UTC)
    assert next_local(nudges, between) == "2026-10-26T02:30+01:00"


def test_a_day_missing_from_the_calendar_is_skipped() -> None:
    # Samoa jumped the date line: Friday 2011-12-30 never happened in Pacific/Apia. Its 07:30
    # would resolve to Saturday 07:30, a rest day here, so the next Friday is used instead.
    nudges = plan(zone="Pacific/Apia", training_days=frozenset({4}))
    assert next_local(nudges, at("2011-12-29T12:00", "Pacific/Apia")) == "2012-01-06T07:30+14:00"


def test_result_is_utc_even_when_now_is_given_in_another_zone() -> None:
    now = datetime(2026, 6, 1, 6, 0, tzinfo=ZoneInfo(BERLIN))
    result = next_nudge_at(plan(), now)
    assert result == datetime(2026, 6, 1, 5, 30, tzinfo=UTC)
    assert result is not None
    assert result.tzinfo is UTC


# --- quiet hours --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nudge_time", "quiet", "now_local", "expected"),
    [
        (time(23, 0), (time(22), time(7)), "2026-06-01T06:00", "2026-06-01T07:00+02:00"),
        (time(23, 0), (time(22), time(7)), "2026-06-01T08:00", "2026-06-02T07:00+02:00"),
        (time(5, 0), (time(22), time(7)), "2026-06-01T04:00", "2026-06-01T07:00+02:00"),
        (time(22, 0), (time(22), time(7)), "2026-06-01T06:00", "2026-06-01T07:00+02:00"),
        (time(7, 0), (time(22), time(7)), "2026-06-01T06:00", "2026-06-01T07:00+02:00"),
        (time(21, 59), (time(22), time(7)), "2026-06-01T06:00", "2026-06-01T21:59+02:00"),
        (time(14, 0), (time(13), time(15)), "2026-06-01T06:00", "2026-06-01T15:00+02:00"),
        (time(12, 59), (time(13), time(15)), "2026-06-01T06:00", "2026-06-01T12:59+02:00"),
        (time(23, 0), (time(0), time(0)), "2026-06-01T06:00", "2026-06-01T23:00+02:00"),
        (time(3, 0), (time(22), time(7)), "2026-06-01T23:30", "2026-06-02T07:00+02:00"),
        # Spring forward pushes 02:30 to 03:30, inside 03:00-07:00: quiet end that morning.
        (time(2, 30), (time(3), time(7)), "2026-03-28T12:00", "2026-03-29T07:00+02:00"),
        # Quiet 03:00-02:30 leaves only 02:30-03:00, which 2026-03-29 does not have: skip it.
        (time(2, 45), (time(3), time(2, 30)), "2026-03-28T12:00", "2026-03-30T02:45+02:00"),
    ],
)
def test_nudge_never_fires_in_quiet_hours(
    nudge_time: time, quiet: tuple[time, time], now_local: str, expected: str
) -> None:
    nudges = plan(nudge_time=nudge_time, quiet_start=quiet[0], quiet_end=quiet[1])
    assert next_local(nudges, at(now_local)) == expected


@pytest.mark.parametrize(
    ("quiet", "wall", "expected"),
    [
        ((time(22), time(7)), time(21, 59), False),
        ((time(22), time(7)), time(22), True),
        ((time(22), time(7)), time(0), True),
        ((time(22), time(7)), time(6, 59), True),
        ((time(22), time(7)), time(7), False),
        ((time(13), time(15)), time(12, 59), False),
        ((time(13), time(15)), time(13), True),
        ((time(13), time(15)), time(15), False),
        ((time(8), time(8)), time(8), False),
    ],
)
def test_quiet_hours_are_half_open_and_may_wrap(
    quiet: tuple[time, time], wall: time, expected: bool
) -> None:
    assert plan(quiet_start=quiet[0], quiet_end=quiet[1]).in_quiet_hours(wall) is expected


# --- which day ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "now_local", "expected"),
    [
        ({}, "2026-06-01T07:30", "2026-06-01T07:30+02:00"),
        ({}, "2026-06-01T07:30:01", "2026-06-02T07:30+02:00"),
        ({"last_trained_on": date(2026, 6, 1)}, "2026-06-01T06:00", "2026-06-02T07:30+02:00"),
        ({"last_trained_on": date(2026, 5, 31)}, "2026-06-01T06:00", "2026-06-01T07:30+02:00"),
        ({"last_nudged_on": date(2026, 6, 1)}, "2026-06-01T06:00", "2026-06-02T07:30+02:00"),
        ({"last_nudged_on": date(2026, 5, 31)}, "2026-06-01T06:00", "2026-06-01T07:30+02:00"),
        # Rest days: Mon/Wed/Fri only.
        ({"training_days": frozenset({0, 2, 4})}, "2026-06-02T06:00", "2026-06-03T07:30+02:00"),
        ({"training_days": WEEKDAYS}, "2026-06-05T08:00", "2026-06-08T07:30+02:00"),
        ({"training_days": frozenset({6})}, "2026-06-01T06:00", "2026-06-07T07:30+02:00"),
        # Pause: no nudge on any day up to and including paused_until.
        ({"paused_until": date(2026, 6, 3)}, "2026-06-01T06:00", "2026-06-04T07:30+02:00"),
        ({"paused_until": date(2026, 6, 1)}, "2026-06-01T06:00", "2026-06-02T07:30+02:00"),
        ({"paused_until": date(2026, 5, 31)}, "2026-06-01T06:00", "2026-06-01T07:30+02:00"),
        (
            {"paused_until": date(2026, 6, 5), "training_days": WEEKDAYS},
            "2026-06-01T06:00",
            "2026-06-08T07:30+02:00",
        ),
        # Missed days: from 3 the schedule is unchanged; from 7 one nudge a week.
        (
            {"missed_days": 3, "last_nudged_on": date(2026, 6, 1)},
            "2026-06-01T08:00",
            "2026-06-02T07:30+02:00",
        ),
        (
            {"missed_days": 6, "last_nudged_on": date(2026, 6, 1)},
            "2026-06-01T08:00",
            "2026-06-02T07:30+02:00",
        ),
        (
            {"missed_days": 7, "last_nudged_on": date(2026, 6, 1)},
            "2026-06-01T08:00",
            "2026-06-08T07:30+02:00",
        ),
        (
            {"missed_days": 7, "last_nudged_on": date(2026, 6, 1)},
            "2026-06-09T08:00",
            "2026-06-10T07:30+02:00",
        ),
        (
            {"missed_days": 9, "last_nudged_on": date(2026, 6, 1), "training_days": {2, 4}},
            "2026-06-01T08:00",
            "2026-06-10T07:30+02:00",
        ),
        ({"missed_days": 7}, "2026-06-01T06:00", "2026-06-01T07:30+02:00"),
    ],
)
def test_nudge_day_rules(changes: dict[str, Any], now_local: str, expected: str) -> None:
    if "training_days" in changes:
        changes = {**changes, "training_days": frozenset(changes["training_days"])}
    assert next_local(plan(**changes), at(now_local)) == expected


def test_no_training_days_means_no_nudges() -> None:
    nudges = plan(training_days=frozenset(), snoozed_until=at("2026-06-01T09:00"))
    assert next_nudge_at(nudges, at("2026-06-01T06:00")) is None


def test_pause_to_the_end_of_the_calendar_gives_none() -> None:
    assert next_nudge_at(plan(paused_until=date.max), at("2026-06-01T06:00")) is None


# --- snooze -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "snoozed_until", "now_local", "expected"),
    [
        # The snooze re-sends today's nudge even though today was already nudged.
        (
            {"last_nudged_on": date(2026, 6, 1)},
            "2026-06-01T08:00",
            "2026-06-01T07:31",
            "2026-06-01T08:00+02:00",
        ),
        # A snooze wins over an earlier normal time.
        ({}, "2026-06-01T09:00", "2026-06-01T06:00", "2026-06-01T09:00+02:00"),
        # Into the evening part of quiet hours: the end of that quiet period, next morning,
        # even though Tuesday is not a training day.
        (
            {"last_nudged_on": date(2026, 6, 1), "training_days": frozenset({0})},
            "2026-06-01T23:30",
            "2026-06-01T21:30",
            "2026-06-02T07:00+02:00",
        ),
        # Into the morning part of quiet hours: the quiet end that same morning.
        ({}, "2026-06-01T05:00", "2026-06-01T04:30", "2026-06-01T07:00+02:00"),
        # The snoozed time itself is past but its quiet-hours end is not: still pending.
        (
            {"last_nudged_on": date(2026, 6, 1)},
            "2026-06-01T23:30",
            "2026-06-02T00:30",
            "2026-06-02T07:00+02:00",
        ),
        # A snooze in the past is spent: normal rules.
        (
            {"last_nudged_on": date(2026, 6, 1)},
            "2026-06-01T08:00",
            "2026-06-01T08:01",
            "2026-06-02T07:30+02:00",
        ),
        # Dropped on the day the user trained, and on a paused day.
        (
            {"last_trained_on": date(2026, 6, 1), "last_nudged_on": date(2026, 6, 1)},
            "2026-06-01T08:00",
            "2026-06-01T07:40",
            "2026-06-02T07:30+02:00",
        ),
        (
            {"paused_until": date(2026, 6, 2), "last_nudged_on": date(2026, 6, 1)},
            "2026-06-01T08:00",
            "2026-06-01T07:40",
            "2026-06-03T07:30+02:00",
        ),
        # Dropped when it would fire before a later day already nudged.
        (
            {"last_nudged_on": date(2026, 6, 2)},
            "2026-06-01T20:00",
            "2026-06-01T19:00",
            "2026-06-03T07:30+02:00",
        ),
        # Weekly mode does not block the re-send of the weekly nudge.
        (
            {"missed_days": 8, "last_nudged_on": date(2026, 6, 1)},
            "2026-06-01T10:00",
            "2026-06-01T08:00",
            "2026-06-01T10:00+02:00",
        ),
    ],
)
def test_snooze(
    changes: dict[str, Any], snoozed_until: str, now_local: str, expected: str
) -> None:
    nudges = plan(snoozed_until=at(snoozed_until), **changes)
    assert next_local(nudges, at(now_local)) == expected


def test_snooze_across_spring_forward_lands_after_the_gap() -> None:
    now = at("2026-03-29T01:45")
    nudges = plan(
        quiet_start=time(0), quiet_end=time(0), snoozed_until=now + timedelta(minutes=30)
    )
    assert next_local(nudges, now) == "2026-03-29T03:15+02:00"


def test_snooze_whose_quiet_end_is_swallowed_by_dst_is_dropped() -> None:
    # Quiet 03:00-02:30 leaves only 02:30-03:00, which 2026-03-29 lacks: the snooze to 01:50
    # has no quiet end that day, so the normal rules pick the next day with a valid time.
    nudges = plan(
        nudge_time=time(2, 45),
        quiet_start=time(3),
        quiet_end=time(2, 30),
        last_nudged_on=date(2026, 3, 28),
        snoozed_until=at("2026-03-29T01:50"),
    )
    assert next_local(nudges, at("2026-03-29T01:40")) == "2026-03-30T02:45+02:00"


# --- kind and validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missed_days", "expected"),
    [
        (0, "daily"),
        (2, "daily"),
        (3, "welcome_back"),
        (6, "welcome_back"),
        (7, "weekly"),
        (30, "weekly"),
    ],
)
def test_nudge_kind(missed_days: int, expected: str) -> None:
    assert nudge_kind(plan(missed_days=missed_days)) == expected


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"zone": "Mars/Olympus"}, "time zone"),
        ({"zone": "../etc/passwd"}, "time zone"),
        ({"training_days": frozenset({7})}, "weekday"),
        ({"nudge_time": time(7, 30, tzinfo=UTC)}, "wall times"),
        ({"quiet_end": time(7, tzinfo=UTC)}, "wall times"),
        ({"snoozed_until": datetime(2026, 6, 1, 8, tzinfo=UTC).replace(tzinfo=None)}, "aware"),
        ({"missed_days": -1}, "negative"),
    ],
)
def test_plan_rejects_invalid_values(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan(**changes)


def test_naive_now_is_rejected() -> None:
    naive = datetime(2026, 6, 1, 6, tzinfo=UTC).replace(tzinfo=None)
    with pytest.raises(ValueError, match="aware"):
        next_nudge_at(plan(), naive)


# --- properties ---------------------------------------------------------------------------------

ZONES = [
    BERLIN,
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "UTC",
    # DST changes at local midnight, where a skipped time can fall off the end of the day.
    "America/Santiago",
    "America/Havana",
    "Asia/Beirut",
]
# The 2026 DST change days of the zones above (checked with zoneinfo), to make them likely.
DST_DAYS = [
    date(2026, 3, 8),  # New York, Havana
    date(2026, 3, 29),  # Berlin, Beirut
    date(2026, 4, 4),  # Santiago falls back at midnight
    date(2026, 4, 5),  # Lord Howe
    date(2026, 9, 6),  # Santiago
    date(2026, 10, 4),  # Lord Howe
    date(2026, 10, 24),  # Beirut falls back at midnight
    date(2026, 10, 25),  # Berlin
    date(2026, 11, 1),  # New York, Havana
]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

wall_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45, 59]))
nows = st.one_of(
    st.integers(0, 3 * 365 * 24 * 60).map(lambda minutes: EPOCH + timedelta(minutes=minutes)),
    st.builds(
        lambda day, minutes: (
            datetime.combine(day, time(), tzinfo=UTC) + timedelta(minutes=minutes)
        ),
        st.sampled_from(DST_DAYS),
        st.integers(-3 * 24 * 60, 3 * 24 * 60),
    ),
)
day_offsets = st.none() | st.integers(-10, 10)


@st.composite
def plans_and_nows(draw: st.DrawFn, snooze: bool) -> tuple[NudgePlan, datetime]:
    now = draw(nows)
    zone = draw(st.sampled_from(ZONES))
    today = now.astimezone(ZoneInfo(zone)).date()

    def near_today() -> date | None:
        offset = draw(day_offsets)
        return None if offset is None else today + timedelta(days=offset)

    snoozed_until = None
    if snooze:
        snoozed_until = now + timedelta(minutes=draw(st.integers(-6 * 60, 30 * 60)))
    nudges = NudgePlan(
        nudge_time=draw(wall_times),
        zone=zone,
        training_days=draw(st.frozensets(st.integers(0, 6), min_size=1)),
        quiet_start=draw(wall_times),
        quiet_end=draw(wall_times),
        paused_until=near_today(),
        last_trained_on=near_today(),
        last_nudged_on=near_today(),
        snoozed_until=snoozed_until,
        missed_days=draw(st.integers(0, 10)),
    )
    return nudges, now


def is_dst_change_day(day: date, zone: str) -> bool:
    tz = ZoneInfo(zone)
    start = datetime.combine(day, time(), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz)
    return start.utcoffset() != end.utcoffset()


@given(plans_and_nows(snooze=False))
@example(
    (
        NudgePlan(nudge_time=time(2, 30), zone=BERLIN, quiet_start=time(3), quiet_end=time(2, 30)),
        datetime(2026, 3, 28, 12, tzinfo=UTC),
    )
)
def test_scheduled_nudge_obeys_every_rule(case: tuple[NudgePlan, datetime]) -> None:
    nudges, now = case
    result = next_nudge_at(nudges, now)
    assert result is not None
    assert result.tzinfo is UTC
    assert result >= now
    local = result.astimezone(ZoneInfo(nudges.zone))
    day = local.date()
    assert not nudges.in_quiet_hours(local.time())
    assert day.weekday() in nudges.training_days
    assert nudges.paused_until is None or day > nudges.paused_until
    assert day != nudges.last_trained_on
    if nudges.last_nudged_on is not None:
        assert day > nudges.last_nudged_on
        if nudges.missed_days >= 7:
            assert day >= nudges.last_nudged_on + timedelta(days=7)
    if not is_dst_change_day(day, nudges.zone):
        quiet = nudges.in_quiet_hours(nudges.nudge_time)
        assert local.time() == (nudges.quiet_end if quiet else nudges.nudge_time)


@given(plans_and_nows(snooze=False), st.floats(0, 1))
def test_next_nudge_is_stable_until_it_fires_and_then_moves_a_day(
    case: tuple[NudgePlan, datetime], fraction: float
) -> None:
    nudges, now = case
    result = next_nudge_at(nudges, now)
    assert result is not None
    later = now + (result - now) * fraction
    assert next_nudge_at(nudges, later) == result
    assert next_nudge_at(nudges, result) == result
    sent_on = result.astimezone(ZoneInfo(nudges.zone)).date()
    after = next_nudge_at(replace(nudges, last_nudged_on=sent_on), result)
    assert after is not None
    assert after.astimezone(ZoneInfo(nudges.zone)).date() > sent_on


@given(plans_and_nows(snooze=True))
def test_snoozed_nudge_is_never_quiet_paused_or_on_a_trained_day(
    case: tuple[NudgePlan, datetime],
) -> None:
    nudges, now = case
    result = next_nudge_at(nudges, now)
    assert result is not None
    assert result >= now
    local = result.astimezone(ZoneInfo(nudges.zone))
    assert not nudges.in_quiet_hours(local.time())
    assert nudges.paused_until is None or local.date() > nudges.paused_until
    assert local.date() != nudges.last_trained_on
    assert next_nudge_at(nudges, result) == result
