"""Alembic's environment: SQLModel's metadata, on the connection the caller hands over."""

from __future__ import annotations

from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, pool
from sqlmodel import SQLModel, create_engine
from sqlmodel.sql.sqltypes import AutoString

from bot.store.migrations.models import import_models

import_models()
from bot.store.db import AwareDateTime  # noqa: E402 - after every model module is loaded

target_metadata = SQLModel.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Plain SQLAlchemy types in revisions, so they never import the app's code."""
    if type_ == "type" and isinstance(obj, AwareDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        compare_type=True,
    )


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "give a connection or sqlalchemy.url"
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.begin() as own_connection:
        configure(own_connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported")
run()
