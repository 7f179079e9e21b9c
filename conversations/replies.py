"""What the coach answers: plain replies with choices, and effects the adapters carry out."""

from __future__ import annotations

from dataclasses import dataclass

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
    picture: str | None = None


@dataclass(frozen=True)
class StartHoldTimer:
    """Tell the user time is up after `seconds`, unless the question `step_no` was answered."""

    seconds: int
    step_no: int


@dataclass(frozen=True)
class CancelHoldTimer:
    """The running hold ended early or the session stopped."""


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


Effect = StartHoldTimer | CancelHoldTimer | RecordSession | ShowProgress | ExportData | ForgetUser
