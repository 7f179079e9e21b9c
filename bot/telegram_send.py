"""Sending to Telegram, with the error handling every send needs.

`Sender(bot)` sends a coach `Reply` (`send_reply`), edits a pressed question (`mark_answered`),
retries network errors with back-off (`retrying`), and runs calls the conversation can do
without (`optional`: setMyCommands, sendChatAction, removing an old keyboard) so that a server
rejecting them is only logged. Flood control (429) is PTB's `AIORateLimiter`'s job: it waits the
time the server names and tries again, so it never reaches this module unless it keeps failing.

`TelegramDelivery(sender)` is the `bot.delivery.Delivery` the nudge tick uses:

    delivery = TelegramDelivery(Sender(application.bot))
    result = await delivery.deliver("4242", replies)   # SENT, BLOCKED or FAILED
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import TypeVar

from telegram import Bot, Message
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError

from bot.delivery import DeliveryResult
from bot.telegram_render import answered_text, keyboard
from conversations.replies import Reply

log = logging.getLogger(__name__)

T = TypeVar("T")
PLATFORM = "telegram"
DEFAULT_RETRY_DELAYS = (0.5, 1.0, 2.0)


def is_not_modified(error: TelegramError) -> bool:
    """Telegram's answer to an edit that changes nothing; harmless, so we ignore it."""
    return isinstance(error, BadRequest) and "message is not modified" in error.message.lower()


class Sender:
    """Sends and edits messages for one bot, retrying what a retry can fix."""

    def __init__(self, bot: Bot, *, retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS) -> None:
        self.bot = bot
        self.retry_delays = tuple(retry_delays)

    async def retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run `call`, again after each network error while back-off delays remain."""
        for delay in self.retry_delays:
            try:
                return await call()
            except BadRequest:
                raise  # a subclass of NetworkError, but the same request would fail again
            except NetworkError as error:  # TimedOut included
                log.warning("Network error (%s); retrying in %.1f s", type(error).__name__, delay)
                await asyncio.sleep(delay)
        return await call()

    async def send_reply(self, chat_id: int, reply: Reply) -> Message:
        """Send one reply, with its choices as an inline keyboard."""
        markup = keyboard(reply)
        return await self.retrying(
            lambda: self.bot.send_message(chat_id, reply.text, reply_markup=markup)
        )

    async def mark_answered(self, message: Message, label: str) -> None:
        """Show the chosen answer under a pressed question and take its keyboard away."""
        text = answered_text(message.text, label) if message.text else None
        try:
            if text is None:
                await self.retrying(lambda: message.edit_reply_markup(reply_markup=None))
            else:
                await self.retrying(lambda: message.edit_text(text, reply_markup=None))
        except BadRequest as error:
            # Not modified: it already shows the answer. Too old or deleted: nothing to show.
            if not is_not_modified(error):
                log.info("Could not mark the pressed question as answered: %s", error.message)

    async def optional(self, call: Awaitable[object], what: str) -> bool:
        """Run a call the conversation can do without; a refusal is logged, never raised."""
        try:
            await call
        except Forbidden:
            raise  # the user blocked the bot: the caller must know
        except TelegramError as error:
            if not is_not_modified(error):
                log.warning("%s failed (%s): %s", what, type(error).__name__, error.message)
            return False
        return True


class TelegramDelivery:
    """Delivers nudges to Telegram chats for the nudge tick (see `bot.delivery.Delivery`)."""

    platform = PLATFORM

    def __init__(
        self,
        sender: Sender,
        chat_lock: Callable[[int], AbstractAsyncContextManager[object]] | None = None,
    ) -> None:
        self.sender = sender
        # The same per-chat lock as updates, so a nudge never lands between a question and
        # the rest of an answer.
        self.chat_lock = chat_lock or (lambda chat_id: nullcontext())

    async def deliver(self, chat_id: str, replies: Sequence[Reply]) -> DeliveryResult:
        """Send the replies in order; say whether they arrived, the user blocked us, or not yet."""
        chat = int(chat_id)
        try:
            async with self.chat_lock(chat):
                for reply in replies:
                    await self.sender.send_reply(chat, reply)
        except Forbidden:
            return DeliveryResult.BLOCKED
        except TelegramError as error:  # flood control, network, and the rest: a later tick
            log.warning("A nudge was not delivered (%s)", type(error).__name__)
            return DeliveryResult.FAILED
        return DeliveryResult.SENT
