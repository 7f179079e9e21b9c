"""What the coach answers: plain replies with choices, and effects the adapters carry out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from conversations.records import SessionRecord


@dataclass(frozen=True)
class Choice:
    """One button: a short stable id and the label the user sees."""

    id: str
    label: str


@dataclass(frozen=True)
class Reply:
    """A message to the user; when it has choices, `step_no` versions its buttons.

    `picture` names an exercise whose picture (or animation) the chat shows just before this
    text; chats that cannot show pictures leave it out."""

    text: str
    choices: tuple[Choice, ...] = ()
    step_no: int | None = None
    columns: int = 1
    # The live message of a running set: later `LiveUpdate`s edit this message.
    live: bool = False
    picture: str | None = None


@dataclass(frozen=True)
class WakeAt:
    """Wake the coach at `at` (send `HoldTimeUp(step_no)`): the running set's phase ends then.
    One timer per chat: a new one replaces the old."""

    at: datetime
    step_no: int


@dataclass(frozen=True)
class CancelHoldTimer:
    """The running set ended early or the session stopped: drop the chat's timer."""


@dataclass(frozen=True)
class LiveUpdate:
    """The running set's phase changed: edit the set's one live message to this (in the
    terminal: print it as one line). Without choices, the set is over and the message final."""

    text: str
    choices: tuple[Choice, ...] = ()
    step_no: int | None = None
    columns: int = 2


@dataclass(frozen=True)
class Acknowledge:
    """A short note on a pressed button (Telegram: the button's pop-up), not a message."""

    text: str


@dataclass(frozen=True)
class RecordSession:
    """A session ended (finished, stopped or safety-stopped): store it in the history."""

    record: SessionRecord


@dataclass(frozen=True)
class ShowProgress:
    """The user asked for /progress; the adapter renders it from the stored history."""


@dataclass(frozen=True)
class ExportData:
    """/export: send the user everything stored about them."""


@dataclass(frozen=True)
class ForgetUser:
    """/forget, confirmed: delete every row about the user; nothing of them is kept."""


Effect = (
    WakeAt
    | CancelHoldTimer
    | LiveUpdate
    | Acknowledge
    | RecordSession
    | ShowProgress
    | ExportData
    | ForgetUser
)
