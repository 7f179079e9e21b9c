"""The migrations build exactly the models' schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

from bot import migrations
from bot.migrations.models import import_models
from bot.store import make_engine


def schema_drift(engine: Engine) -> list[Any]:
    """What autogenerate would still change: empty when the database matches the models."""
    import_models()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def tables(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(inspect(connection).get_table_names())


def test_upgrade_to_head_gives_exactly_the_models_schema(db_url: str) -> None:
    engine = make_engine(db_url, create=False)
    assert tables(engine) == set()
    migrations.upgrade(engine)
    assert schema_drift(engine) == []
    with engine.connect() as connection:
        assert migrations.current(connection) == migrations.head()
    import_models()
    assert set(SQLModel.metadata.tables) <= tables(engine)


def test_downgrade_to_base_then_upgrade_again(db_url: str) -> None:
    engine = make_engine(db_url)
    migrations.downgrade(engine, "base")
    assert tables(engine) <= {"alembic_version"}
    migrations.upgrade(engine)
    assert schema_drift(engine) == []


def test_make_engine_on_a_migrated_database_changes_nothing(db_url: str) -> None:
    make_engine(db_url)
    engine = make_engine(db_url)
    assert schema_drift(engine) == []


def test_processes_starting_at_once_migrate_once(db_url: str) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            make_engine(db_url)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert schema_drift(make_engine(db_url, create=False)) == []


def test_a_database_from_before_migrations_is_adopted(db_url: str) -> None:
    engine = make_engine(db_url, create=False)
    import_models()
    SQLModel.metadata.create_all(engine)
    make_engine(db_url)
    with engine.connect() as connection:
        assert migrations.current(connection) == migrations.head()
    assert schema_drift(engine) == []


def test_python_m_bot_migrate(db_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": db_url}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert migrations.head() in result.stdout
    assert schema_drift(make_engine(db_url, create=False)) == []
