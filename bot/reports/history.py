"""Reading a user's stored history for the reports: one point per session, and the report
sentences from data/messages.yaml (section `reports`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import select as select_rows
from sqlmodel import Session

from bot.store.db import (
    sessions_table,
    sets_table,
)
from data.programme import default_programme
from schedules.progression import (
    Decision,
)


def say(key: str, **values: Any) -> str:
    """A report sentence from data/messages.yaml (section `reports`)."""
    return default_programme().messages.reports[key].format(**values)


# --- reading the history ------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionPoint:
    """One stored session, as the chart and the texts need it."""

    number: int
    local_date: date
    stage: int
    stage_after: int
    doses: dict[str, int]
    completed: bool
    safety_stop: bool
    max_pain: int | None
    extra_practice: bool = False


Db = Connection | Session


def _sessions(db: Db, user_id: int) -> list[Any]:
    """The user's session rows (attribute access by column name), oldest first."""
    query = (
        select_rows(sessions_table)
        .where(sessions_table.c.user_id == user_id)
        .order_by(sessions_table.c.started_at, sessions_table.c.id)
    )
    return list(db.execute(query).all())


def _max_pain(db: Db, user_id: int) -> dict[int, int]:
    query = select_rows(sets_table.c.session_id, sets_table.c.pain_score).where(
        sets_table.c.user_id == user_id
    )
    worst: dict[int, int] = {}
    for session_id, score in db.execute(query).all():
        if score is not None:
            worst[session_id] = max(score, worst.get(session_id, score))
    return worst


def _points(db: Db, user_id: int) -> list[SessionPoint]:
    pains = _max_pain(db, user_id)
    return [
        SessionPoint(
            number=number,
            local_date=row.local_date,
            stage=row.stage,
            stage_after=row.stage_after,
            doses=dict(row.doses),
            completed=row.completed,
            safety_stop=row.decision == Decision.SAFETY_STOP,
            max_pain=pains.get(row.id) if row.id is not None else None,
            extra_practice=row.reason == "extra_practice",
        )
        for number, row in enumerate(_sessions(db, user_id), 1)
    ]


def _short_date(day: date) -> str:
    return f"{day.day} {day:%b %Y}"
