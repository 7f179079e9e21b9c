"""The outbox: messages the nudge tick has decided to send, stored in the same transaction as the
user's new state, and sent afterwards. A row is pending until `sent_at` is set.

Why an outbox: claiming a due nudge changes the user's state ("nudged today"); the message must
survive a crash between that commit and the send, and must not be sent twice. The row is the
promise to send; the tick sends pending rows and marks them (see bot/nudge_tick.py).

The payload holds the replies as plain JSON: the text, the choices as [id, label] pairs, the
question's `step_no` (which versions its buttons) and the keyboard's columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Table
from sqlmodel import Field, SQLModel

from bot.store import AwareDateTime
from conversations.replies import Choice, Reply

PAYLOAD_VERSION = 1


def _aware(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(AwareDateTime(), nullable=nullable))


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "platform", "sent_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _aware(nullable=False)
    # While a process is sending the row, other processes leave it alone until this passes.
    claimed_until: datetime | None = _aware()
    sent_at: datetime | None = _aware()
    attempts: int = 0


outbox: Table = OutboxMessage.__table__  # type: ignore[attr-defined]


def replies_to_payload(replies: Sequence[Reply]) -> dict[str, Any]:
    """The replies as JSON-ready data."""
    return {
        "v": PAYLOAD_VERSION,
        "replies": [
            {
                "text": reply.text,
                "choices": [[choice.id, choice.label] for choice in reply.choices],
                "step_no": reply.step_no,
                "columns": reply.columns,
            }
            for reply in replies
        ],
    }


def payload_to_replies(payload: dict[str, Any]) -> tuple[Reply, ...]:
    """The replies back from a payload; raises ValueError when it is not one we wrote."""
    if payload.get("v") != PAYLOAD_VERSION or not isinstance(payload.get("replies"), list):
        raise ValueError("not an outbox payload of this version")
    replies: list[Reply] = []
    for item in payload["replies"]:
        try:
            step_no = item["step_no"]
            replies.append(
                Reply(
                    text=str(item["text"]),
                    choices=tuple(Choice(str(i), str(label)) for i, label in item["choices"]),
                    step_no=None if step_no is None else int(step_no),
                    columns=int(item["columns"]),
                )
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError("malformed reply in an outbox payload") from error
    return tuple(replies)


def question_step_no(replies: Sequence[Reply]) -> int | None:
    """The `step_no` of the question the replies ask (the last one with buttons), if any."""
    for reply in reversed(replies):
        if reply.choices and reply.step_no is not None:
            return reply.step_no
    return None
