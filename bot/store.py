"""The store: SQLModel tables for users, settings, programme position, conversation state and
history, and the repository functions the adapters use. One transaction per handled event.

SQLite (WAL mode) is the embedded default; a PostgreSQL `DATABASE_URL` uses the same code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Engine,
    Index,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, Session, SQLModel, create_engine, delete, select

from conversations.records import SessionRecord
from conversations.state import Activity, Coachee, Flow, Learning, Profile
from schedules.progression import Position


class AwareDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, also on SQLite, which keeps no offset."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _aware(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(AwareDateTime(), nullable=nullable, index=index))


def _json() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("platform", "chat_id"),
        # The nudge tick's due query: without it SQLite walks every user of the platform.
        Index("ix_users_due", "platform", "next_nudge_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    created_at: datetime = _aware(nullable=False)
    last_seen_at: datetime | None = _aware()  # the user's own last message; nudges don't count
    last_update_id: int | None = Field(default=None, sa_type=BigInteger)
    active: bool = True
    total_sessions: int = 0
    streak: int = 0
    last_trained_on: date | None = None
    paused_until: date | None = None
    started_on: date | None = None
    last_nudged_on: date | None = None
    snoozed_until: datetime | None = _aware()
    snoozes_in_row: int = 0
    next_nudge_at: datetime | None = _aware(index=True)


class UserSettings(SQLModel, table=True):
    __tablename__ = "user_settings"

    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    onboarded: bool = False
    pain_at_start: int | None = None
    experience: str | None = Field(default=None, max_length=16)
    training_days: str = Field(default="0,1,2,3,4,5,6", max_length=13)
    nudge_time: time | None = None
    zone: str = Field(default="UTC", max_length=64)
    quiet_start: time = time(22, 0)
    quiet_end: time = time(7, 0)
    screened_at: datetime | None = _aware()


class ProgrammePosition(SQLModel, table=True):
    __tablename__ = "programme_positions"

    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    stage: int = 1
    doses: dict[str, int] = _json()
    memory: dict[str, Any] = _json()


class ConversationState(SQLModel, table=True):
    __tablename__ = "conversation_states"

    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    step: str = Field(max_length=32)
    step_no: int = 0
    flow: dict[str, Any] = _json()
    updated_at: datetime = _aware(nullable=False)


class SessionRow(SQLModel, table=True):
    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_user_started", "user_id", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    started_at: datetime = _aware(nullable=False)
    ended_at: datetime = _aware(nullable=False)
    local_date: date
    stage: int
    completed: bool
    decision: str = Field(max_length=16)
    reason: str = Field(max_length=32)
    stage_after: int
    doses: dict[str, int] = _json()
    doses_after: dict[str, int] = _json()


class HoldRow(SQLModel, table=True):
    __tablename__ = "holds"

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="sessions.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    exercise_id: str = Field(max_length=40)
    side: str = Field(max_length=8)
    number: int
    target_seconds: int
    held_seconds: int
    ended_early: bool


class SetRow(SQLModel, table=True):
    __tablename__ = "sets"

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="sessions.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    exercise_id: str = Field(max_length=40)
    side: str = Field(max_length=8)
    count: int
    feeling: str = Field(max_length=8)
    pain_score: int | None = None
    pain_kind: str | None = Field(default=None, max_length=10)


class CheckInRow(SQLModel, table=True):
    __tablename__ = "checkins"

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="sessions.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    exercise_id: str = Field(max_length=40)
    question_id: str = Field(max_length=40)
    answer: str = Field(max_length=8)


# --- engine -------------------------------------------------------------------------------------


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
    # pysqlite defers BEGIN until the first write; take control of BEGIN (see make_engine).
    dbapi_connection.isolation_level = None


def make_engine(url: str, *, create: bool = True) -> Engine:
    """An engine for `url`; SQLite gets WAL mode and foreign keys. With `create`, the schema is
    migrated to the newest revision (bot/migrations) before the engine is handed out."""
    is_sqlite = url.startswith("sqlite")
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False} if is_sqlite else {},
        pool_pre_ping=not is_sqlite,
    )
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
        # Take the write lock when the transaction begins, so two processes never interleave
        # one user's event (the SQLite stand-in for PostgreSQL's SELECT ... FOR UPDATE).
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    if create:
        from bot.migrations import upgrade

        upgrade(engine)
    return engine


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


# --- state mapping ------------------------------------------------------------------------------


def _days_text(days: frozenset[int]) -> str:
    return ",".join(str(d) for d in sorted(days))


def _days(text_value: str) -> frozenset[int]:
    return frozenset(int(d) for d in text_value.split(",") if d)


def find_user(session: Session, platform: str, chat_id: str, *, lock: bool = False) -> User | None:
    query = select(User).where(User.platform == platform, User.chat_id == chat_id)
    if lock:
        query = query.with_for_update()
    return session.exec(query).first()


def create_user(session: Session, platform: str, chat_id: str, *, now: datetime) -> User:
    user = User(platform=platform, chat_id=chat_id, created_at=now)
    session.add(user)
    session.flush()
    return user


def get_or_create_user(session: Session, platform: str, chat_id: str, *, now: datetime) -> User:
    """The user's row, locked for this transaction; created first if new. Two first messages
    arriving at once (two processes) both end up on the one row instead of one failing."""
    user = find_user(session, platform, chat_id, lock=True)
    if user is not None:
        return user
    values = {"platform": platform, "chat_id": chat_id, "created_at": now, "active": True}
    dialect = session.get_bind().dialect.name
    insert_row = (
        postgresql_insert(User) if dialect == "postgresql" else sqlite_insert(User)
    ).values(**values)
    session.execute(insert_row.on_conflict_do_nothing(index_elements=["platform", "chat_id"]))
    user = find_user(session, platform, chat_id, lock=True)
    assert user is not None
    return user


def load_coachee(session: Session, user: User) -> Coachee:
    """Build the pure coach's view of a user from the rows (fresh defaults where none exist).

    The rows stay pinned to the session (its identity map holds them only weakly), so that
    `save_coachee` in the same transaction finds them without reading them again."""
    assert user.id is not None
    settings = session.get(UserSettings, user.id)
    position_row = session.get(ProgrammePosition, user.id)
    state_row = session.get(ConversationState, user.id)
    session.info.setdefault("pinned", []).extend((settings, position_row, state_row))
    profile = Profile()
    if settings is not None:
        profile = Profile(
            onboarded=settings.onboarded,
            pain_at_start=settings.pain_at_start,
            experience=settings.experience,
            training_days=_days(settings.training_days),
            nudge_time=settings.nudge_time,
            zone=settings.zone,
            quiet_start=settings.quiet_start,
            quiet_end=settings.quiet_end,
            screened_at=settings.screened_at,
        )
    position = Position()
    if position_row is not None:
        position = Position.model_validate(
            {**position_row.memory, "stage": position_row.stage, "doses": position_row.doses}
        )
    flow, learning = (Flow(), Learning()) if state_row is None else split_flow(state_row.flow)
    activity = Activity(
        total_sessions=user.total_sessions,
        streak=user.streak,
        last_trained_on=user.last_trained_on,
        paused_until=user.paused_until,
        started_on=user.started_on,
        last_nudged_on=user.last_nudged_on,
        snoozed_until=user.snoozed_until,
        snoozes_in_row=user.snoozes_in_row,
    )
    return Coachee(
        profile=profile, position=position, activity=activity, flow=flow, learning=learning
    )


# What the user has been shown (pictures, lessons) rides along in the conversation state's JSON,
# so it needs no columns of its own.
LEARNING_KEY = "learning"


def split_flow(raw: dict[str, Any]) -> tuple[Flow, Learning]:
    """The conversation state's JSON as the flow and what the user has been shown."""
    flow = {key: value for key, value in raw.items() if key != LEARNING_KEY}
    return Flow.model_validate(flow), Learning.model_validate(raw.get(LEARNING_KEY) or {})


def save_coachee(session: Session, user: User, coachee: Coachee, *, now: datetime) -> None:
    """Write the coach's view back into the rows."""
    assert user.id is not None
    profile, activity = coachee.profile, coachee.activity
    settings = session.get(UserSettings, user.id) or UserSettings(user_id=user.id)
    settings.onboarded = profile.onboarded
    settings.pain_at_start = profile.pain_at_start
    settings.experience = profile.experience
    settings.training_days = _days_text(profile.training_days)
    settings.nudge_time = profile.nudge_time
    settings.zone = profile.zone
    settings.quiet_start = profile.quiet_start
    settings.quiet_end = profile.quiet_end
    settings.screened_at = profile.screened_at
    session.add(settings)

    memory = coachee.position.model_dump(mode="json", exclude={"stage", "doses"})
    position_row = session.get(ProgrammePosition, user.id) or ProgrammePosition(user_id=user.id)
    position_row.stage = coachee.position.stage
    position_row.doses = dict(coachee.position.doses)
    position_row.memory = memory
    session.add(position_row)

    state_row = session.get(ConversationState, user.id) or ConversationState(
        user_id=user.id, step=coachee.flow.step, updated_at=now
    )
    state_row.step = coachee.flow.step
    state_row.step_no = coachee.flow.step_no
    state_row.flow = {
        **json.loads(coachee.flow.model_dump_json()),
        LEARNING_KEY: json.loads(coachee.learning.model_dump_json()),
    }
    state_row.updated_at = now
    session.add(state_row)

    user.total_sessions = activity.total_sessions
    user.streak = activity.streak
    user.last_trained_on = activity.last_trained_on
    user.paused_until = activity.paused_until
    user.started_on = activity.started_on
    user.last_nudged_on = activity.last_nudged_on
    user.snoozed_until = activity.snoozed_until
    user.snoozes_in_row = activity.snoozes_in_row
    session.add(user)


def record_session(session: Session, user_id: int, record: SessionRecord) -> SessionRow:
    """Append one finished or stopped session, with its holds, sets and check-ins."""
    row = SessionRow(
        user_id=user_id,
        started_at=record.started_at,
        ended_at=record.ended_at,
        local_date=record.local_date,
        stage=record.stage,
        completed=record.completed,
        decision=record.decision,
        reason=record.reason,
        stage_after=record.stage_after,
        doses=dict(record.doses),
        doses_after=dict(record.doses_after),
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    for hold in record.holds:
        session.add(HoldRow(session_id=row.id, user_id=user_id, **hold.model_dump()))
    for set_log in record.sets:
        session.add(SetRow(session_id=row.id, user_id=user_id, **set_log.model_dump()))
    for checkin in record.checkins:
        session.add(CheckInRow(session_id=row.id, user_id=user_id, **checkin.model_dump()))
    return row


def forget_user(session: Session, user_id: int) -> None:
    """Delete every row about one user, in every table that holds any (found from the
    metadata, so a new table with a `user_id` column is covered without touching this)."""
    for table in reversed(SQLModel.metadata.sorted_tables):
        if "user_id" in table.c:
            session.execute(delete(table).where(table.c.user_id == user_id))
    session.execute(delete(User).where(User.id == user_id))  # type: ignore[arg-type]


def ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
