"""How the nudge tick hands messages to a chat platform, whichever it is."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from enum import StrEnum
from typing import Protocol

from conversations.replies import Reply


class DeliveryResult(StrEnum):
    SENT = "sent"
    BLOCKED = "blocked"  # the user blocked the bot: mark them inactive, send nothing more
    FAILED = "failed"  # a passing fault (network, server): try again on a later tick
    LATER = "later"  # flood control (429): try again in this tick, after the bot's pause
    # Not sent: the row's lease (or the sender's turn) ran short before the send could start,
    # so the row may be another sender's by now; this one leaves it alone.
    TOO_LATE = "too late"


# Set by the nudge tick around each delivery: whether its send may still start now. A platform
# asks as late as it can, right before the request leaves (after any wait for a lock or for
# the rate limit); when it says no, the delivery sends nothing and returns TOO_LATE.
may_start: ContextVar[Callable[[], bool] | None] = ContextVar("may_start", default=None)


class TooLate(Exception):
    """The send was not started: `may_start` said the row is no longer surely ours."""


class Delivery(Protocol):
    """Sends replies to one chat of one platform, and says how it went."""

    platform: str

    async def deliver(self, chat_id: str, replies: Sequence[Reply]) -> DeliveryResult: ...
