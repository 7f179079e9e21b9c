"""The store: one row per user (the coach's state as a JSON document plus the columns queries
need), the session history, and the repository functions the adapters use. Tables are declared
with SQLModel (so migrations, /export and /forget find them in one metadata); every read and
write goes through SQLAlchemy Core: one transaction per handled event, two statements for a
typical update (read the row locked, write it back).

SQLite (WAL mode) is the embedded default; a PostgreSQL `DATABASE_URL` uses the same code.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    CursorResult,
    DateTime,
    Engine,
    Index,
    Select,
    Table,
    UniqueConstraint,
    bindparam,
    delete,
    event,
    insert,
    make_url,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, Session, SQLModel, create_engine

from conversations.records import SessionRecord
from conversations.state import Coachee, Step


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
    """One row per user: the coach's whole view of them as one JSON document (`state`, the
    pydantic `Coachee` dumped in JSON mode) plus the plain columns that queries filter or count
    on. A field added to the coach's state with a default needs no column and no migration: the
    document carries it, and a document written before the field existed loads with the
    default. Read and written through SQLAlchemy Core (see `find_user`, `save_user`)."""

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
    next_nudge_at: datetime | None = _aware(index=True)
    # Copies of document fields for queries: pending hold timers, `python -m bot stats`.
    step: str = Field(default=Step.NEW.value, max_length=32)
    onboarded: bool = False
    stage: int = 1
    # Grows by one with every write to the row, whoever writes (`CoachService` keeps copies
    # of rows it wrote and trusts one only while its version is still the row's); a write
    # names the version it read (`StaleUser`).
    version: int = 0
    state: dict[str, Any] = _json()


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


# How long an SQLite connection waits for another's lock. Processes starting at once wait here
# while the first migrates the schema, which on a busy machine took longer than the 5 s that
# sqlite3 waits by default (seen as "database is locked" at start-up).
SQLITE_BUSY_SECONDS = 30


def _into_wal_mode(cursor: Any) -> None:
    # Two connections switching a new file to WAL at once can deadlock on its locks, and SQLite
    # then answers "database is locked" at once, without waiting: try again for a moment.
    for attempt in itertools.count(1):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt >= 100:
                raise
            time.sleep(0.05)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # First, so every statement below waits for a lock too (see SQLITE_BUSY_SECONDS).
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
    _into_wal_mode(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # pysqlite defers BEGIN until the first write; take control of BEGIN (see make_engine).
    dbapi_connection.isolation_level = None


def _begin_immediate(connection: Connection) -> None:
    # Straight to the driver: through `exec_driver_sql` this one statement cost half of an
    # empty transaction, on every update.
    connection.connection.driver_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]


def make_engine(url: str, *, create: bool = True) -> Engine:
    """An engine for `url`; SQLite gets WAL mode and foreign keys. With `create`, the schema is
    migrated to the newest revision (bot/store/migrations) before the engine is handed out."""
    is_sqlite = url.startswith("sqlite")
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS}
        if is_sqlite
        else {},
        pool_pre_ping=not is_sqlite,
    )
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
        # Take the write lock when the transaction begins, so two processes never interleave
        # one user's event (the SQLite stand-in for PostgreSQL's SELECT ... FOR UPDATE).
        event.listen(engine, "begin", _begin_immediate)
    if create:
        from bot.store.migrations import upgrade

        upgrade(engine)
    return engine


# The PostgreSQL connections of the event loop (see `run_on_loop`). Updates of different chats
# run concurrently, up to 256 at once (PerChatUpdateProcessor), but a connection is held only
# for one transaction, a few round trips: ten cover a busy bot, and a burst borrows up to ten
# more (waiting for one never blocks the loop). Twenty per process keeps three processes, with
# their thread engines, within PostgreSQL's default 100 connections.
LOOP_POOL_SIZE = 10
LOOP_MAX_OVERFLOW = 10


def make_async_engine(url: str | URL) -> AsyncEngine:
    """An engine for PostgreSQL through psycopg's async connection, for `run_on_loop` (the
    schema is the one `make_engine` migrated). Its connections belong to the event loop that
    opened them: dispose of it (`await engine.dispose()`) on that loop."""
    return create_async_engine(
        make_url(url).set(drivername="postgresql+psycopg"),
        pool_size=LOOP_POOL_SIZE,
        max_overflow=LOOP_MAX_OVERFLOW,
        pool_pre_ping=True,  # as make_engine: a restarted server costs no failed update
    )


# While `run_on_loop` runs a store call: the engine it stands in for, and its connection.
_on_loop: ContextVar[tuple[Engine, Connection] | None] = ContextVar("on_loop", default=None)
T = TypeVar("T")


async def run_on_loop(
    loop_engine: AsyncEngine,
    engine: Engine,
    function: Callable[..., T],
    *args: Any,
    **kwargs: Any,
) -> T:
    """Run a synchronous store call on the event loop, without a thread: every
    `unit_of_work(engine)` inside it opens its transaction on one connection of `loop_engine`
    instead, whose statements await psycopg's AsyncConnection (SQLAlchemy's `run_sync` runs the
    function in a greenlet that hands each round trip to the loop). Transactions, row locks and
    commits are the same as on `engine`: one per `unit_of_work` block."""
    async with loop_engine.connect() as connection:
        return await connection.run_sync(_standing_in, engine, function, args, kwargs)


def _standing_in(
    connection: Connection,
    engine: Engine,
    function: Callable[..., T],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> T:
    token = _on_loop.set((engine, connection))
    try:
        return function(*args, **kwargs)
    finally:
        _on_loop.reset(token)


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Connection]:
    """One transaction on one connection (SQLAlchemy Core, no ORM session): committed when the
    block ends, rolled back if it raises. Inside `run_on_loop`, on the event loop's
    connection."""
    on_loop = _on_loop.get()
    if on_loop is not None and on_loop[0] is engine:
        with on_loop[1].begin():
            yield on_loop[1]
        return
    with engine.begin() as connection:
        yield connection


# --- one user: the row and its document -----------------------------------------------------


class StaleUser(RuntimeError):
    """The user's row changed since it was read (another process wrote it)."""


@dataclass
class StoredUser:
    """A user's row as read: the plain columns, and the document already as a `Coachee`.

    Change the attributes, then `save_user` writes them back in one UPDATE."""

    id: int
    platform: str
    chat_id: str
    created_at: datetime
    last_seen_at: datetime | None
    last_update_id: int | None
    active: bool
    next_nudge_at: datetime | None
    version: int
    coachee: Coachee


users: Table = User.__table__  # type: ignore[attr-defined]
sessions_table: Table = SessionRow.__table__  # type: ignore[attr-defined]
holds_table: Table = HoldRow.__table__  # type: ignore[attr-defined]
sets_table: Table = SetRow.__table__  # type: ignore[attr-defined]
checkins_table: Table = CheckInRow.__table__  # type: ignore[attr-defined]

_USER_COLUMNS = (
    users.c.id,
    users.c.platform,
    users.c.chat_id,
    users.c.created_at,
    users.c.last_seen_at,
    users.c.last_update_id,
    users.c.active,
    users.c.next_nudge_at,
    users.c.version,
    users.c.state,
)


def coachee_from_document(document: dict[str, Any] | None) -> Coachee:
    """The coach's state from its stored document; fields the document lacks (written before
    they existed) take their defaults."""
    return Coachee.model_validate(document or {})


def document_of(coachee: Coachee) -> dict[str, Any]:
    return coachee.model_dump(mode="json")


def user_from_row(row: Any) -> StoredUser:
    """A `StoredUser` from a result row holding `_USER_COLUMNS`."""
    values = row._mapping
    return StoredUser(
        id=values["id"],
        platform=values["platform"],
        chat_id=values["chat_id"],
        created_at=values["created_at"],
        last_seen_at=values["last_seen_at"],
        last_update_id=values["last_update_id"],
        active=values["active"],
        next_nudge_at=values["next_nudge_at"],
        version=values["version"],
        coachee=coachee_from_document(values["state"]),
    )


def select_users() -> Select[Any]:
    """A query for whole users (add the conditions); rows go through `user_from_row`."""
    return select(*_USER_COLUMNS)


# The two statements of every update, written out once: building a Core statement on every
# call (and its cache key) cost more than SQLite running it. Typed, so results and parameters
# go through the same conversions (JSON, aware datetimes) as the Core statements elsewhere.
_SELECT_USER = (
    "SELECT id, platform, chat_id, created_at, last_seen_at, last_update_id, active, "
    "next_nudge_at, version, state FROM users WHERE platform = :platform AND chat_id = :chat_id"
)
_FIND_USER = {
    False: text(_SELECT_USER).columns(*_USER_COLUMNS),
    True: text(_SELECT_USER + " FOR UPDATE").columns(*_USER_COLUMNS),
}
_SAVE_USER = text(
    "UPDATE users SET active = :active, last_seen_at = :last_seen_at, "
    "last_update_id = :last_update_id, next_nudge_at = :next_nudge_at, version = :new_version, "
    "state = :state, step = :step, onboarded = :onboarded, stage = :stage "
    "WHERE id = :id AND version = :version"
).bindparams(
    bindparam("last_seen_at", type_=AwareDateTime()),
    bindparam("next_nudge_at", type_=AwareDateTime()),
    bindparam("state", type_=JSON()),
    bindparam("active", type_=Boolean()),
    bindparam("onboarded", type_=Boolean()),
)


def _dialect(db: Connection | Session) -> str:
    return db.get_bind().dialect.name if isinstance(db, Session) else db.dialect.name


def find_user(
    db: Connection | Session, platform: str, chat_id: str, *, lock: bool = False
) -> StoredUser | None:
    """The user's row, or None. With `lock`, locked until the transaction ends (SQLite has
    the whole database's write lock already: BEGIN IMMEDIATE)."""
    query = _FIND_USER[lock and _dialect(db) != "sqlite"]
    row = db.execute(query, {"platform": platform, "chat_id": chat_id}).first()
    return None if row is None else user_from_row(row)


def create_user(
    db: Connection | Session, platform: str, chat_id: str, *, now: datetime
) -> StoredUser:
    """A new user with a fresh state; raises if the chat already has one."""
    row = db.execute(
        insert(users).values(**_new_user_values(platform, chat_id, now)).returning(*_USER_COLUMNS)
    ).one()
    return user_from_row(row)


def _new_user_values(platform: str, chat_id: str, now: datetime) -> dict[str, Any]:
    fresh = Coachee()
    return {
        "platform": platform,
        "chat_id": chat_id,
        "created_at": now,
        "active": True,
        "version": 0,
        **_query_columns(fresh),
        "state": document_of(fresh),
    }


def get_or_create_user(
    db: Connection | Session, platform: str, chat_id: str, *, now: datetime
) -> StoredUser:
    """The user's row, locked for this transaction; created first if new. Two first messages
    arriving at once (two processes) both end up on the one row instead of one failing."""
    user = find_user(db, platform, chat_id, lock=True)
    if user is not None:
        return user
    dialect = _dialect(db)
    insert_row = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(users).values(
        **_new_user_values(platform, chat_id, now)
    )
    db.execute(insert_row.on_conflict_do_nothing(index_elements=["platform", "chat_id"]))
    user = find_user(db, platform, chat_id, lock=True)
    assert user is not None
    return user


def load_coachee(db: Connection | Session, user: StoredUser) -> Coachee:
    """The pure coach's view of a user (read with the row: no further query)."""
    return user.coachee


def _query_columns(coachee: Coachee) -> dict[str, Any]:
    return {
        "step": coachee.flow.step.value,
        "onboarded": coachee.profile.onboarded,
        "stage": coachee.position.stage,
    }


def save_user(db: Connection | Session, user: StoredUser) -> None:
    """Write the user's row back in one UPDATE: the document, its query columns and the plain
    columns. The row must still be at the version it was read at (else `StaleUser`)."""
    result = db.execute(
        _SAVE_USER,
        {
            "id": user.id,
            "version": user.version,
            "new_version": user.version + 1,
            "active": user.active,
            "last_seen_at": user.last_seen_at,
            "last_update_id": user.last_update_id,
            "next_nudge_at": user.next_nudge_at,
            "state": document_of(user.coachee),
            **_query_columns(user.coachee),
        },
    )
    if cast("CursorResult[Any]", result).rowcount != 1:
        raise StaleUser(f"user id {user.id} changed since it was read")
    user.version += 1


def save_coachee(
    db: Connection | Session, user: StoredUser, coachee: Coachee, *, now: datetime
) -> None:
    """Write the coach's new view of the user (and the row's other columns) back."""
    user.coachee = coachee
    save_user(db, user)


def set_next_nudge(db: Connection | Session, user_id: int, at: datetime | None) -> None:
    """Only move a user's next nudge (the document is unchanged). Like every write to a user's
    row, it moves the version on: a copy read before it is stale (`CoachService` keeps
    copies)."""
    db.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(next_nudge_at=at, version=users.c.version + 1)
    )


def record_session(db: Connection | Session, user_id: int, record: SessionRecord) -> int:
    """Append one finished or stopped session, with its holds, sets and check-ins: one INSERT
    for the session, then one multi-row INSERT each for holds, sets and check-ins. Returns the
    session's id."""
    session_id = db.execute(
        insert(sessions_table)
        .values(
            user_id=user_id,
            started_at=record.started_at,
            ended_at=record.ended_at,
            local_date=record.local_date,
            stage=record.stage,
            completed=record.completed,
            decision=record.decision.value,
            reason=record.reason,
            stage_after=record.stage_after,
            doses=dict(record.doses),
            doses_after=dict(record.doses_after),
        )
        .returning(sessions_table.c.id)
    ).scalar_one()
    keys = {"session_id": session_id, "user_id": user_id}
    for table, items in (
        (holds_table, record.holds),
        (sets_table, record.sets),
        (checkins_table, record.checkins),
    ):
        if items:
            db.execute(insert(table), [{**keys, **item.model_dump(mode="json")} for item in items])
    return int(session_id)


def forget_user(db: Connection | Session, user_id: int) -> None:
    """Delete every row about one user, in every table that holds any (found from the
    metadata, so a new table with a `user_id` column is covered without touching this)."""
    for table in reversed(SQLModel.metadata.sorted_tables):
        if "user_id" in table.c:
            db.execute(delete(table).where(table.c.user_id == user_id))
    db.execute(delete(users).where(users.c.id == user_id))


def ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
