"""the coach's state as one JSON document per user

Revision ID: 0002_state_document
Revises: 0001
Create Date: 2026-12-02 04:50:00

Before: a user's state was spread over `users` (activity columns), `user_settings`,
`programme_positions` and `conversation_states`. After: `users.state` holds the whole state as
one JSON document (the pydantic `Coachee` in JSON mode), next to the columns queries need
(`step`, `onboarded`, `stage`) and a `version` that grows with every write. Existing users'
state is carried over in both directions.

The document is built here by hand, in the shape `Coachee` had at this revision, so the
revision never imports the app. On SQLite the columns are added and dropped with plain ALTER
TABLE (SQLite 3.35+): rebuilding `users` would drop it, and with foreign keys on that deletes
every child row through ON DELETE CASCADE.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002_state_document"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_ACTIVITY_COLUMNS = (
    ("total_sessions", sa.Integer(), False, "0"),
    ("streak", sa.Integer(), False, "0"),
    ("last_trained_on", sa.Date(), True, None),
    ("paused_until", sa.Date(), True, None),
    ("started_on", sa.Date(), True, None),
    ("last_nudged_on", sa.Date(), True, None),
    ("snoozed_until", sa.DateTime(timezone=True), True, None),
    ("snoozes_in_row", sa.Integer(), False, "0"),
)
_PROFILE_FIELDS = (
    "onboarded",
    "pain_at_start",
    "experience",
    "training_days",
    "nudge_time",
    "zone",
    "quiet_start",
    "quiet_end",
    "screened_at",
)


def _users(*extra: sa.Column[Any]) -> sa.TableClause:
    return sa.table(
        "users",
        sa.column("id", sa.Integer()),
        *(sa.column(name, kind) for name, kind, _, _ in _ACTIVITY_COLUMNS),
        *extra,
    )


_settings = sa.table(
    "user_settings",
    sa.column("user_id", sa.Integer()),
    sa.column("onboarded", sa.Boolean()),
    sa.column("pain_at_start", sa.Integer()),
    sa.column("experience", sa.String()),
    sa.column("training_days", sa.String()),
    sa.column("nudge_time", sa.Time()),
    sa.column("zone", sa.String()),
    sa.column("quiet_start", sa.Time()),
    sa.column("quiet_end", sa.Time()),
    sa.column("screened_at", sa.DateTime(timezone=True)),
)
_positions = sa.table(
    "programme_positions",
    sa.column("user_id", sa.Integer()),
    sa.column("stage", sa.Integer()),
    sa.column("doses", sa.JSON()),
    sa.column("memory", sa.JSON()),
)
_states = sa.table(
    "conversation_states",
    sa.column("user_id", sa.Integer()),
    sa.column("step", sa.String()),
    sa.column("step_no", sa.Integer()),
    sa.column("flow", sa.JSON()),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
_document_columns = (
    sa.column("state", sa.JSON()),
    sa.column("step", sa.String()),
    sa.column("onboarded", sa.Boolean()),
    sa.column("stage", sa.Integer()),
    sa.column("version", sa.Integer()),
)


def _json_value(value: Any) -> Any:
    """A column value as the document holds it (pydantic's JSON mode)."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date | time):
        return value.isoformat()
    return value


def _parse_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)


def _parse_date(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(str(value))


def _parse_time(value: Any, default: time | None) -> time | None:
    return default if value is None else time.fromisoformat(str(value))


def _by_user(connection: sa.Connection, table: sa.TableClause) -> dict[int, Any]:
    return {row.user_id: row for row in connection.execute(sa.select(table))}


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("step", sa.String(length=32), nullable=False, server_default="new")
    )
    op.add_column(
        "users", sa.Column("onboarded", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("users", sa.Column("stage", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("users", sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("users", sa.Column("state", sa.JSON(), nullable=False, server_default="{}"))

    connection = op.get_bind()
    settings = _by_user(connection, _settings)
    positions = _by_user(connection, _positions)
    states = _by_user(connection, _states)
    updates: list[dict[str, Any]] = []
    for user in connection.execute(sa.select(_users())):
        document: dict[str, Any] = {
            "activity": {name: _json_value(getattr(user, name)) for name, *_ in _ACTIVITY_COLUMNS}
        }
        setting = settings.get(user.id)
        if setting is not None:
            profile = {name: _json_value(getattr(setting, name)) for name in _PROFILE_FIELDS}
            profile["training_days"] = sorted(
                int(day) for day in (setting.training_days or "").split(",") if day.strip()
            )
            document["profile"] = profile
        position = positions.get(user.id)
        if position is not None:
            document["position"] = {
                **(position.memory or {}),
                "stage": position.stage,
                "doses": dict(position.doses or {}),
            }
        state = states.get(user.id)
        if state is not None:
            document["flow"] = dict(state.flow or {})
        updates.append(
            {
                "user": user.id,
                "state": document,
                "step": (state.step if state is not None else None) or "new",
                "onboarded": bool(setting.onboarded) if setting is not None else False,
                "stage": position.stage if position is not None else 1,
            }
        )
    _update_users(connection, updates, ("state", "step", "onboarded", "stage"))

    op.drop_table("conversation_states")
    op.drop_table("programme_positions")
    op.drop_table("user_settings")
    for name, *_ in _ACTIVITY_COLUMNS:
        op.drop_column("users", name)


def _update_users(
    connection: sa.Connection, updates: list[dict[str, Any]], names: Iterable[str]
) -> None:
    if not updates:
        return
    table = _users(*_document_columns)
    statement = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("user"))
        .values({name: sa.bindparam(f"v_{name}") for name in names})
    )
    renamed = [{f"v_{k}" if k != "user" else k: v for k, v in row.items()} for row in updates]
    connection.execute(statement, renamed)


def downgrade() -> None:
    for name, kind, nullable, default in _ACTIVITY_COLUMNS:
        op.add_column("users", sa.Column(name, kind, nullable=nullable, server_default=default))
    op.create_table(
        "user_settings",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("onboarded", sa.Boolean(), nullable=False),
        sa.Column("pain_at_start", sa.Integer(), nullable=True),
        sa.Column("experience", sa.String(length=16), nullable=True),
        sa.Column("training_days", sa.String(length=13), nullable=False),
        sa.Column("nudge_time", sa.Time(), nullable=True),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("quiet_start", sa.Time(), nullable=False),
        sa.Column("quiet_end", sa.Time(), nullable=False),
        sa.Column("screened_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "programme_positions",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("doses", sa.JSON(), nullable=False),
        sa.Column("memory", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "conversation_states",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("step_no", sa.Integer(), nullable=False),
        sa.Column("flow", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )

    connection = op.get_bind()
    table = _users(*_document_columns, sa.column("created_at", sa.DateTime(timezone=True)))
    activity_rows: list[dict[str, Any]] = []
    settings_rows: list[dict[str, Any]] = []
    position_rows: list[dict[str, Any]] = []
    state_rows: list[dict[str, Any]] = []
    for user in connection.execute(sa.select(table.c.id, table.c.state, table.c.created_at)):
        document = user.state or {}
        activity = document.get("activity", {})
        activity_rows.append(
            {
                "user": user.id,
                "total_sessions": activity.get("total_sessions", 0),
                "streak": activity.get("streak", 0),
                "last_trained_on": _parse_date(activity.get("last_trained_on")),
                "paused_until": _parse_date(activity.get("paused_until")),
                "started_on": _parse_date(activity.get("started_on")),
                "last_nudged_on": _parse_date(activity.get("last_nudged_on")),
                "snoozed_until": _parse_datetime(activity.get("snoozed_until")),
                "snoozes_in_row": activity.get("snoozes_in_row", 0),
            }
        )
        if "profile" in document:
            profile = document["profile"]
            settings_rows.append(
                {
                    "user_id": user.id,
                    "onboarded": bool(profile.get("onboarded", False)),
                    "pain_at_start": profile.get("pain_at_start"),
                    "experience": profile.get("experience"),
                    "training_days": ",".join(
                        str(day) for day in sorted(profile.get("training_days", range(7)))
                    ),
                    "nudge_time": _parse_time(profile.get("nudge_time"), None),
                    "zone": profile.get("zone", "UTC"),
                    "quiet_start": _parse_time(profile.get("quiet_start"), time(22, 0)),
                    "quiet_end": _parse_time(profile.get("quiet_end"), time(7, 0)),
                    "screened_at": _parse_datetime(profile.get("screened_at")),
                }
            )
        if "position" in document:
            position = dict(document["position"])
            stage = position.pop("stage", 1)
            doses = position.pop("doses", {})
            position_rows.append(
                {"user_id": user.id, "stage": stage, "doses": doses, "memory": position}
            )
        if "flow" in document:
            flow = document["flow"]
            state_rows.append(
                {
                    "user_id": user.id,
                    "step": flow.get("step", "new"),
                    "step_no": flow.get("step_no", 0),
                    "flow": flow,
                    "updated_at": user.created_at,
                }
            )
    if activity_rows:
        old = _users()
        connection.execute(
            sa.update(old)
            .where(old.c.id == sa.bindparam("user"))
            .values({name: sa.bindparam(f"v_{name}") for name, *_ in _ACTIVITY_COLUMNS}),
            [{f"v_{k}" if k != "user" else k: v for k, v in row.items()} for row in activity_rows],
        )
    for target, rows in (
        (_settings, settings_rows),
        (_positions, position_rows),
        (_states, state_rows),
    ):
        if rows:
            connection.execute(sa.insert(target), rows)
    for name in ("state", "version", "stage", "onboarded", "step"):
        op.drop_column("users", name)
