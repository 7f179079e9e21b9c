"""The migrations build exactly the models' schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData, func, insert, inspect, select
from sqlmodel import SQLModel

from bot import migrations
from bot.migrations.models import import_models
from bot.store import find_user, make_engine, sessions_table, unit_of_work, users
from conversations.state import Coachee, Flow, Learning
from tests.coach_player import CoachPlayer


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


# --- 0002: the state as one document ----------------------------------------------------------

BEFORE_DOCUMENT = "0001"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def rich_state() -> Coachee:
    """A user mid-session, with a history: every part of the state has something in it."""
    player = CoachPlayer()
    player.onboard(days="Mon, Wed, Fri", time="7:30", zone="Berlin")
    player.run_session()
    player.command("session")
    player.tap("Let's go")
    player.tap("Start")
    player.time_up()
    state = player.state
    assert state.flow.session is not None
    assert state.activity.total_sessions == 1
    return state


def write_old_rows(engine: Engine, user_id: int, chat_id: str, state: Coachee | None) -> None:
    """A user as revision 0001's store wrote them: activity on `users`, the rest in three
    tables (none of them for a user who never got past their first row)."""
    metadata = MetaData()
    metadata.reflect(engine)
    activity = state.activity if state is not None else Coachee().activity
    with engine.begin() as connection:
        connection.execute(
            insert(metadata.tables["users"]).values(
                id=user_id,
                platform="telegram",
                chat_id=chat_id,
                created_at=NOW,
                active=True,
                next_nudge_at=NOW + timedelta(days=1),
                **activity.model_dump(),
            )
        )
        connection.execute(
            insert(metadata.tables["sessions"]).values(
                user_id=user_id,
                started_at=NOW,
                ended_at=NOW,
                local_date=NOW.date(),
                stage=1,
                completed=True,
                decision="repeat",
                reason="steady",
                stage_after=1,
                doses={},
                doses_after={},
            )
        )
        if state is None:
            return
        profile = state.profile.model_dump()
        profile["training_days"] = ",".join(str(d) for d in sorted(profile["training_days"]))
        connection.execute(
            insert(metadata.tables["user_settings"]).values(user_id=user_id, **profile)
        )
        position = state.position
        connection.execute(
            insert(metadata.tables["programme_positions"]).values(
                user_id=user_id,
                stage=position.stage,
                doses=dict(position.doses),
                memory=position.model_dump(mode="json", exclude={"stage", "doses"}),
            )
        )
        connection.execute(
            insert(metadata.tables["conversation_states"]).values(
                user_id=user_id,
                step=state.flow.step.value,
                step_no=state.flow.step_no,
                flow=state.flow.model_dump(mode="json"),
                updated_at=NOW,
            )
        )


def test_existing_users_state_is_carried_into_the_document_and_back(db_url: str) -> None:
    engine = make_engine(db_url, create=False)
    migrations.upgrade(engine, BEFORE_DOCUMENT)
    state = rich_state()
    write_old_rows(engine, 1, "rich", state)
    write_old_rows(engine, 2, "bare", None)

    migrations.upgrade(engine)
    assert schema_drift(engine) == []
    with unit_of_work(engine) as db:
        rich = find_user(db, "telegram", "rich")
        bare = find_user(db, "telegram", "bare")
        row = db.execute(
            select(users.c.step, users.c.onboarded, users.c.stage).where(users.c.id == 1)
        ).one()
        sessions_left = db.execute(select(func.count()).select_from(sessions_table)).scalar()
    assert rich is not None
    assert bare is not None
    # Revision 0001 kept no record of the pictures and lessons shown: those start afresh.
    assert rich.coachee == state.model_copy(update={"learning": Learning()})
    assert rich.next_nudge_at == NOW + timedelta(days=1)
    assert bare.coachee == Coachee()
    assert tuple(row) == (state.flow.step.value, True, state.position.stage)
    assert sessions_left == 2  # rebuilding `users` must not cascade into its children

    migrations.downgrade(engine, BEFORE_DOCUMENT)
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        settings = connection.execute(select(metadata.tables["user_settings"])).one()
        position = connection.execute(select(metadata.tables["programme_positions"])).one()
        flow = connection.execute(select(metadata.tables["conversation_states"])).one()
        old_users = connection.execute(
            select(metadata.tables["users"]).order_by(metadata.tables["users"].c.id)
        ).all()
    assert settings.zone == state.profile.zone
    assert settings.nudge_time == state.profile.nudge_time
    assert settings.training_days == "0,2,4"
    assert position.stage == state.position.stage
    assert Flow.model_validate(flow.flow) == state.flow
    assert old_users[0].total_sessions == 1
    assert old_users[1].total_sessions == 0

    migrations.upgrade(engine)
    with unit_of_work(engine) as db:
        again = find_user(db, "telegram", "rich")
    assert again is not None
    assert again.coachee == state.model_copy(update={"learning": Learning()})
