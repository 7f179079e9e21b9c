"""One send budget per bot, shared by every process that sends for it.

Telegram's limit (about 30 messages a second) is per bot token, not per process. The budget is
one row in the database (`send_budget`): the instant at which the bot's next free send slot
begins. A process that wants to send nudges claims a run of slots in one short transaction,

    UPDATE send_budget SET next_slot = max(next_slot, now) + (replies + n) * interval

and then sends one nudge per slot, at the slot's time. Replies to users are never held back:
each process counts the replies it has sent since its last claim and adds them to that claim,
so they use up budget that nudges then do not get (replies first, nudges fill the rest). A
429 from Telegram pushes `next_slot` past its `retry_after` for every process at once.

The same code runs on SQLite (one process; the row costs a sub-millisecond transaction per
claim) and on PostgreSQL (the row lock orders the claims of concurrent processes). Instants are
seconds since the epoch from `time.time()`: processes on different hosts must keep their clocks
in step (NTP), as they must for the nudge leases anyway.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time as clock_time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Connection, Engine, Float, Table, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, SQLModel

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


class SendBudgetRow(SQLModel, table=True):
    """The next free send slot of one bot (seconds since the epoch)."""

    __tablename__ = "send_budget"

    bot: str = Field(primary_key=True, max_length=32)
    next_slot: float = Field(default=0.0, sa_type=Float)


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
            with self.engine.begin() as db:
                end = self._advance(db, now, (replies + count) * self.interval)
        except Exception:
            with self._lock:
                self._replies += replies
            raise
        start = end - count * self.interval
        return [start + i * self.interval for i in range(count)]

    def back_off(self, seconds: float) -> None:
        """Telegram said 429 with `retry_after`: no process sends before it has passed."""
        until = self.clock() + seconds
        self.paused_until = max(self.paused_until, until)
        with self.engine.begin() as db:
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
            .values(bot=self.bot, next_slot=0.0)
            .on_conflict_do_nothing(index_elements=["bot"])
        )

    def next_slot(self) -> float:
        with self.engine.connect() as db:
            value = db.execute(
                select(send_budget.c.next_slot).where(send_budget.c.bot == self.bot)
            ).scalar()
        return 0.0 if value is None else float(value)


Runner = Callable[..., Awaitable[Any]]


async def _in_thread(function: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(function, *args)


class SharedPacer:
    """Paces one process's nudges inside the bot's shared budget, for the life of the process:
    one nudge per claimed slot, and at most one message a second to any one chat.

    `wait(chat_id)` returns when a nudge to `chat_id` may go out. Slots are claimed in runs of
    CLAIM_SECONDS; the next run is claimed while the current one is being used. `runner` runs
    the synchronous claim (in a thread by default; on the event loop for SQLite)."""

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
