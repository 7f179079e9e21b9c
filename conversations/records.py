"""What a session records as it goes: each hold, how each set felt, pain, and form check-ins."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from schedules.progression import Answer, Decision, Feeling, PainKind

__all__ = [
    "Answer",
    "CheckInLog",
    "Decision",
    "Feeling",
    "HoldLog",
    "PainKind",
    "SessionRecord",
    "SetLog",
]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HoldLog(_Record):
    exercise_id: str
    side: str
    number: int
    target_seconds: int
    held_seconds: int
    ended_early: bool


class SetLog(_Record):
    """How one set (all holds of one exercise on one side) felt."""

    exercise_id: str
    side: str
    count: int
    feeling: Feeling
    pain_score: int | None = None
    pain_kind: PainKind | None = None


class CheckInLog(_Record):
    exercise_id: str
    question_id: str
    answer: Answer


class SessionRecord(_Record):
    """One session as it goes into the history."""

    started_at: datetime
    ended_at: datetime
    local_date: date
    stage: int
    doses: dict[str, int]
    holds: tuple[HoldLog, ...]
    sets: tuple[SetLog, ...]
    checkins: tuple[CheckInLog, ...]
    completed: bool
    decision: Decision
    reason: str
    stage_after: int
    doses_after: dict[str, int]
