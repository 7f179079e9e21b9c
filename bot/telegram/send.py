"""Sending to Telegram, with the error handling every send needs.

`Sender(bot)` sends a coach `Reply` (`send_reply`; with an exercise's animation, as its
caption), edits a pressed question (`mark_answered`), retries network errors with back-off
(`retrying`), and runs calls the conversation can do without (`optional`: setMyCommands,
sendChatAction, removing an old keyboard) so that a server rejecting them is only logged.
Flood control (429) for replies is PTB's `AIORateLimiter`'s job: it waits the time the server
names and tries again, so it never reaches this module unless it keeps failing.
`SharedRateLimiter` wraps it with the bot's shared budget and this process's send window
(below).

`TelegramDelivery(sender)` is the `bot.delivery.Delivery` the nudge tick uses:

    delivery = TelegramDelivery(Sender(application.bot))
    result = await delivery.deliver("4242", replies)   # SENT, BLOCKED, LATER, TOO_LATE, FAILED
"""

from __future__ import annotations

import asyncio
import logging
import math
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

from telegram import Bot, InputFile, Message
from telegram._utils.types import JSONDict
from telegram.constants import MessageLimit
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

from bot.delivery import DeliveryResult, TooLate, may_start
from bot.nudges.send_window import SendWindow
from bot.store.send_budget import SendBudget
from bot.telegram.render import answered_text, keyboard
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

    def __init__(
        self,
        bot: Bot,
        *,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        paid_broadcast: bool = False,
    ) -> None:
        self.bot = bot
        self.retry_delays = tuple(retry_delays)
        self.paid_broadcast = paid_broadcast

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

    async def send_reply(
        self,
        chat_id: int,
        reply: Reply,
        *,
        nudge: bool = False,
        animation: str | InputFile | None = None,
    ) -> Message:
        """Send one reply, with its choices as an inline keyboard. With an `animation` (a file
        id or an upload), the reply is that animation's caption: one message, its text as
        plain as ever (the caller checks that it `fits` a caption). A nudge has its budget slot
        already (and goes as a paid broadcast when the bot opted in)."""
        markup = keyboard(reply)
        extra: dict[str, Any] = {}
        if nudge:
            extra["rate_limit_args"] = NUDGE
            if self.paid_broadcast:
                extra["allow_paid_broadcast"] = True
        if animation is not None:
            return await self.retrying(
                lambda: self.bot.send_animation(
                    chat_id, animation, caption=reply.text, reply_markup=markup, **extra
                )
            )
        return await self.retrying(
            lambda: self.bot.send_message(chat_id, reply.text, reply_markup=markup, **extra)
        )

    async def mark_answered(self, message: Message, label: str) -> None:
        """Show the chosen answer under a pressed question and take its keyboard away. A
        question that is an animation's caption gets it in its caption."""
        text = answered_text(message.text, label) if message.text else None
        caption = (
            answered_text(message.caption, label, MessageLimit.CAPTION_LENGTH)
            if message.caption
            else None
        )
        edit: Callable[[], Awaitable[object]]
        if text is not None:
            edit = partial(message.edit_text, text, reply_markup=None)
        elif caption is not None:
            edit = partial(message.edit_caption, caption, reply_markup=None)
        else:  # nothing to write the answer into, or it would be too long: the keyboard goes
            edit = partial(message.edit_reply_markup, reply_markup=None)
        try:
            await self.retrying(edit)
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
                for index, reply in enumerate(replies):
                    # The first message has the nudge's slot; the rest count as replies.
                    await self.sender.send_reply(chat, reply, nudge=index == 0)
        except Forbidden:
            return DeliveryResult.BLOCKED
        except TooLate:  # nothing was sent: the row may be another sender's by now
            return DeliveryResult.TOO_LATE
        except RetryAfter:  # the whole bot pauses (SharedRateLimiter); then this tick again
            log.warning("A nudge met flood control; it goes again after the pause")
            return DeliveryResult.LATER
        except TelegramError as error:  # network, and the rest: a later tick
            log.warning("A nudge was not delivered (%s)", type(error).__name__)
            return DeliveryResult.FAILED
        return DeliveryResult.SENT


# --- the bot's shared send budget ---------------------------------------------------------------

# `rate_limit_args` of a nudge's requests: the nudge pacer has already spent a budget slot on it.
NUDGE = "nudge"
# Requests that Telegram counts against the bot's messages per second.
COUNTED = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendAnimation",
        "editMessageText",
        "editMessageReplyMarkup",
        "editMessageCaption",
        "editMessageMedia",
    }
)


class SharedRateLimiter(BaseRateLimiter[int | str]):
    """PTB's `AIORateLimiter` (per-process pacing, retries after a 429), plus the bot's shared
    budget (bot/store/send_budget.py): every reply counts against it, so other processes' nudges
    leave room for it, and a 429 pauses every process's nudges for its `retry_after`.

    Every counted send also takes its place in this process's `SendWindow`
    (bot/nudges/send_window.py): a nudge starts only once the send `window.size` places before
    it has been answered at least a second ago, so jitter cannot make the server see more than
    `window.size` in a second; replies are never held, the nudges after them wait."""

    def __init__(
        self,
        inner: BaseRateLimiter[int],
        budget: SendBudget,
        run: Callable[..., Awaitable[Any]],
        window: SendWindow | None = None,
    ) -> None:
        self.inner = inner
        self.budget = budget
        self.run = run
        # ceil: 29.5 a second allows 30 in one second, and the pacer keeps the average at 29.5.
        self.window = window or SendWindow(max(1, math.ceil(budget.rate)))

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | str | None,
    ) -> bool | JSONDict | list[JSONDict]:
        nudge = rate_limit_args == NUDGE and endpoint == "sendMessage"
        counted = endpoint in COUNTED
        if counted and not nudge:
            self.budget.note_reply()

        async def noting_429(
            *call_args: Any, **call_kwargs: Any
        ) -> bool | JSONDict | list[JSONDict]:
            # A nudge waits for its place in the window; a reply takes its place at once.
            send = None
            if counted:
                send = await self.window.turn() if nudge else self.window.start()
            check = may_start.get() if nudge else None
            if check is not None and not check():
                assert send is not None
                self.window.finish(send)  # nothing left: a place in the window, no more
                raise TooLate
            try:
                return await callback(*call_args, **call_kwargs)
            except RetryAfter as error:
                with warnings.catch_warnings():
                    # PTB 22 warns that `retry_after` becomes a timedelta; both are handled.
                    warnings.simplefilter("ignore", PTBDeprecationWarning)
                    seconds = error.retry_after
                pause = seconds.total_seconds() if isinstance(seconds, timedelta) else seconds
                try:
                    await self.run(self.budget.back_off, float(pause))
                except Exception as failure:  # the pause still holds in this process
                    log.warning("Could not share a 429 pause (%s)", type(failure).__name__)
                raise
            finally:
                if send is not None:
                    self.window.finish(send)

        if nudge:
            # Paced already, by its budget slot. A 429 is not retried here (a retry would go
            # out between the paced slots): the nudge fails, the whole bot pauses, and the
            # tick sends it again after the pause.
            return await noting_429(*args, **kwargs)
        inner_args = None if isinstance(rate_limit_args, str) else rate_limit_args
        return await self.inner.process_request(
            noting_429, args, kwargs, endpoint, data, inner_args
        )
