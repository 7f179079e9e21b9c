"""What can happen to the coach: the events adapters turn user input and timers into."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Text:
    """Free text the user typed."""

    text: str


@dataclass(frozen=True)
class Choose:
    """The user picked a choice; `step_no` names its question (None: the waiting one)."""

    choice: str
    step_no: int | None = None


@dataclass(frozen=True)
class Command:
    """A slash command such as /start or /pause 3."""

    name: str
    argument: str = ""


@dataclass(frozen=True)
class HoldTimeUp:
    """A timer the coach asked for (`WakeAt`) at question `step_no` fell due: a running set's
    phase ends. Early, late or repeated wakes are all fine: the coach works out where it is."""

    step_no: int


@dataclass(frozen=True)
class Unsupported:
    """Input the coach cannot read: a sticker, photo, voice note and the like."""

    what: str


@dataclass(frozen=True)
class NudgeDue:
    """The daily nudge fell due; `week_summary` is last week's recap, on the week's first nudge."""

    week_summary: str | None = None


@dataclass(frozen=True)
class SharedZone:
    """The user shared a location; the adapter turned it into this IANA time zone."""

    zone: str


Event = Text | Choose | Command | HoldTimeUp | Unsupported | NudgeDue | SharedZone
