"""one nudge sender at a time: its id, turn and until when

Revision ID: 0004_nudge_sender
Revises: 0003_send_budget
Create Date: 2026-12-02 08:10:00

The bot's send budget row also names the one process sending nudges (bot/store/send_budget.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004_nudge_sender"
down_revision: str | None = "0003_send_budget"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("send_budget") as table:
        table.add_column(sa.Column("sender", sa.String(length=64), nullable=True))
        table.add_column(sa.Column("sender_until", sa.Float(), nullable=False, server_default="0"))
        table.add_column(sa.Column("turn", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("send_budget") as table:
        table.drop_column("turn")
        table.drop_column("sender_until")
        table.drop_column("sender")
