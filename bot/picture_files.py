"""Telegram's file ids of the pictures this bot has uploaded, keyed by the picture's content hash.

Once Telegram has a file, sending its `file_id` costs no upload, so each picture is uploaded once
per bot rather than once per user. Per bot, not per user: file ids belong to a bot token, so the
key is the bot's numeric id (the public part of the token, never the secret).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Engine
from sqlmodel import Field, SQLModel, delete

from bot.store import unit_of_work


class PictureFile(SQLModel, table=True):
    __tablename__ = "picture_files"

    # Bot ids pass 2**31: BigInteger.
    bot_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    sha256: str = Field(primary_key=True, max_length=64)
    file_id: str = Field(max_length=256)


def known_file_id(engine: Engine, bot_id: int, sha256: str) -> str | None:
    with unit_of_work(engine) as session:
        row = session.get(PictureFile, (bot_id, sha256))
        return None if row is None else row.file_id


def remember_file_id(engine: Engine, bot_id: int, sha256: str, file_id: str) -> None:
    """Store (or replace) the file id Telegram gave for this picture."""
    with unit_of_work(engine) as session:
        row = session.get(PictureFile, (bot_id, sha256))
        if row is None:
            row = PictureFile(bot_id=bot_id, sha256=sha256, file_id=file_id)
        row.file_id = file_id
        session.add(row)


def forget_file_id(engine: Engine, bot_id: int, sha256: str) -> None:
    """Telegram refused the stored id: the next send uploads again."""
    with unit_of_work(engine) as session:
        session.exec(
            delete(PictureFile).where(
                PictureFile.bot_id == bot_id,  # type: ignore[arg-type]
                PictureFile.sha256 == sha256,  # type: ignore[arg-type]
            )
        )
