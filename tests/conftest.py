"""Shared fixtures: a fresh database on SQLite and on PostgreSQL.

`db_url` is parametrised over both: an SQLite file in the test's tmp_path, and a new database
on the PostgreSQL server that TEST_POSTGRES_URL points at (scripts/test.sh starts a throwaway
one). Without TEST_POSTGRES_URL the PostgreSQL cases are skipped. `db_engine` is
`make_engine(db_url)`: the schema migrated to the newest revision.

Every engine a test opens (in this process) is disposed when the test ends, so no connection
is left for the garbage collector to complain about, and the PostgreSQL database is dropped.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.db import make_engine

DATABASES = ["sqlite", "postgresql"]

# Held (not weakly) until the test ends, so no engine is collected with connections open.
_engines: list[Engine] = []


@event.listens_for(Engine, "engine_connect")
def _remember_engine(connection: Connection) -> None:
    if connection.engine not in _engines:
        _engines.append(connection.engine)


_PROJECT = Path(__file__).resolve().parents[1]
_OURS = tuple(str(_PROJECT / part) for part in ("bot", "bench", "tests"))
_BOT = _PROJECT / "bot"
_MIGRATIONS = _BOT / "store" / "migrations"


@event.listens_for(Engine, "before_cursor_execute")
def _user_writes_move_the_version(
    _connection: Connection, _cursor: Any, statement: str, *_: Any
) -> None:
    """Every write to a user's row from bot/ moves its version on: `CoachService` trusts the
    copies it keeps only while their version is the row's (migrations run before any copy)."""
    words = statement.lower().split()
    if words[:2] != ["update", "users"] or "version" in statement.lower():
        return
    frame = sys._getframe(1)
    while frame is not None and not frame.f_code.co_filename.startswith(_OURS):
        frame = frame.f_back  # SQLAlchemy's own frames: find the line that wrote
    if frame is None:
        return
    path = frame.f_code.co_filename
    if path.startswith(str(_BOT)) and not path.startswith(str(_MIGRATIONS)):
        raise AssertionError(
            f"{path}:{frame.f_lineno} writes to users without moving the row's version"
        )


def postgres_url() -> str | None:
    return os.environ.get("TEST_POSTGRES_URL") or None


def _dispose_engines() -> None:
    while _engines:
        engine = _engines.pop()
        if engine.dialect.is_async:
            _dispose_async(engine)
        else:
            engine.dispose()


def _dispose_async(engine: Engine) -> None:
    """An async engine's connections (CoachService.call on PostgreSQL) close only from async
    code; the test's event loop may be gone by now, and closing needs no I/O: a loop of its
    own will do."""
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(AsyncEngine(engine).dispose())
    finally:
        loop.close()


@pytest.fixture(autouse=True)
def _close_engines() -> Iterator[None]:
    yield
    _dispose_engines()


class PostgresDatabases:
    """Creates and drops uniquely named databases on the test server."""

    def __init__(self, server_url: str) -> None:
        self.server_url = make_url(server_url)
        self.admin = create_engine(self.server_url, isolation_level="AUTOCOMMIT")

    def create(self) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" STRATEGY FILE_COPY'))
        return self.server_url.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases | None]:
    url = postgres_url()
    if url is None:
        yield None
        return
    databases = PostgresDatabases(url)
    yield databases
    databases.admin.dispose()


@pytest.fixture(params=DATABASES)
def db_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    postgres_databases: PostgresDatabases | None,
) -> Iterator[str]:
    """A URL of a fresh, empty database: an SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'coach.sqlite3'}"
        return
    if postgres_databases is None:
        pytest.skip("TEST_POSTGRES_URL is not set (scripts/test.sh sets it)")
    url = postgres_databases.create()
    yield url
    _dispose_engines()
    postgres_databases.drop(url)


@pytest.fixture
def db_engine(db_url: str) -> Engine:
    """make_engine(db_url): a fresh database migrated to the newest revision."""
    return make_engine(db_url)
