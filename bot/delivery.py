"""How the nudge tick hands messages to a chat platform, whichever it is."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol

from conversations.replies import Reply


class DeliveryResult(StrEnum):
    SENT = "sent"
    BLOCKED = "blocked"  # the user blocked the bot: mark them inactive, send nothing more
    FAILED = "failed"  # a passing fault (network, server): try again on a later tick
    LATER = "later"  # flood control (429): try again in this tick, after the bot's pause


class Delivery(Protocol):
    """Sends replies to one chat of one platform, and says how it went."""

    platform: str

    async def deliver(self, chat_id: str, replies: Sequence[Reply]) -> DeliveryResult: ...
