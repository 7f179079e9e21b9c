"""Tests for reading and writing local times, zones and training days."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schedules import local_time
from schedules.local_time import (
    ALL_DAYS,
    WEEKDAYS,
    WEEKENDS,
    format_days,
    format_time,
    local_date,
    parse_time_of_day,
    parse_training_days,
    resolve_zone,
)

# --- parse_time_of_day --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7:30", time(7, 30)),
        ("07:30", time(7, 30)),
        ("7.30", time(7, 30)),
        ("7h30", time(7, 30)),
        ("19h", time(19, 0)),
        ("0730", time(7, 30)),
        ("1945", time(19, 45)),
        ("7", time(7, 0)),
        ("0", time(0, 0)),
        ("7am", time(7, 0)),
        ("7 am", time(7, 0)),
        ("7 A.M.", time(7, 0)),
        ("7:30 pm", time(19, 30)),
        ("7.30PM", time(19, 30)),
        ("11:59pm", time(23, 59)),
        ("19:30", time(19, 30)),
        ("19", time(19, 0)),
        ("00:00", time(0, 0)),
        ("23:59", time(23, 59)),
        ("noon", time(12, 0)),
        ("Midnight", time(0, 0)),
        ("12am", time(0, 0)),
        ("12:15 am", time(0, 15)),
        ("12pm", time(12, 0)),
        ("12:45pm", time(12, 45)),
        ("  7:30  ", time(7, 30)),
        ("7 O'Clock", time(7, 0)),
    ],
)
def test_parse_time_of_day_accepts_usual_forms(text: str, expected: time) -> None:
    assert parse_time_of_day(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "25:99",
        "24:00",
        "24",
        "7:60",
        "7:5",
        "13pm",
        "0pm",
        "0am",
        "730",
        "12345",
        "abc",
        "",
        "   ",
        "-3",
        "7:30:15",
        "seven",
        "\u0667:30",  # Arabic-Indic seven: only ASCII digits are read.
    ],
)
def test_parse_time_of_day_rejects_impossible_or_unknown(text: str) -> None:
    assert parse_time_of_day(text) is None


@given(st.integers(0, 23), st.integers(0, 59))
def test_formatted_time_parses_back(hour: int, minute: int) -> None:
    assert parse_time_of_day(format_time(time(hour, minute))) == time(hour, minute)


@given(st.integers(1, 12), st.integers(0, 59), st.sampled_from(["am", "pm", " AM", " p.m."]))
def test_twelve_hour_clock_matches_24_hour_clock(hour: int, minute: int, half: str) -> None:
    parsed = parse_time_of_day(f"{hour}:{minute:02d}{half}")
    afternoon = "p" in half.lower()
    assert parsed == time(hour % 12 + (12 if afternoon else 0), minute)


@given(st.text())
def test_parsers_never_raise_on_arbitrary_text(text: str) -> None:
    parsed_time = parse_time_of_day(text)
    parsed_days = parse_training_days(text)
    zone = resolve_zone(text)
    assert parsed_time is None or isinstance(parsed_time, time)
    assert parsed_days is None or (parsed_days and parsed_days <= ALL_DAYS)
    assert zone is None or zone in zoneinfo.available_timezones()


@pytest.mark.parametrize(
    ("value", "expected"),
    [(time(7, 30), "07:30"), (time(0, 0), "00:00"), (time(23, 5, 59), "23:05")],
)
def test_format_time(value: time, expected: str) -> None:
    assert format_time(value) == expected


# --- resolve_zone -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("europe/berlin", "Europe/Berlin"),
        ("AMERICA/NEW_YORK", "America/New_York"),
        ("america/new york", "America/New_York"),
        ("Berlin", "Europe/Berlin"),
        ("new york", "America/New_York"),
        ("New_York", "America/New_York"),
        ("Lord Howe", "Australia/Lord_Howe"),
        ("lord_howe", "Australia/Lord_Howe"),
        ("kolkata", "Asia/Kolkata"),
        ("London", "Europe/London"),
        ("Paris", "Europe/Paris"),
        ("port au prince", "America/Port-au-Prince"),
        ("Zürich", "Europe/Zurich"),
        ("São Paulo", "America/Sao_Paulo"),
        ("Buenos Aires", "America/Argentina/Buenos_Aires"),
        ("Indianapolis", "America/Indiana/Indianapolis"),
        ("Singapore", "Asia/Singapore"),
        # The legacy top-level "Kwajalein" sorts first; the region zone is preferred.
        ("kwajalein", "Pacific/Kwajalein"),
        ("Berlin, Germany", "Europe/Berlin"),
        ("UTC", "UTC"),
        ("utc", "UTC"),
        ("GMT", "UTC"),
        ("Z", "UTC"),
        ("Etc/UTC", "UTC"),
        ("UTC+2", "Etc/GMT-2"),
        ("gmt -5", "Etc/GMT+5"),
        ("UTC+0", "UTC"),
        ("Mumbai", "Asia/Kolkata"),
        ("Delhi", "Asia/Kolkata"),
        ("India", "Asia/Kolkata"),
        ("San Francisco", "America/Los_Angeles"),
        ("Los Angeles", "America/Los_Angeles"),
        ("LA", "America/Los_Angeles"),
        ("Sydney", "Australia/Sydney"),
        ("Munich", "Europe/Berlin"),
        ("Beijing", "Asia/Shanghai"),
        ("NYC", "America/New_York"),
        ("Washington", "America/New_York"),
        ("EST", "America/New_York"),
        ("Istanbul", "Europe/Istanbul"),
        ("US/Eastern", "US/Eastern"),
    ],
)
def test_resolve_zone_finds_the_zone_people_mean(text: str, expected: str) -> None:
    assert resolve_zone(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "   ", "nowhere", "Atlantis", "Europe/Nowhere", "UTC+5:30", "UTC+99", "Factory", ","],
)
def test_resolve_zone_rejects_unknown(text: str) -> None:
    assert resolve_zone(text) is None


def test_every_alias_is_a_real_zone() -> None:
    assert set(local_time._ALIASES.values()) <= zoneinfo.available_timezones()


def test_every_full_iana_name_resolves_to_itself_in_any_case() -> None:
    # Etc/UTC and Etc/GMT are deliberately answered with plain "UTC".
    names = sorted(n for n in zoneinfo.available_timezones() if "/" in n)
    wrong = [
        (name, variant, resolve_zone(variant))
        for name in names
        if name not in {"Etc/UTC", "Etc/GMT"}
        for variant in (name, name.lower(), name.upper())
        if resolve_zone(variant) != name
    ]
    assert len(names) > 400
    assert wrong == []


# --- parse_training_days ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("every day", ALL_DAYS),
        ("Every Day", ALL_DAYS),
        ("everyday", ALL_DAYS),
        ("daily", ALL_DAYS),
        ("7 days a week", ALL_DAYS),
        ("weekdays", WEEKDAYS),
        ("week days", WEEKDAYS),
        ("weekends", WEEKENDS),
        ("weekend", WEEKENDS),
        ("mon wed fri", frozenset({0, 2, 4})),
        ("Mon, Wed, Fri", frozenset({0, 2, 4})),
        ("Mon, Wed and Fri", frozenset({0, 2, 4})),
        ("monday tuesday", frozenset({0, 1})),
        ("Mondays and Thursdays", frozenset({0, 3})),
        ("tue-thu", frozenset({1, 2, 3})),
        ("tue - thu", frozenset({1, 2, 3})),
        ("mon to fri", WEEKDAYS),
        ("Mon\u2013Fri", WEEKDAYS),
        ("fri-mon", frozenset({4, 5, 6, 0})),
        ("sun-sat", ALL_DAYS),
        ("weekdays and sat", frozenset({0, 1, 2, 3, 4, 5})),
        ("every day except sunday", frozenset(range(6))),
        ("weekdays but not wed", frozenset({0, 1, 3, 4})),
        ("sun", frozenset({6})),
    ],
)
def test_parse_training_days_accepts_usual_forms(text: str, expected: frozenset[int]) -> None:
    assert parse_training_days(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "xyz",
        "mon xyz",
        "mon-xyz",
        "mon-",
        "1 3 5",
        "every other day",
        "weekends except sat sun",
        "every day except someday",
    ],
)
def test_parse_training_days_rejects_unknown_or_empty(text: str) -> None:
    assert parse_training_days(text) is None


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (ALL_DAYS, "every day"),
        (WEEKDAYS, "weekdays"),
        (WEEKENDS, "weekends"),
        (frozenset({4, 0, 2}), "Mon, Wed, Fri"),
        (frozenset({6}), "Sun"),
        (frozenset(), "no days"),
    ],
)
def test_format_days(days: frozenset[int], expected: str) -> None:
    assert format_days(days) == expected


@given(st.frozensets(st.integers(0, 6), min_size=1))
def test_formatted_days_parse_back(days: frozenset[int]) -> None:
    assert parse_training_days(format_days(days)) == days


# --- local_date ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        (datetime(2026, 6, 1, 21, 59, tzinfo=UTC), "Europe/Berlin", date(2026, 6, 1)),
        (datetime(2026, 6, 1, 22, 0, tzinfo=UTC), "Europe/Berlin", date(2026, 6, 2)),
        (datetime(2026, 1, 1, 23, 0, tzinfo=UTC), "Europe/Berlin", date(2026, 1, 2)),
        (datetime(2026, 6, 2, 3, 59, tzinfo=UTC), "America/New_York", date(2026, 6, 1)),
        (datetime(2026, 6, 1, 18, 29, tzinfo=UTC), "Asia/Kolkata", date(2026, 6, 1)),
        (datetime(2026, 6, 1, 18, 30, tzinfo=UTC), "Asia/Kolkata", date(2026, 6, 2)),
        (datetime(2026, 6, 1, 13, 30, tzinfo=UTC), "Australia/Lord_Howe", date(2026, 6, 2)),
        (datetime(2026, 6, 1, 23, 59, tzinfo=UTC), "UTC", date(2026, 6, 1)),
    ],
)
def test_local_date_turns_over_at_local_midnight(now: datetime, zone: str, expected: date) -> None:
    assert local_date(now, zone) == expected


def test_local_date_rejects_naive_datetime() -> None:
    naive = datetime(2026, 6, 1, 12, 0, tzinfo=UTC).replace(tzinfo=None)
    with pytest.raises(ValueError, match="aware"):
        local_date(naive, "UTC")
