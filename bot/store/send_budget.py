"""One send budget per bot, shared by every process that sends for it.

Telegram's limit (about 30 messages a second) is per bot token, not per process. The budget is
one row in the database (`send_budget`): the instant at which the bot's next free send slot
begins. The process sending nudges claims a run of slots in one short transaction,

    UPDATE send_budget SET next_slot = max(next_slot, now) + (replies + n) * interval

and then sends one nudge per slot, at the slot's time. Replies to users are never held back:
each process counts the replies it has sent since its last claim and adds them to that claim,
so they use up budget that nudges then do not get (replies first, nudges fill the rest). A
429 from Telegram pushes `next_slot` past its `retry_after` for every process at once.

The same row names the bot's one nudge sender (`sender`, `sender_until`, `turn`): every process
claims due users into the outbox, but only the sender sends outbox rows, so the bot's sends
come from one pace (and one `SendWindow`) rather than several that add up. The turn is taken
or renewed with one conditional UPDATE,

    UPDATE send_budget SET sender = me, sender_until = now + TURN, turn = turn + 1
    WHERE sender_until <= now

renewed every RENEW seconds while the sender sends, and given up when its outbox is empty.
A killed sender is replaced TURN seconds later. Rows are leased until the end of the turn
they were leased in, so its successor takes them over at once; a sender sends nothing in the
last TURN_MARGIN seconds of a turn it could not renew, and a sender that lost its turn (the
`turn` number moved on) sends nothing it leased in it.

The same code runs on SQLite (one process; the row costs a sub-millisecond transaction per
claim) and on PostgreSQL (the row lock orders the claims of concurrent processes). Instants are
seconds since the epoch from `time.time()`: processes on different hosts must keep their clocks
in step (NTP), as they must for the nudge leases anyway.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import threading
import time as clock_time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Engine, Float, Table, func, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, SQLModel

from bot.store.db import unit_of_work

log = logging.getLogger(__name__)

# Telegram's documented broadcast limit is about 30 a second; 29.5 leaves a little for clocks.
TELEGRAM_RATE = 29.5
# Paid broadcasts (allow_paid_broadcast) may go up to 1000 a second, at the bot owner's cost.
PAID_BROADCAST_RATE = 1000.0
PER_CHAT_SECONDS = 1.0
# A slot woken for this much later than its time is not used: sending then would bunch up with
# the slots after it. The pacer takes the next slot instead.
LATE = 0.05
# How many seconds of slots one claim takes; the next claim starts before they run out.
CLAIM_SECONDS = 0.5
# The nudge sender's turn: taken for TURN seconds, renewed every RENEW seconds while it sends.
# It sends nothing in the last TURN_MARGIN seconds of a turn it could not renew, so a send in
# flight is answered before another process may take over. A killed sender is replaced about
# TURN seconds later: the others try again several times a second while the outbox has rows
# (bot/nudges/tick.py, TRY_EVERY).
TURN = 1.5
RENEW = 0.25
TURN_MARGIN = 0.75


class SendBudgetRow(SQLModel, table=True):
    """The next free send slot of one bot (seconds since the epoch)."""

    __tablename__ = "send_budget"

    bot: str = Field(primary_key=True, max_length=32)
    next_slot: float = Field(default=0.0, sa_type=Float)
    # The one process sending nudges now, until when, and which turn it is (a number that grows
    # with every new sender: a sender that lost its turn never sends what it leased in it).
    sender: str | None = Field(default=None, max_length=64)
    sender_until: float = Field(default=0.0, sa_type=Float)
    turn: int = Field(default=0)


send_budget: Table = SendBudgetRow.__table__  # type: ignore[attr-defined]


class SendBudget:
    """The shared budget of one bot: claims slots, counts replies, spreads a 429's pause."""

    def __init__(
        self,
        engine: Engine,
        bot: str,
        rate_per_second: float = TELEGRAM_RATE,
        *,
        clock: Callable[[], float] = clock_time.time,
    ) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        self.engine = engine
        self.bot = bot
        self.rate = rate_per_second
        self.interval = 1.0 / rate_per_second
        self.clock = clock
        self._replies = 0
        self._lock = threading.Lock()
        # Set by a 429 this process saw: slots it claimed before then must not be used.
        self.paused_until = 0.0

    def note_reply(self) -> None:
        """A reply (or edit) went out; the next claim counts it against the budget."""
        with self._lock:
            self._replies += 1

    def claim(self, count: int) -> list[float]:
        """Claim `count` consecutive send slots; returns their instants, earliest first."""
        with self._lock:
            replies, self._replies = self._replies, 0
        now = self.clock()
        try:
            with unit_of_work(self.engine) as db:
                end = self._advance(db, now, (replies + count) * self.interval)
        except Exception:
            with self._lock:
                self._replies += replies
            raise
        start = end - count * self.interval
        return [start + i * self.interval for i in range(count)]

    def take_turn(
        self, me: str, turn: int | None, renew_only: bool = False
    ) -> tuple[int, float] | None:
        """Become (or stay, with `turn` the one held) the bot's nudge sender; return the turn
        and until when it holds, or None while another process has it. Counts the replies
        noted since the last claim, as a claim would: a process that does not send nudges
        still spends the budget on its replies."""
        with self._lock:
            replies, self._replies = self._replies, 0
        now = self.clock()
        row = send_budget.c
        try:
            with unit_of_work(self.engine) as db:
                if replies:
                    self._advance(db, now, replies * self.interval)
                else:
                    self._ensure(db)
                until = now + TURN
                if turn is not None:
                    renewed = db.execute(
                        update(send_budget)
                        .where(row.bot == self.bot, row.sender == me, row.turn == turn)
                        .values(sender_until=until)
                    )
                    if cast("CursorResult[Any]", renewed).rowcount == 1:
                        return turn, until
                    if renew_only:
                        return None
                taken = db.execute(
                    update(send_budget)
                    .where(row.bot == self.bot, row.sender_until <= now)
                    .values(sender=me, sender_until=until, turn=row.turn + 1)
                    .returning(row.turn)
                ).scalar()
        except Exception:
            with self._lock:
                self._replies += replies
            raise
        return None if taken is None else (int(taken), until)

    def end_turn(self, me: str, turn: int) -> None:
        """Nothing left to send: let another process take over at once."""
        row = send_budget.c
        with unit_of_work(self.engine) as db:
            db.execute(
                update(send_budget)
                .where(row.bot == self.bot, row.sender == me, row.turn == turn)
                .values(sender_until=0.0)
            )

    def back_off(self, seconds: float) -> None:
        """Telegram said 429 with `retry_after`: no process sends before it has passed."""
        until = self.clock() + seconds
        self.paused_until = max(self.paused_until, until)
        with unit_of_work(self.engine) as db:
            self._ensure(db)
            db.execute(
                update(send_budget)
                .where(send_budget.c.bot == self.bot, send_budget.c.next_slot < until)
                .values(next_slot=until)
            )

    def _advance(self, db: Connection, now: float, seconds: float) -> float:
        self._ensure(db)
        greatest = func.max if db.dialect.name == "sqlite" else func.greatest
        column = send_budget.c.next_slot
        result = db.execute(
            update(send_budget)
            .where(send_budget.c.bot == self.bot)
            .values(next_slot=greatest(column, now) + seconds)
            .returning(column)
        )
        return float(result.scalar_one())

    def _ensure(self, db: Connection) -> None:
        insert = postgresql_insert if db.dialect.name == "postgresql" else sqlite_insert
        db.execute(
            insert(send_budget)
            .values(bot=self.bot, next_slot=0.0, sender_until=0.0, turn=0)
            .on_conflict_do_nothing(index_elements=["bot"])
        )


Runner = Callable[..., Awaitable[Any]]


def process_name() -> str:
    """A name for this process in the send_budget row (host, pid and a random part)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SenderTurn:
    """This process's turn as the bot's nudge sender (see `SharedPacer.sending`)."""

    def __init__(self, budget: SendBudget, number: int, until: float) -> None:
        self.budget = budget
        self.number = number
        self.until = until
        self.held = True  # False once another process took over

    def lease_until(self, now: datetime) -> datetime:
        """Rows leased in this turn: nobody else sends while it lasts, and once it has passed
        (it is renewed while this process sends) the next sender may take them at once."""
        return datetime.fromtimestamp(self.until, UTC)

    def may_send(self, leased_until: datetime, now: datetime) -> bool:
        """Whether a nudge leased in this turn may start now: the turn is still ours and far
        enough from its end that the send is answered before anyone may take over."""
        return self.held and self.budget.clock() < self.until - TURN_MARGIN


async def _in_thread(function: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(function, *args)


class SharedPacer:
    """Paces one process's nudges inside the bot's shared budget, for the life of the process:
    one nudge per claimed slot, and at most one message a second to any one chat.

    `sending()` makes this process the bot's one nudge sender for a while (or says another
    process is). `wait(chat_id)` returns when a nudge to `chat_id` may go out. Slots are claimed
    in runs of CLAIM_SECONDS; the next run is claimed while the current one is being used.
    `runner` runs the synchronous claims (in a thread by default; the bot passes
    `CoachService.call`, which runs them on the event loop)."""

    def __init__(
        self,
        budget: SendBudget,
        *,
        per_chat_seconds: float = PER_CHAT_SECONDS,
        runner: Runner = _in_thread,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.budget = budget
        self.per_chat_seconds = per_chat_seconds
        self.run = runner
        self._sleep = sleep
        self.claim_size = max(1, round(CLAIM_SECONDS / budget.interval))
        self._slots: deque[float] = deque()
        self._next_by_chat: dict[str, float] = {}
        self._claiming: asyncio.Task[None] | None = None
        self._turn = asyncio.Lock()
        self.me = process_name()
        self._last_turn: int | None = None

    @asynccontextmanager
    async def sending(self) -> AsyncIterator[SenderTurn | None]:
        """Be the bot's one nudge sender for a while, or None while another process is.
        The turn is renewed in the background until the block ends, then given up."""
        try:
            taken = await self.run(self.budget.take_turn, self.me, self._last_turn)
        except Exception as error:  # the database is away: no sending this time
            log.warning("Could not take the nudge sender's turn (%s)", type(error).__name__)
            taken = None
        if taken is None:
            yield None
            return
        turn = SenderTurn(self.budget, *taken)
        self._last_turn = turn.number
        renewing = asyncio.ensure_future(self._renew(turn))
        try:
            yield turn
        finally:
            renewing.cancel()
            with suppress(asyncio.CancelledError):
                await renewing
            if turn.held:
                try:
                    await self.run(self.budget.end_turn, self.me, turn.number)
                except Exception as error:  # it runs out by itself within TURN
                    log.warning("Could not end the sender's turn (%s)", type(error).__name__)

    async def _renew(self, turn: SenderTurn) -> None:
        # Real time: the turn is about the wall clock other processes read too.
        while turn.held:
            await asyncio.sleep(RENEW)
            await self.renew(turn)

    async def renew(self, turn: SenderTurn) -> None:
        """Extend the turn; mark it lost when another process has taken over."""
        try:
            taken = await self.run(self.budget.take_turn, self.me, turn.number, True)
        except Exception as error:  # sending stops by itself when the turn runs out
            log.warning("Could not renew the sender's turn (%s)", type(error).__name__)
            return
        if taken is None:
            turn.held = False
        else:
            turn.until = taken[1]

    async def _refill(self) -> None:
        slots = await self.run(self.budget.claim, self.claim_size)
        self._slots.extend(slots)

    def _start_refill(self) -> None:
        if self._claiming is None or self._claiming.done():
            self._claiming = asyncio.ensure_future(self._refill())

    async def _next_slot(self) -> float:
        while True:
            if len(self._slots) <= self.claim_size // 2:
                self._start_refill()  # the next run, while this one is being used
            if not self._slots:
                assert self._claiming is not None
                await self._claiming
                continue
            slot = self._slots.popleft()
            if slot >= max(self.budget.clock() - LATE, self.budget.paused_until):
                return slot

    async def wait(self, chat_id: str) -> float:
        """Wait for this process's next send slot (and the chat's own pace); return the
        seconds waited."""
        async with self._turn:  # slots go out in order, one waiter at a time
            started = self.budget.clock()
            not_before = self._next_by_chat.get(chat_id, -math.inf)
            while True:
                slot = await self._next_slot()
                if slot < not_before:
                    continue  # too soon for this chat: the slot goes unused
                delay = slot - self.budget.clock()
                if delay > 0:
                    await self._sleep(delay)
                if self.budget.clock() - slot <= LATE:
                    break
                # Woken too late (a busy machine): sending now would crowd the next slots.
            self._next_by_chat[chat_id] = slot + self.per_chat_seconds
            if len(self._next_by_chat) > 10_000:
                now = self.budget.clock()
                self._next_by_chat = {c: t for c, t in self._next_by_chat.items() if t > now}
            return self.budget.clock() - started
