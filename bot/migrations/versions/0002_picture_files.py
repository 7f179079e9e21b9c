"""picture files: Telegram file ids of uploaded exercise pictures, per bot

Revision ID: 0002_picture_files
Revises: 0002_state_document
Create Date: 2026-12-02 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002_picture_files"
down_revision: str | None = "0002_state_document"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "picture_files",
        sa.Column("bot_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("file_id", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("bot_id", "sha256"),
    )


def downgrade() -> None:
    op.drop_table("picture_files")
