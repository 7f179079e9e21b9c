"""Reading numbers people type, in digits or words."""

from __future__ import annotations

import re

_WORDS = {
    "zero": 0,
    "none": 0,
    "nil": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_SCORE = re.compile(r"^(\d{1,2})(?:\s*/\s*10)?$")


def parse_pain_score(text: str) -> int | None:
    """A pain score from 0 to 10, typed as "7", "7/10" or "seven"; None for anything else."""
    cleaned = text.strip().lower().rstrip(".!")
    if cleaned in _WORDS:
        return _WORDS[cleaned]
    match = _SCORE.match(cleaned)
    if match is None:
        return None
    score = int(match.group(1))
    return score if 0 <= score <= 10 else None


def parse_whole_number(text: str, low: int, high: int) -> int | None:
    """A whole number in [low, high], in digits or as a word up to ten."""
    cleaned = text.strip().lower()
    value = _WORDS.get(cleaned)
    if value is None and cleaned.isdigit():
        value = int(cleaned)
    return value if value is not None and low <= value <= high else None
