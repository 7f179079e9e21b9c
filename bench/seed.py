"""Many stored users, fast: one onboarded user is made through the real coach, then copied.

The template's rows are read back from the store's own tables (so the copies are exactly what
the bot writes), and inserted in large executemany batches; PostgreSQL's id sequence is moved
past them afterwards.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, text

from bot.service import CoachService
from bot.store import User, make_engine
from conversations.events import Command, Text
from data.programme import default_programme

PLATFORM = "telegram"
ONBOARDING = ["/start", "No", "No", "1", "New to this", "Every day", "07:30", "UTC"]
# The whole state is one row per user (the document in `users.state`).
TABLES: tuple[Any, ...] = (User,)
CHUNK = 20_000


def template_rows(now: datetime) -> dict[str, dict[str, Any]]:
    """The rows of one user onboarded by the real coach, by table name."""
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'template.sqlite3'}")
        service = CoachService(engine, default_programme(), lambda: now)
        for line in ONBOARDING:
            event = Command(line[1:]) if line.startswith("/") else Text(line)
            service.handle(PLATFORM, "1", event)
        rows: dict[str, dict[str, Any]] = {}
        with engine.connect() as connection:
            for model in TABLES:
                table: Table = model.__table__
                row = connection.execute(table.select()).mappings().one()
                rows[table.name] = dict(row)
        engine.dispose()
    return rows


def seed_users(
    engine: Engine,
    count: int,
    *,
    first_chat_id: int = 10_000_000,
    next_nudge_at: Callable[[int], datetime | None] | None = None,
    now: datetime | None = None,
) -> float:
    """Insert `count` onboarded users; returns the seconds it took."""
    now = now or datetime.now(UTC)
    template = template_rows(now)
    started = time.perf_counter()
    with engine.begin() as connection:
        first_id = (connection.execute(text("SELECT max(id) FROM users")).scalar() or 0) + 1
        for model in TABLES:
            table: Table = model.__table__
            base = template[table.name]
            key = "id" if model is User else "user_id"
            for rows in _chunks(count, CHUNK):
                batch = []
                for number in rows:
                    row = dict(base)
                    row[key] = first_id + number
                    if model is User:
                        row["chat_id"] = str(first_chat_id + number)
                        row["next_nudge_at"] = (
                            next_nudge_at(number) if next_nudge_at else row["next_nudge_at"]
                        )
                    batch.append(row)
                connection.execute(table.insert(), batch)
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT setval(pg_get_serial_sequence('users', 'id'), max(id)) FROM users")
            )
            connection.execute(text("ANALYZE"))
    return time.perf_counter() - started


def spread_over_a_day(now: datetime) -> Callable[[int], datetime]:
    """Next nudges spread evenly over the coming day (a quiet moment: nothing due now)."""
    return lambda number: now + timedelta(seconds=60 + (number * 7919) % 86_000)


def _chunks(count: int, size: int) -> Iterator[range]:
    for start in range(0, count, size):
        yield range(start, min(count, start + size))
