"""Reading and writing the user's local time: times of day, time zones and training days.

Everything here is pure: no clock reads and no I/O. Parsers take what a person typed and return
a value or ``None``; they never raise on bad input, so the conversation can simply ask again.
Weekdays are numbered like :meth:`datetime.date.weekday`: Monday is 0, Sunday is 6.
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from collections.abc import Iterable
from datetime import date, datetime, time
from functools import cache

ALL_DAYS: frozenset[int] = frozenset(range(7))
WEEKDAYS: frozenset[int] = frozenset(range(5))
WEEKENDS: frozenset[int] = frozenset({5, 6})

_DAY_ABBREVIATIONS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# --- times of day -------------------------------------------------------------------------------

_TIME_WORDS = {
    "noon": time(12, 0),
    "midday": time(12, 0),
    "midnight": time(0, 0),
}
# ASCII digits only: `\d` would also accept other scripts' digits, which nobody types for a time.
_CLOCK = re.compile(
    r"(?P<hour>[0-9]{1,2})(?:\s*[:.h]\s*(?P<minute>[0-9]{2})|h)?\s*(?P<half>am|pm)?",
)
# Four digits are read as HHMM ("0730"); three ("730") are too ambiguous to guess at.
_COMPACT = re.compile(r"(?P<hour>[0-9]{2})(?P<minute>[0-9]{2})\s*(?P<half>am|pm)?")


def parse_time_of_day(text: str) -> time | None:
    """Return the wall-clock time a person typed, or ``None`` if it is not a real time.

    Accepts 24-hour ("19:30", "19", "0730") and 12-hour ("7pm", "7:30 p.m.", "12am") forms with
    ":", "." or "h" between hours and minutes, plus "noon" and "midnight".
    """
    normal = " ".join(text.lower().split())
    normal = normal.replace("a.m.", "am").replace("p.m.", "pm").replace("a.m", "am")
    normal = normal.replace("p.m", "pm").removesuffix("o'clock").removesuffix("oclock").strip()
    if normal in _TIME_WORDS:
        return _TIME_WORDS[normal]
    match = _CLOCK.fullmatch(normal) or _COMPACT.fullmatch(normal)
    if match is None:
        return None
    hour = int(match["hour"])
    minute = int(match["minute"] or 0)
    half = match["half"]
    if minute > 59:
        return None
    if half is None:
        return time(hour, minute) if hour <= 23 else None
    if not 1 <= hour <= 12:
        return None
    # 12am is the start of the day and 12pm is noon: the 12 acts as 0 in both halves.
    return time(hour % 12 + (12 if half == "pm" else 0), minute)


def format_time(t: time) -> str:
    """Return a time the way the coach shows it: 24-hour "HH:MM"."""
    return f"{t.hour:02d}:{t.minute:02d}"


# --- time zones ---------------------------------------------------------------------------------

_UTC_NAMES = frozenset(
    {"utc", "gmt", "z", "zulu", "uct", "universal", "greenwich", "etc/utc", "etc/gmt", "utc0"}
)
# Names people use that are not IANA city components, or whose IANA match would be a poor
# choice (fixed-offset "EST" has no DST; "Japan" is a legacy link). Keys are normalised.
_ALIASES = {
    "mumbai": "Asia/Kolkata",
    "bombay": "Asia/Kolkata",
    "delhi": "Asia/Kolkata",
    "new_delhi": "Asia/Kolkata",
    "bangalore": "Asia/Kolkata",
    "bengaluru": "Asia/Kolkata",
    "chennai": "Asia/Kolkata",
    "calcutta": "Asia/Kolkata",
    "india": "Asia/Kolkata",
    "ist": "Asia/Kolkata",
    "san_francisco": "America/Los_Angeles",
    "sf": "America/Los_Angeles",
    "seattle": "America/Los_Angeles",
    "la": "America/Los_Angeles",
    "pacific": "America/Los_Angeles",
    "pst": "America/Los_Angeles",
    "pdt": "America/Los_Angeles",
    "nyc": "America/New_York",
    "ny": "America/New_York",
    "washington": "America/New_York",
    "washington_dc": "America/New_York",
    "boston": "America/New_York",
    "miami": "America/New_York",
    "atlanta": "America/New_York",
    "eastern": "America/New_York",
    "est": "America/New_York",
    "edt": "America/New_York",
    "houston": "America/Chicago",
    "dallas": "America/Chicago",
    "central": "America/Chicago",
    "cst": "America/Chicago",
    "cdt": "America/Chicago",
    "mountain": "America/Denver",
    "mst": "America/Denver",
    "mdt": "America/Denver",
    "munich": "Europe/Berlin",
    "hamburg": "Europe/Berlin",
    "frankfurt": "Europe/Berlin",
    "cologne": "Europe/Berlin",
    "germany": "Europe/Berlin",
    "france": "Europe/Paris",
    "spain": "Europe/Madrid",
    "barcelona": "Europe/Madrid",
    "italy": "Europe/Rome",
    "milan": "Europe/Rome",
    "netherlands": "Europe/Amsterdam",
    "geneva": "Europe/Zurich",
    "uk": "Europe/London",
    "england": "Europe/London",
    "britain": "Europe/London",
    "manchester": "Europe/London",
    "edinburgh": "Europe/London",
    "istanbul": "Europe/Istanbul",
    "beijing": "Asia/Shanghai",
    "china": "Asia/Shanghai",
    "hong_kong": "Asia/Hong_Kong",
    "japan": "Asia/Tokyo",
    "osaka": "Asia/Tokyo",
    "korea": "Asia/Seoul",
    "singapore": "Asia/Singapore",
    "canberra": "Australia/Sydney",
    "auckland": "Pacific/Auckland",
    "new_zealand": "Pacific/Auckland",
    "nz": "Pacific/Auckland",
    "saigon": "Asia/Ho_Chi_Minh",
    "kiev": "Europe/Kyiv",
}
_PREFERRED_REGIONS = (
    "Africa/",
    "America/",
    "Antarctica/",
    "Arctic/",
    "Asia/",
    "Atlantic/",
    "Australia/",
    "Europe/",
    "Indian/",
    "Pacific/",
)
# Present in some tz databases but not places anyone lives.
_NOT_PLACES = frozenset({"Factory", "localtime", "posixrules"})
_OFFSET = re.compile(r"(?:utc|gmt)([+-])([0-9]{1,2})(?::?00)?")


def _normalise(text: str) -> str:
    """Fold case, accents and the space/underscore/hyphen variants of a place name."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[\s_-]+", "_", plain)


def _preference(name: str) -> tuple[bool, int, str]:
    # Modern region zones beat legacy links (US/..., top-level names); among region zones the
    # deeper name is the canonical one (America/Argentina/Cordoba, not America/Cordoba).
    return (not name.startswith(_PREFERRED_REGIONS), -name.count("/"), name)


@cache
def _zone_index() -> tuple[dict[str, str], dict[str, str]]:
    """Map normalised full names and normalised last components to the best zone name."""
    names = sorted(zoneinfo.available_timezones() - _NOT_PLACES, key=_preference)
    by_full: dict[str, str] = {}
    by_place: dict[str, str] = {}
    for name in names:
        by_full.setdefault(_normalise(name), name)
        by_place.setdefault(_normalise(name.rsplit("/", 1)[-1]), name)
    return by_full, by_place


def resolve_zone(text: str) -> str | None:
    """Return the IANA zone name for a zone or place a person typed, or ``None``.

    Matches full IANA names ("europe/berlin"), a place alone ("new york", "Lord_Howe"), a few
    common cities and countries that IANA does not name, "UTC"/"GMT"/"Z", and whole-hour
    offsets such as "UTC+2". Anything after a comma is ignored if the whole text does not match
    ("Berlin, Germany").
    """
    key = _normalise(text)
    if not key:
        return None
    if key in _UTC_NAMES:
        return "UTC"
    if key in _ALIASES:
        return _ALIASES[key]
    # Read the sign before normalising, which folds "-" into "_".
    offset = _OFFSET.fullmatch(re.sub(r"\s+", "", text.lower()).replace("\u2212", "-"))
    if offset is not None:
        hours = int(offset[2])
        if hours == 0:
            return "UTC"
        # POSIX-style Etc names invert the sign: UTC+2 is Etc/GMT-2.
        name = f"Etc/GMT{'-' if offset[1] == '+' else '+'}{hours}"
        return name if name in zoneinfo.available_timezones() else None
    by_full, by_place = _zone_index()
    found = by_full.get(key) if "/" in key else by_place.get(key)
    if found is None and "," in text:
        return resolve_zone(text.split(",", 1)[0])
    return found


# --- training days ------------------------------------------------------------------------------

_DAY_SPELLINGS = (
    ("mo", "mon", "monday"),
    ("tu", "tue", "tues", "tuesday"),
    ("we", "wed", "weds", "wednesday"),
    ("th", "thu", "thur", "thurs", "thursday"),
    ("fr", "fri", "friday"),
    ("sa", "sat", "saturday"),
    ("su", "sun", "sunday"),
)
# The last spelling is the full name; its plural ("mondays") is accepted too.
_DAY_NAMES = {
    name: number
    for number, spellings in enumerate(_DAY_SPELLINGS)
    for name in (*spellings, spellings[-1] + "s")
}
_GROUPS = {
    "daily": ALL_DAYS,
    "everyday": ALL_DAYS,
    "weekdays": WEEKDAYS,
    "weekday": WEEKDAYS,
    "workdays": WEEKDAYS,
    "weekends": WEEKENDS,
    "weekend": WEEKENDS,
}
_PHRASES = (
    (r"\b(?:every|each|all|any)\s+days?\b", "daily"),
    (r"\ball\s+week(?:\s+long)?\b", "daily"),
    (r"\b7\s+days(?:\s+a\s+week)?\b", "daily"),
    (r"\bweek\s+days\b", "weekdays"),
    (r"\bwork\s*days\b", "weekdays"),
    (r"\bweek\s+ends?\b", "weekends"),
    (r"\s*(?:\bto\b|\bthrough\b|\bthru\b|\btill\b|\buntil\b|[-\u2013\u2014])\s*", "-"),
)
_EXCEPTION = re.compile(r"\b(?:except(?:\s+for)?|but\s+not|but|apart\s+from|without)\b")
_FILLERS = frozenset({"and", "on", "every", "each", "the"})


def _day(token: str) -> int | None:
    return _DAY_NAMES.get(token.rstrip("."))


def _days_in(text: str) -> frozenset[int] | None:
    tokens = re.sub(r"[,;/&+]", " ", text).split()
    days: set[int] = set()
    for token in tokens:
        if token in _FILLERS:
            continue
        if token in _GROUPS:
            days |= _GROUPS[token]
            continue
        if "-" in token:
            first, _, last = token.partition("-")
            start, end = _day(first), _day(last)
            if start is None or end is None:
                return None
            # Ranges may wrap the weekend: "fri-mon" is Fri, Sat, Sun, Mon.
            days.update((start + step) % 7 for step in range((end - start) % 7 + 1))
            continue
        number = _day(token)
        if number is None:
            return None
        days.add(number)
    return frozenset(days) if days else None


def parse_training_days(text: str) -> frozenset[int] | None:
    """Return the weekdays (Monday=0) a person typed, or ``None`` if any part is not understood.

    Accepts groups ("every day", "daily", "weekdays", "weekends"), day names and abbreviations
    in any list form ("mon wed fri", "Mon, Wed and Fri"), ranges ("tue-thu", "mon to fri") and
    one exception clause ("every day except sunday").
    """
    normal = " ".join(text.lower().split())
    for pattern, replacement in _PHRASES:
        normal = re.sub(pattern, replacement, normal)
    exception = _EXCEPTION.search(normal)
    included = normal if exception is None else normal[: exception.start()]
    excluded = "" if exception is None else normal[exception.end() :]
    days = _days_in(included)
    if days is None:
        return None
    if excluded.strip():
        removed = _days_in(excluded)
        if removed is None:
            return None
        days -= removed
    return days or None


def format_days(days: Iterable[int]) -> str:
    """Return training days the way the coach shows them: "every day", "weekdays", "Mon, Wed"."""
    chosen = frozenset(days)
    if chosen == ALL_DAYS:
        return "every day"
    if chosen == WEEKDAYS:
        return "weekdays"
    if chosen == WEEKENDS:
        return "weekends"
    if not chosen:
        return "no days"
    return ", ".join(_DAY_ABBREVIATIONS[day] for day in sorted(chosen))


# --- calendar days ------------------------------------------------------------------------------


def local_date(now: datetime, zone: str) -> date:
    """Return the user's local calendar day at the aware instant ``now``."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(zoneinfo.ZoneInfo(zone)).date()
