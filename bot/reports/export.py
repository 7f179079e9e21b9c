"""/export: every stored row about the user as JSON, and one CSV line per session.

The export holds every row about the user from every table: `users` by id, any table with a
`user_id` column or a foreign key into a table already about the user, and any table keyed by
(platform, chat_id). Tables are discovered from `SQLModel.metadata`, so new ones are included
without touching this file. The CSV has ONE LINE PER SESSION, with the holds, sets, pain and
check-ins of that session counted up (per-hold, per-set and per-check-in rows are in the JSON):
that is what a spreadsheet or a clinician wants to scan.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, or_
from sqlalchemy import select as select_rows
from sqlmodel import SQLModel

from bot.reports.history import Db
from bot.service import CoachService
from bot.store.db import (
    StoredUser,
    find_user,
    unit_of_work,
    users,
)
from schedules.progression import (
    Answer,
    Feeling,
)

EXPORT_JSON_NAME = "spine-coach-export.json"
EXPORT_CSV_NAME = "spine-coach-sessions.csv"
EXPORT_FORMAT = "spine-coach-export/1"


# --- /export ------------------------------------------------------------------------------------


def _import_every_model() -> None:
    """Tables register in SQLModel.metadata when their module is imported: import them all."""
    try:
        from bot.store.migrations.models import import_models
    except ImportError:  # pragma: no cover - a build without migrations
        return
    import_models()


def user_row_filters(user: StoredUser) -> dict[str, ColumnElement[bool]]:
    """For every table that holds rows about `user`, the condition that picks them out.

    Discovered from `SQLModel.metadata` (parents before children): `users` by id; a table with a
    `user_id` column by it; a table with a foreign key into a table already about the user, by
    that key; a table with `platform` and `chat_id` columns, by those."""
    _import_every_model()
    filters: dict[str, ColumnElement[bool]] = {}
    for table in SQLModel.metadata.sorted_tables:
        columns = set(table.c.keys())
        if table.name == users.name:
            filters[table.name] = table.c.id == user.id
            continue
        conditions: list[ColumnElement[bool]] = []
        if "user_id" in columns:
            conditions.append(table.c.user_id == user.id)
        for key in table.foreign_keys:
            parent = key.column.table
            if parent.name in filters and key.parent.name != "user_id":
                inner = select_rows(key.column).where(filters[parent.name])
                conditions.append(key.parent.in_(inner))
        if {"platform", "chat_id"} <= columns:
            conditions.append(
                and_(table.c.platform == user.platform, table.c.chat_id == user.chat_id)
            )
        if conditions:
            filters[table.name] = or_(*conditions)
    return filters


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def rows_about(db: Db, user: StoredUser) -> dict[str, list[dict[str, Any]]]:
    """Every row about `user`, table by table, as JSON-ready dicts in primary-key order."""
    tables: dict[str, Table] = dict(SQLModel.metadata.tables)
    found: dict[str, list[dict[str, Any]]] = {}
    for name, condition in user_row_filters(user).items():
        table = tables[name]
        query = select_rows(table).where(condition).order_by(*table.primary_key.columns)
        found[name] = [
            {k: _plain(v) for k, v in row._mapping.items()} for row in db.execute(query)
        ]
    return found


_CSV_COLUMNS = (
    "session",
    "date",
    "started_at_utc",
    "ended_at_utc",
    "minutes",
    "stage",
    "completed",
    "decision",
    "reason",
    "stage_after",
    "holds",
    "holds_ended_early",
    "seconds_held",
    "sets",
    "sets_steady",
    "sets_working",
    "sets_shaky",
    "sets_pain",
    "highest_pain",
    "pain_kinds",
    "checkins_yes",
    "checkins_no",
    "checkins_not_sure",
    "doses",
    "doses_after",
)


def _doses_text(doses: dict[str, Any]) -> str:
    return "; ".join(f"{exercise}={count}" for exercise, count in doses.items())


def sessions_csv(tables: dict[str, list[dict[str, Any]]]) -> bytes:
    """One line per session, its holds, sets, pain and check-ins counted up."""
    by_session: dict[Any, dict[str, list[dict[str, Any]]]] = {}
    for kind in ("holds", "sets", "checkins"):
        for row in tables.get(kind, []):
            by_session.setdefault(row["session_id"], {}).setdefault(kind, []).append(row)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(_CSV_COLUMNS)
    sessions = sorted(tables.get("sessions", []), key=lambda r: (r["started_at"], r["id"]))
    for number, row in enumerate(sessions, 1):
        parts = by_session.get(row["id"], {})
        holds, sets, checkins = (parts.get(k, []) for k in ("holds", "sets", "checkins"))
        scores = [s["pain_score"] for s in sets if s["pain_score"] is not None]
        started = datetime.fromisoformat(row["started_at"])
        ended = datetime.fromisoformat(row["ended_at"])
        answers = [c["answer"] for c in checkins]
        feelings = [s["feeling"] for s in sets]
        writer.writerow(
            (
                number,
                row["local_date"],
                row["started_at"],
                row["ended_at"],
                round((ended - started).total_seconds() / 60, 1),
                row["stage"],
                "yes" if row["completed"] else "no",
                row["decision"],
                row["reason"],
                row["stage_after"],
                len(holds),
                sum(1 for h in holds if h["ended_early"]),
                sum(h["held_seconds"] for h in holds),
                len(sets),
                feelings.count(Feeling.STEADY),
                feelings.count(Feeling.WORKING),
                feelings.count(Feeling.SHAKY),
                feelings.count(Feeling.PAIN),
                max(scores) if scores else "",
                " ".join(sorted({s["pain_kind"] for s in sets if s["pain_kind"]})),
                answers.count(Answer.YES),
                answers.count(Answer.NO),
                answers.count(Answer.NOT_SURE),
                _doses_text(row["doses"]),
                _doses_text(row["doses_after"]),
            )
        )
    return buffer.getvalue().encode("utf-8")


def export_documents(
    service: CoachService, platform: str, chat_id: str
) -> list[tuple[str, bytes]]:
    """/export: (file name, bytes) of the JSON of every stored row and the sessions CSV.
    Empty for a user we don't know."""
    with unit_of_work(service.engine) as db:
        user = find_user(db, platform, chat_id)
        if user is None:
            return []
        tables = rows_about(db, user)
    document = {
        "format": EXPORT_FORMAT,
        "about": (
            "Everything Spine Coach stores about you, table by table. Times are UTC; "
            "'local_date' is the day in your own time zone."
        ),
        "exported_at": service.clock().isoformat(),
        "tables": tables,
    }
    data = json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")
    return [(EXPORT_JSON_NAME, data), (EXPORT_CSV_NAME, sessions_csv(tables))]
