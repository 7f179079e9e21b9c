"""the bot's shared send budget

Revision ID: 0003_send_budget
Revises: 0002_picture_files
Create Date: 2026-12-02 05:20:00

One row per bot: the instant its next free send slot begins (bot/store/send_budget.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003_send_budget"
down_revision: str | None = "0002_picture_files"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "send_budget",
        sa.Column("bot", sa.String(length=32), nullable=False),
        sa.Column("next_slot", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("bot"),
    )


def downgrade() -> None:
    op.drop_table("send_budget")
