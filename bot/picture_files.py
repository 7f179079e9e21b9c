"""Telegram's file ids of the pictures this bot has uploaded, keyed by the picture's content hash.

Once Telegram has a file, sending its `file_id` costs no upload, so each picture is uploaded once
per bot rather than once per user. Per bot, not per user: file ids belong to a bot token, so the
key is the bot's numeric id (the public part of the token, never the secret).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Engine, delete, insert, select
from sqlmodel import Field, SQLModel

from bot.store import unit_of_work


class PictureFile(SQLModel, table=True):
    __tablename__ = "picture_files"

    # Bot ids pass 2**31: BigInteger.
    bot_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    sha256: str = Field(primary_key=True, max_length=64)
    file_id: str = Field(max_length=256)


picture_files = PictureFile.__table__  # type: ignore[attr-defined]


def _this(bot_id: int, sha256: str) -> Any:
    return (picture_files.c.bot_id == bot_id) & (picture_files.c.sha256 == sha256)


def known_file_id(engine: Engine, bot_id: int, sha256: str) -> str | None:
    with unit_of_work(engine) as db:
        found = db.execute(select(picture_files.c.file_id).where(_this(bot_id, sha256)))
        return found.scalar_one_or_none()


def remember_file_id(engine: Engine, bot_id: int, sha256: str, file_id: str) -> None:
    """Store (or replace) the file id Telegram gave for this picture."""
    with unit_of_work(engine) as db:
        db.execute(delete(picture_files).where(_this(bot_id, sha256)))
        db.execute(insert(picture_files).values(bot_id=bot_id, sha256=sha256, file_id=file_id))


def forget_file_id(engine: Engine, bot_id: int, sha256: str) -> None:
    """Telegram refused the stored id: the next send uploads again."""
    with unit_of_work(engine) as db:
        db.execute(delete(picture_files).where(_this(bot_id, sha256)))
