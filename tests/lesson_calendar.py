"""A simulated user's first 30 days with the pure coach and an injected clock: which lesson came
when. `python -m tests.lesson_calendar` prints the table (Markdown); tests/test_lessons.py checks
it. The user trains at 18:00 UTC on most days, skipping Sundays and two other days, and every
session goes steadily with good form."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from conversations.state import Step
from tests.coach_player import CoachPlayer

FIRST_DAY = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)  # a Monday
SKIPPED = frozenset({9, 17})  # two ordinary days off, besides Sundays


@dataclass(frozen=True)
class Day:
    number: int
    date: str
    trained: bool
    stage: int
    lesson: str | None


def trains_on(day: int) -> bool:
    return (FIRST_DAY + timedelta(days=day)).weekday() != 6 and day not in SKIPPED


def first_month(days: int = 30) -> list[Day]:
    player = CoachPlayer(now=FIRST_DAY)
    player.onboard()
    titles = {lesson.id: lesson.title for lesson in player.programme.lessons}
    calendar: list[Day] = []
    for day in range(days):
        player.clock = FIRST_DAY + timedelta(days=day, minutes=30)
        lesson = None
        if trains_on(day):
            read_before = player.state.learning.lessons_read
            player.run_session()
            assert player.step is Step.IDLE
            new = player.state.learning.lessons_read[len(read_before) :]
            assert len(new) <= 1
            lesson = titles[new[0]] if new else None
        calendar.append(
            Day(
                number=day + 1,
                date=player.clock.strftime("%a %d %b"),
                trained=trains_on(day),
                stage=player.state.position.stage,
                lesson=lesson,
            )
        )
    return calendar


def table(calendar: list[Day]) -> str:
    lines = [
        "| day | date | session | stage after | lesson after the summary |",
        "|---|---|---|---|---|",
    ]
    for day in calendar:
        lines.append(
            f"| {day.number} | {day.date} | {'yes' if day.trained else '-'} | {day.stage} "
            f"| {day.lesson or ''} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(first_month()))
