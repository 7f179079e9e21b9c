"""The thin edge both chats share: load a user, run the pure coach, persist, all in one
transaction per event. Adapters render the replies and carry out timers."""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.db import (
    StaleUser,
    StoredUser,
    coachee_from_document,
    find_user,
    forget_user,
    get_or_create_user,
    load_coachee,
    make_async_engine,
    record_session,
    run_on_loop,
    save_user,
    unit_of_work,
    users,
)
from conversations.coach import prompt, transition
from conversations.events import Choose, Event, HoldTimeUp, NudgeDue
from conversations.flow import Outcome
from conversations.nudging import next_nudge
from conversations.replies import Choice, ForgetUser, RecordSession, Reply
from conversations.state import Coachee, Step
from data.programme import Programme
from schedules.local_time import local_date

Clock = Callable[[], datetime]
P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")
# What a step on a user's row returns: its result, and the row as now stored (None: deleted).
Applied = tuple[Outcome, StoredUser | None]
Pressed = tuple[tuple[Choice, Reply, Outcome] | None, StoredUser | None]


# --- the shared step (this chat and the nudge tick): save the new state, reschedule the nudge


def save_and_reschedule(
    db: Connection, user: StoredUser, coachee: Coachee, *, now: datetime, keep_due: bool = True
) -> None:
    """Write the coach's new view of the user and recompute `users.next_nudge_at` from it.

    A nudge that fell due but that no tick has claimed yet stays due when the new state still
    wants it: a message at 07:30:05 about something else must not cancel the 07:30 nudge (the
    next tick, a few seconds later, sends it). Training, pausing or a new nudge time do cancel
    it, since the pure schedule then no longer lands on that instant. The tick itself passes
    `keep_due=False`: once the coach has handled the nudge, the due time is spent.
    """
    pending = user.next_nudge_at
    user.coachee = coachee
    zone = coachee.profile.zone
    keep = (
        keep_due
        and pending is not None
        and pending <= now
        and next_nudge(coachee, pending, local_date(pending, zone)) == pending
    )
    if not keep:
        user.next_nudge_at = next_nudge(coachee, now, local_date(now, zone))
    save_user(db, user)


def system_clock() -> datetime:
    return datetime.now(UTC)


# How many users' rows one process keeps a copy of (`CoachService`): one per user in the middle
# of a conversation, 16 to 41 kB each (a coachee early in a session, near its end), so 80 MB at
# most. Above the number of users talking at once: each copy is dropped least recently used
# first, so with more users than copies taking turns, none would be found again.
KNOWN_USERS = 2000


@dataclass(frozen=True)
class PendingHold:
    """A running set whose timer must run (again) after a start-up: wake it at `due_at`."""

    platform: str
    chat_id: str
    step_no: int
    due_at: datetime


class CoachService:
    """Runs events through the coach for any platform's users, persisting each in one go."""

    def __init__(
        self,
        engine: Engine,
        programme: Programme,
        clock: Clock = system_clock,
        *,
        on_loop: bool = False,
    ):
        self.engine = engine
        self.programme = programme
        self.clock = clock
        # An SQLite transaction here takes well under a millisecond and has no network to wait
        # for: handing it to a thread costs more than it saves, so it runs on the event loop.
        self.inline = engine.dialect.name == "sqlite"
        # PostgreSQL's round trips must not stall every other chat: they run in a worker
        # thread, or with `on_loop` are awaited on the event loop (psycopg's async connection).
        # Off by default: measured on 2 cores, psycopg's async round trips cost more CPU per
        # update than the thread hop they save (DATABASE_ON_LOOP, README).
        self.on_loop = on_loop and not self.inline
        self._loop_engine: tuple[asyncio.AbstractEventLoop, AsyncEngine] | None = None
        # The rows this process last wrote for users in the middle of a conversation: their
        # next message is handled without reading and parsing the row again. A copy is only
        # trusted by the write that follows it, which names the copy's version (`save_user`):
        # if anything else wrote the row since (another process, the nudge tick, a block),
        # that write changes nothing and the event is handled again from the row as it is.
        self._known: OrderedDict[tuple[str, str], StoredUser] = OrderedDict()
        self._known_lock = threading.Lock()  # PostgreSQL's calls run in worker threads

    async def call(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one of the service's synchronous store calls from async code: at once on
        SQLite; on PostgreSQL on the event loop, its round trips awaited (`run_on_loop`), or in
        a worker thread without `on_loop`."""
        if self.inline:
            return function(*args, **kwargs)
        if not self.on_loop:
            return await asyncio.to_thread(function, *args, **kwargs)
        return await run_on_loop(self.loop_engine(), self.engine, function, *args, **kwargs)

    def loop_engine(self) -> AsyncEngine:
        """The async engine of the running event loop (psycopg's async connections belong to
        the loop that opened them), made on first use."""
        loop = asyncio.get_running_loop()
        if self._loop_engine is None or self._loop_engine[0] is not loop:
            self._loop_engine = (loop, make_async_engine(self.engine.url))
        return self._loop_engine[1]

    async def close(self) -> None:
        """Close the event loop's database connections (at shutdown, on that loop)."""
        if self._loop_engine is not None:
            _, engine = self._loop_engine
            self._loop_engine = None
            await engine.dispose()

    def handle(
        self, platform: str, chat_id: str, event: Event, *, update_id: int | None = None
    ) -> Outcome:
        """Handle one event for one user in one transaction; return what to say and do.

        `update_id` is the platform's number for the incoming message, where it has one. An
        update seen before (redelivered after a crash between our commit and the platform
        hearing of it) changes nothing: the waiting question is shown again instead."""

        def apply(db: Connection, user: StoredUser, now: datetime, checked: bool) -> Applied:
            return self._apply(db, user, event, now, update_id, checked=checked)

        outcome = self._on_row(platform, chat_id, apply, create=True)
        assert outcome is not None
        return outcome

    def press(
        self, platform: str, chat_id: str, choice_id: str, step_no: int | None
    ) -> tuple[Choice, Reply, Outcome] | None:
        """A pressed button, checked against the question waiting in the database and, when
        it is one of that question's choices, handled as `Choose`, in the same transaction.
        None (and nothing changed) for a stale, replayed or unknown button."""

        def press(db: Connection, user: StoredUser, now: datetime, checked: bool) -> Pressed:
            return self._press(db, user, choice_id, step_no, now, checked=checked)

        return self._on_row(platform, chat_id, press, create=False)

    def _on_row(
        self,
        platform: str,
        chat_id: str,
        step: Callable[[Connection, StoredUser, datetime, bool], tuple[R, StoredUser | None]],
        *,
        create: bool,
    ) -> R | None:
        """Run `step` in one transaction on the copy kept of the user's row (`checked`
        False: it raises `StaleUser` before writing anything if the copy is out of date) or
        else on the row itself, read and locked (and with `create`, made first if new). None
        for a user with no row and no `create`."""
        known = self._take(platform, chat_id)
        with unit_of_work(self.engine) as db:
            now = self.clock()
            if known is not None:
                try:
                    result, user = step(db, known, now, False)
                except StaleUser:
                    known = None
            if known is None:
                if create:
                    fresh = get_or_create_user(db, platform, chat_id, now=now)
                else:
                    found = find_user(db, platform, chat_id, lock=True)
                    if found is None:
                        return None
                    fresh = found
                result, user = step(db, fresh, now, True)
        self._keep(user)
        return result

    def _press(
        self,
        db: Connection,
        user: StoredUser,
        choice_id: str,
        step_no: int | None,
        now: datetime,
        *,
        checked: bool = True,
    ) -> Pressed:
        waiting = prompt(user.coachee, now=now, programme=self.programme)
        choice = None
        if waiting is not None and (step_no is None or step_no == waiting.step_no):
            choice = next((c for c in waiting.choices if c.id == choice_id), None)
        if waiting is None or choice is None:
            if not checked:
                raise StaleUser("a copy turned a press down: ask the row itself")
            return None, user
        event = Choose(choice.id, waiting.step_no)
        outcome, kept = self._apply(db, user, event, now, None, checked=checked)
        return (choice, waiting, outcome), kept

    def _apply(
        self,
        db: Connection,
        user: StoredUser,
        event: Event,
        now: datetime,
        update_id: int | None,
        *,
        checked: bool = True,
    ) -> Applied:
        """Run the event and write the result, with `user` as read (`checked`) or a copy kept
        from an earlier write, which `save_user` checks: until that write has gone through,
        nothing is written or answered from the copy alone (else `StaleUser`). Returns the
        outcome and the user as now stored (None once forgotten)."""
        coachee = load_coachee(db, user)
        if update_id is not None:
            if user.last_update_id is not None and update_id <= user.last_update_id:
                if not checked:
                    raise StaleUser("a copy saw a repeated update: ask the row itself")
                waiting = prompt(coachee, now=now, programme=self.programme)
                return Outcome(coachee, (waiting,) if waiting else ()), user
            user.last_update_id = update_id
        outcome = transition(coachee, event, now=now, programme=self.programme)
        if any(isinstance(effect, ForgetUser) for effect in outcome.effects):
            if not checked:
                raise StaleUser("a copy asked to forget: ask the row itself")
            forget_user(db, user.id)
            return outcome, None
        if not isinstance(event, NudgeDue | HoldTimeUp):
            user.active = True  # they wrote to us, so they have not blocked the bot
            user.last_seen_at = now
        save_and_reschedule(db, user, outcome.state, now=now)
        for effect in outcome.effects:
            if isinstance(effect, RecordSession):
                record_session(db, user.id, effect.record)
        return outcome, user

    def _take(self, platform: str, chat_id: str) -> StoredUser | None:
        """The copy of the user's row, if kept; taken out, so a failed event leaves none."""
        with self._known_lock:
            return self._known.pop((platform, chat_id), None)

    def _keep(self, user: StoredUser | None) -> None:
        """Keep a committed row while its user is in a conversation (their next message is
        likely within minutes), the least recently used dropped past `KNOWN_USERS`."""
        if user is None or user.coachee.flow.step is Step.IDLE:
            return
        with self._known_lock:
            self._known[user.platform, user.chat_id] = user
            while len(self._known) > KNOWN_USERS:
                self._known.popitem(last=False)

    def mark_inactive(self, platform: str, chat_id: str) -> None:
        """The user blocked the bot: no more nudges until they write to us again."""
        with unit_of_work(self.engine) as db:
            db.execute(
                update(users)
                .where(users.c.platform == platform, users.c.chat_id == chat_id)
                .values(active=False, next_nudge_at=None, version=users.c.version + 1)
            )

    def state_of(self, platform: str, chat_id: str) -> Coachee | None:
        with unit_of_work(self.engine) as session:
            user = find_user(session, platform, chat_id)
            return None if user is None else load_coachee(session, user)

    def waiting_question(self, platform: str, chat_id: str) -> Reply | None:
        coachee = self.state_of(platform, chat_id)
        if coachee is None:
            return None
        return prompt(coachee, now=self.clock(), programme=self.programme)

    def pending_holds(self, platform: str) -> list[PendingHold]:
        """Holds that were running when the process stopped: their timers must be rebuilt."""
        holds: list[PendingHold] = []
        with unit_of_work(self.engine) as db:
            rows = db.execute(
                select(users.c.chat_id, users.c.state).where(
                    users.c.platform == platform, users.c.step == Step.HOLDING.value
                )
            ).all()
        for chat_id, document in rows:
            flow = coachee_from_document(document).flow
            session_state = flow.session
            if session_state is None:
                continue
            if session_state.phase is None:
                # Stored before sets ran by themselves: wake it now, and it starts over.
                due = self.clock()
            elif session_state.phase_ends_at is None:
                continue  # paused: nothing to wake until the user taps Go on
            else:
                due = session_state.phase_ends_at
            holds.append(PendingHold(platform, chat_id, flow.step_no, due))
        return holds
