"""Schema migrations (Alembic), run from code: no alembic.ini.

`upgrade(engine)` brings a database to the newest revision; make_engine calls it at start-up and
`python -m bot migrate` calls it on its own. Several processes may start at once: on PostgreSQL
the upgrade holds an advisory lock for its transaction, on SQLite the write lock
(BEGIN IMMEDIATE), so only one of them migrates and the others find the schema ready.

New revision after a model change: `python -m bot.store.migrations revision "what changed"`.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
# Any constant shared by every process of this bot: the key of the advisory lock.
_PG_LOCK_KEY = 0x5F1E_C0AC


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """Alembic's configuration for this package; env.py uses `connection` when given."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    revision = _scripts().get_current_head()
    assert revision is not None
    return revision


def current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to `revision` (default: the newest), in one transaction."""
    with engine.begin() as connection:
        _lock(connection)
        target = head() if revision == "head" else revision
        if current(connection) == target:
            return
        _adopt_unversioned(connection)
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    with engine.begin() as connection:
        _lock(connection)
        command.downgrade(alembic_config(connection), revision)


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


def _adopt_unversioned(connection: Connection) -> None:
    """A database made before migrations (tables, no version): add what is missing, stamp it."""
    tables = set(inspect(connection).get_table_names())
    if "users" not in tables or "alembic_version" in tables:
        return
    from sqlmodel import SQLModel

    from bot.store.migrations.models import import_models

    import_models()
    log.warning("database has tables but no migration version: creating missing tables, stamping")
    SQLModel.metadata.create_all(connection)
    command.stamp(alembic_config(connection), "head")


def main(database_url: str) -> int:
    """`python -m bot migrate`: upgrade DATABASE_URL to the newest revision, say which it is."""
    from bot.store.db import make_engine

    engine = make_engine(database_url, create=False)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            print(f"database schema at revision {current(connection)} (newest: {head()})")
    finally:
        engine.dispose()
    return 0
