"""The nudge tick: claim the users whose nudge is due, then send what was claimed, paced.

A scheduler (Telegram's JobQueue, or the terminal chat's loop) calls `run_nudge_tick` every few
seconds. The database is the only source of truth: no per-user jobs live in memory.

1. Claim (one transaction). Users of the platform with `active` and `next_nudge_at <= now`,
   oldest first, at most `batch`, locked with FOR UPDATE SKIP LOCKED so several processes on one
   PostgreSQL database share the work (SQLite has one writer at a time anyway). For each:
   * due longer ago than `grace` (the bot was down), or due on an earlier local day, or now in
     the user's quiet hours: no nudge; `next_nudge_at` rolls forward to the next one at or after
     now (`still_on_time`);
   * else the pure coach handles `NudgeDue` (it marks `last_nudged_on`, so that day is never
     claimed again), the new state and next nudge time are saved, and the replies go into the
     outbox. State and outbox row commit together or not at all.
2. Send. One process at a time sends (`Pace.sending`: the Telegram bot elects its sender in the
   send_budget row, bot/store/send_budget.py; the terminal chat and tests just send). Every
   process claims; the sender sends every process's rows, and the others try to take over
   every TRY_EVERY seconds while the outbox has rows, so a killed sender is replaced within
   seconds. Pending outbox rows are leased a chunk at a time (`claimed_until`: the sender's
   turn, or a short LEASE; `attempts + 1`), delivered outside any transaction, and settled
   right after each delivery: SENT marks `sent_at`; BLOCKED marks the user inactive and drops
   their pending rows; LATER (flood control) frees the row for this same tick, after the
   bot's pause; FAILED puts the row off for a later tick (RETRY_AFTER), and after
   MAX_ATTEMPTS the row is given up. Rows no longer on time (by the same `still_on_time`
   rule, counted from when the row was queued), rows for inactive users and rows whose
   question the user has already moved past are dropped unsent. Sends are paced by the
   pacer (the Telegram bot: the bot's shared budget at NUDGE_SEND_RATE and 1 a second per
   chat, then a send window that no jitter can push past the limit, bot/nudges/send_window.py).

What a crash does:
* between claim and send: the rows wait in the outbox and the next tick (after a restart) sends
  each once. The users are not claimed again: their state already says "nudged today".
* while a row is leased but before its delivery: the next sender takes it once the dead
  sender's turn (seconds) or the row's LEASE has run out; nothing is lost.
* after a delivery succeeded but before `sent_at` is committed: the row is sent again once the
  lease runs out, so that user gets the nudge twice. No outbox can close this window without the
  platform's help (Telegram has no idempotency key for sendMessage); it is kept to one small
  UPDATE right after the delivery returns, with no other await in between.
tests/test_nudge_crash.py kills a real process (SIGKILL) at the first two points.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import math
import time as clock_time
from collections.abc import Awaitable, Callable, Collection
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from bot.delivery import Delivery, DeliveryResult, may_start
from bot.service import CoachService, save_and_reschedule
from bot.store.db import (
    StoredUser,
    load_coachee,
    select_users,
    set_next_nudge,
    unit_of_work,
    user_from_row,
    users,
)
from bot.store.outbox import outbox, payload_to_replies, question_step_no, replies_to_payload
from conversations.coach import transition
from conversations.events import NudgeDue
from conversations.nudging import next_nudge
from conversations.replies import Reply
from schedules.local_time import local_date
from schedules.nudges import NudgePlan

log = logging.getLogger(__name__)

DEFAULT_GRACE = timedelta(hours=2)
DEFAULT_BATCH = 500
# Telegram allows about 30 messages a second overall and 1 a second per chat; stay below.
DEFAULT_RATE_PER_SECOND = 25.0
PER_CHAT_SECONDS = 1.0
MAX_ATTEMPTS = 5
# A delivery that failed (network, server) is tried again this much later, by a later tick.
RETRY_AFTER = timedelta(seconds=20)
# Without a shared sender's turn (the terminal chat, tests): how long one process may hold a row
# it is sending before another may take it over, so a killed process's rows go back to the pool
# this soon. A row is leased at most two chunks before its send; a process sends nothing whose
# lease is within LEASE_MARGIN of its end. (The Telegram bot leases rows for its sender's turn
# instead: see bot/store/send_budget.py.)
LEASE = timedelta(seconds=6)
LEASE_MARGIN = timedelta(seconds=2)
# While the outbox has rows someone may send within this long, a tick that may keep at it
# (`wait_for_leases`) does not end: it tries to become the sender again every TRY_EVERY.
SOON = timedelta(seconds=10)
TRY_EVERY = 0.25
# Sent rows are kept this long (to see what went out), then deleted: they hold message text.
KEEP_SENT = timedelta(days=2)
_SEND_CHUNK = 25

WeekSummary = Callable[[Connection, StoredUser, date], str | None]
_reports_broken_logged = False


# --- reports -------------------------------------------------------------------------------------


@dataclass
class TickReport:
    """What one tick did; counts only, nothing about who."""

    looked_at: int = 0  # due users a claim read (a full batch means: claim again)
    claimed: int = 0  # due users the coach handled (some need no message: trained, in a session)
    skipped_late: int = 0  # too late to send (see still_on_time): rolled to their next nudge
    queued: int = 0  # outbox rows written by this tick's claim
    sent: int = 0
    blocked: int = 0
    failed: int = 0  # deliveries that failed this tick (retried later, or given up)
    dropped: int = 0  # pending rows not sent: too old, user inactive or moved on
    expired: int = 0  # leases that ran out before their send: the rows go out later

    def __bool__(self) -> bool:
        return any(vars(self).values())

    def add(self, other: TickReport) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)


# --- pacing -------------------------------------------------------------------------------------


class Turn(Protocol):
    """The right to send the outbox's nudges, for a while."""

    @property
    def held(self) -> bool:
        """False once another process has taken over: stop leasing and sending."""
        ...

    def lease_until(self, now: datetime) -> datetime:
        """Until when a row leased `now` is this sender's."""
        ...

    def may_send(self, leased_until: datetime, now: datetime) -> bool:
        """Whether a row leased until `leased_until` may start its delivery `now`."""
        ...


class LocalTurn:
    """Every process may send; rows are fenced by their own short LEASE."""

    held = True

    def lease_until(self, now: datetime) -> datetime:
        return now + LEASE

    def may_send(self, leased_until: datetime, now: datetime) -> bool:
        return now < leased_until - LEASE_MARGIN


class Pace(Protocol):
    async def wait(self, chat_id: str) -> float:
        """Wait until a message to `chat_id` may go out; return the seconds waited."""
        ...

    def sending(self) -> AbstractAsyncContextManager[Turn | None]:
        """A turn as the sender (None while another process has it), for the block's life."""
        ...


class _LocalSending:
    def sending(self) -> AbstractAsyncContextManager[Turn | None]:
        return nullcontext(LocalTurn())


class NoPacing(_LocalSending):
    """Send at once (tests, and the terminal chat, which has no flood limits)."""

    async def wait(self, chat_id: str) -> float:
        return 0.0


class Pacer(_LocalSending):
    """At most `rate_per_second` sends overall and one per `per_chat_seconds` for each chat.

    Each caller reserves the next free slot, first come first served, then sleeps until it. The
    clock and the sleep are injectable, so tests check the computed waits without real time.
    """

    def __init__(
        self,
        rate_per_second: float = DEFAULT_RATE_PER_SECOND,
        per_chat_seconds: float = PER_CHAT_SECONDS,
        *,
        clock: Callable[[], float] = clock_time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        self.interval = 1.0 / rate_per_second
        self.per_chat_seconds = per_chat_seconds
        self._clock = clock
        self._sleep = sleep
        self._next_any = -math.inf
        self._next_by_chat: dict[str, float] = {}

    def reserve(self, chat_id: str) -> float:
        """Book the next slot for `chat_id`; return how many seconds from now it is."""
        now = self._clock()
        slot = max(now, self._next_any, self._next_by_chat.get(chat_id, -math.inf))
        self._next_any = slot + self.interval
        self._next_by_chat[chat_id] = slot + self.per_chat_seconds
        if len(self._next_by_chat) > 10_000:
            self._next_by_chat = {c: t for c, t in self._next_by_chat.items() if t > now}
        return slot - now

    async def wait(self, chat_id: str) -> float:
        delay = self.reserve(chat_id)
        if delay > 0:
            await self._sleep(delay)
        return delay


# --- the tick -----------------------------------------------------------------------------------


async def run_nudge_tick(
    service: CoachService,
    delivery: Delivery,
    *,
    now: datetime,
    grace: timedelta,
    batch: int = DEFAULT_BATCH,
    rate_per_second: float = DEFAULT_RATE_PER_SECOND,
    pacer: Pace | None = None,
    chat_ids: Collection[str] | None = None,
    wait_for_leases: bool = False,
) -> TickReport:
    """Claim what is due at `now` for `delivery.platform`, then send every pending nudge.

    While a claim comes back full (`batch` users), more may be due: the tick claims again at
    once, while the nudges already queued are being sent, instead of waiting for the next tick.
    The tick ends when nothing more is due and the outbox has nothing left to send.
    `chat_ids` limits the tick to those chats (the terminal chat has one user).
    With `wait_for_leases` (real time only: the Telegram bot), the tick does not end while the
    outbox has rows someone may send soon: it tries every TRY_EVERY seconds to become the
    sender, so it takes over within seconds from a sender that died or is done.
    """
    report = TickReport()
    claims = _Claims()

    async def claim_all() -> None:
        try:
            while True:
                # One synchronous transaction over up to `batch` users (CoachService.call).
                part = await service.call(
                    claim_due,
                    service,
                    delivery.platform,
                    now=now,
                    grace=grace,
                    batch=batch,
                    chat_ids=chat_ids,
                )
                report.add(part)
                claims.more()
                if part.looked_at < batch:
                    return
        finally:
            claims.finish()

    claiming = asyncio.ensure_future(claim_all())
    pace = pacer if pacer is not None else Pacer(rate_per_second)
    try:
        await claims.wait()  # the first claim, so the sender finds its rows
        while True:
            async with pace.sending() as turn:
                if turn is not None:
                    await send_pending(
                        service,
                        delivery,
                        now=now,
                        grace=grace,
                        pacer=pace,
                        chat_ids=chat_ids,
                        report=report,
                        claims=claims,
                        turn=turn,
                    )
            if not wait_for_leases:
                break
            # Another process sends, or holds rows (a killed sender's, until its turn or lease
            # runs out): keep trying while there is something to send soon.
            if claims.done and not await service.call(
                _anything_soon, service, delivery.platform, chat_ids
            ):
                break
            await asyncio.sleep(TRY_EVERY)
    finally:
        await claiming
    if report:
        log.info("nudge tick: %s", report)
    return report


class _Claims:
    """How the claiming half of a tick tells the sending half that rows were queued."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.done = False

    def more(self) -> None:
        self._event.set()

    def finish(self) -> None:
        self.done = True
        self._event.set()

    async def wait(self) -> None:
        """Until the next claim has committed (or claiming is over)."""
        await self._event.wait()
        self._event.clear()


def claim_due(
    service: CoachService,
    platform: str,
    *,
    now: datetime,
    grace: timedelta,
    batch: int = DEFAULT_BATCH,
    chat_ids: Collection[str] | None = None,
) -> TickReport:
    """Step 1: in one transaction, run the coach for each due user and queue the nudges."""
    report = TickReport()
    week_summary = _week_summary_function()
    query = (
        select_users()
        .where(
            users.c.platform == platform,
            users.c.active.is_(True),
            users.c.next_nudge_at <= now,
        )
        .order_by(users.c.next_nudge_at, users.c.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    if chat_ids is not None:
        query = query.where(users.c.chat_id.in_(list(chat_ids)))
    queued: list[dict[str, Any]] = []
    with unit_of_work(service.engine) as db:
        for row in db.execute(query).all():
            report.looked_at += 1
            user_id = row.id
            try:
                with db.begin_nested():
                    user = user_from_row(row)
                    _claim_one(service, db, user, now, grace, week_summary, report, queued)
            except SQLAlchemyError:
                raise  # the database's trouble: roll the whole claim back, the next tick retries
            except Exception:
                # One broken user must not hold up everyone else's nudges, tick after tick.
                log.exception(
                    "nudge claim failed for user id %s; no nudges until they write", user_id
                )
                set_next_nudge(db, user_id, None)
        if queued:
            # One multi-row INSERT; it commits with the users' new states or not at all.
            db.execute(insert(outbox), queued)
    return report


def _claim_one(
    service: CoachService,
    db: Connection,
    user: StoredUser,
    now: datetime,
    grace: timedelta,
    week_summary: WeekSummary | None,
    report: TickReport,
    queued: list[dict[str, Any]],
) -> None:
    coachee = load_coachee(db, user)
    today = local_date(now, coachee.profile.zone)
    assert user.next_nudge_at is not None
    profile = coachee.profile
    quiet = (profile.quiet_start, profile.quiet_end)
    if not still_on_time(profile.zone, quiet, user.next_nudge_at, now, grace):
        set_next_nudge(db, user.id, next_nudge(coachee, now, today))
        report.skipped_late += 1
        return
    summary = _summary(db, user, today, week_summary)
    outcome = transition(coachee, NudgeDue(summary), now=now, programme=service.programme)
    save_and_reschedule(db, user, outcome.state, now=now, keep_due=False)
    report.claimed += 1
    if outcome.replies:
        queued.append(
            {
                "user_id": user.id,
                "platform": user.platform,
                "chat_id": user.chat_id,
                "payload": replies_to_payload(outcome.replies),
                "created_at": now,
                "attempts": 0,
            }
        )
        report.queued += 1


def still_on_time(
    zone: str, quiet: tuple[time, time], since: datetime, now: datetime, grace: timedelta
) -> bool:
    """Whether a nudge due (or queued) at `since` may still go out at `now`: within the grace
    window, on the same local day (a 23:00 nudge sent after midnight would count as the new
    day's), and not in quiet hours (a restart at 22:30 must not send the 21:30 nudge)."""
    if now - since > grace:
        return False
    tz = ZoneInfo(zone)
    local_now = now.astimezone(tz)
    if local_now.date() != since.astimezone(tz).date():
        return False
    hours = NudgePlan(nudge_time=quiet[1], zone=zone, quiet_start=quiet[0], quiet_end=quiet[1])
    return not hours.in_quiet_hours(local_now.time())


def _week_summary_function() -> WeekSummary | None:
    """`bot.reports.progress.week_summary(session, user, today)` when that module provides it."""
    global _reports_broken_logged
    try:
        module = importlib.import_module("bot.reports.progress")
    except ModuleNotFoundError as error:
        if error.name == "bot.reports.progress":
            return None
        broken: Exception = error
    except Exception as error:  # a broken summary must not stop everyone's nudges
        broken = error
    else:
        found = getattr(module, "week_summary", None)
        return found if callable(found) else None
    if not _reports_broken_logged:
        log.error(
            "bot.reports.progress fails to import; nudging without week summaries",
            exc_info=broken,
        )
        _reports_broken_logged = True
    return None


def _summary(
    db: Connection, user: StoredUser, today: date, week_summary: WeekSummary | None
) -> str | None:
    if week_summary is None:
        return None
    try:
        with db.begin_nested():
            return week_summary(db, user, today)
    except Exception:
        log.exception("week summary failed for user id %s; nudging without it", user.id)
        return None


# --- sending ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Leased:
    id: int
    chat_id: str
    replies: tuple[Reply, ...]
    attempts: int
    leased_until: datetime


async def send_pending(
    service: CoachService,
    delivery: Delivery,
    *,
    now: datetime,
    grace: timedelta,
    pacer: Pace,
    chat_ids: Collection[str] | None = None,
    report: TickReport | None = None,
    claims: _Claims | None = None,
    turn: Turn | None = None,
) -> TickReport:
    """Step 2: deliver every pending outbox row of the platform once, paced, and settle it.

    Rows are leased a chunk at a time, for `turn` (a LocalTurn by default); the next chunk is
    leased while the current one is being sent, so the pacer never waits on the database. With
    `claims`, the claiming half of the tick is still queueing rows: the sender waits for them
    instead of ending. After a pass over the outbox that leased anything, another pass picks up
    rows whose lease ran out meanwhile (a killed process's). A row is delivered at most once per
    tick, but one handed back unsent (its lease ran short, or flood control) goes again in the
    same tick. Sending stops when the turn is lost."""
    report = report if report is not None else TickReport()
    turn = turn if turn is not None else LocalTurn()
    await service.call(
        _prune, service, delivery.platform, now=now, grace=grace, chat_ids=chat_ids, report=report
    )
    after = 0
    tried: set[int] = set()
    handed_back: list[int] = []  # rows this tick leased but did not deliver: they go again
    leased_this_pass = False
    sending: asyncio.Future[Any] | None = None
    try:
        while turn.held:
            after_chunk, leased = await service.call(
                _lease,
                service,
                delivery.platform,
                now=now,
                grace=grace,
                after=after,
                chat_ids=chat_ids,
                report=report,
                skip=tried,
                turn=turn,
            )
            if after_chunk == 0:
                after = 0
                if leased_this_pass:
                    leased_this_pass = False
                    continue
                if sending is not None:
                    await sending
                    sending = None
                if handed_back:
                    tried.difference_update(handed_back)
                    handed_back.clear()
                    leased_this_pass = True  # one more pass, even if those are not free yet
                    continue
                if claims is not None and not claims.done:
                    await claims.wait()
                    continue
                break
            after = after_chunk
            if leased:
                leased_this_pass = True
                tried.update(item.id for item in leased)
            chunk = asyncio.gather(
                *(
                    _send_one(service, delivery, item, now, pacer, report, turn, handed_back)
                    for item in leased
                )
            )
            if sending is not None:
                await sending
            sending = chunk
    finally:
        if sending is not None:
            await sending
    return report


def _anything_soon(service: CoachService, platform: str, chat_ids: Collection[str] | None) -> bool:
    """Whether the outbox has a row someone may send within SOON: free, or leased by a sender
    (alive, or dead and about to lose it). Rows put off after a failure do not count."""
    with unit_of_work(service.engine) as db:
        found = db.execute(
            select(outbox.c.id)
            .where(
                *_pending(platform, chat_ids),
                or_(
                    outbox.c.claimed_until.is_(None),
                    outbox.c.claimed_until <= service.clock() + SOON,
                ),
            )
            .limit(1)
        ).first()
    return found is not None


def _pending(platform: str, chat_ids: Collection[str] | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        outbox.c.platform == platform,
        outbox.c.sent_at.is_(None),
    ]
    if chat_ids is not None:
        conditions.append(outbox.c.chat_id.in_(list(chat_ids)))
    return conditions


def _prune(
    service: CoachService,
    platform: str,
    *,
    now: datetime,
    grace: timedelta,
    chat_ids: Collection[str] | None,
    report: TickReport,
) -> None:
    with unit_of_work(service.engine) as db:
        expired = db.execute(
            delete(outbox).where(*_pending(platform, chat_ids), outbox.c.created_at < now - grace)
        )
        report.dropped += cast("CursorResult[Any]", expired).rowcount or 0
        db.execute(
            delete(outbox).where(outbox.c.platform == platform, outbox.c.sent_at < now - KEEP_SENT)
        )


def _lease(
    service: CoachService,
    platform: str,
    *,
    now: datetime,
    grace: timedelta,
    after: int,
    chat_ids: Collection[str] | None,
    report: TickReport,
    skip: Collection[int] = (),
    turn: Turn | None = None,
) -> tuple[int, list[_Leased]]:
    """Take the next few pending rows after id `after` for this process; return the last id
    looked at (0 when there were none) and the rows to deliver. The lease runs from the
    service's clock now (a tick may send for minutes): LEASE later, another process may take
    the rows over, so this one sends none of them after that (see `_send_one`)."""
    leased_at = service.clock()
    until = (turn if turn is not None else LocalTurn()).lease_until(leased_at)
    query = (
        select(
            outbox.c.id,
            outbox.c.chat_id,
            outbox.c.payload,
            outbox.c.created_at,
            outbox.c.attempts,
            users.c.active,
            users.c.state,
        )
        .join(users, users.c.id == outbox.c.user_id)
        .where(
            *_pending(platform, chat_ids),
            outbox.c.id > after,
            or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until <= leased_at),
        )
        .order_by(outbox.c.id)
        .limit(_SEND_CHUNK)
        .with_for_update(skip_locked=True, of=outbox)
    )
    leased: list[_Leased] = []
    dropped: list[int] = []
    last = 0
    with unit_of_work(service.engine) as db:
        for row in db.execute(query).all():
            last = row.id
            if row.id in skip:
                continue  # tried once this tick already: a later tick tries again
            replies = _replies(row.id, row.payload)
            asked = question_step_no(replies) if replies else None
            document = row.state or {}
            step_no = document.get("flow", {}).get("step_no", 0)
            if (
                not replies
                or not row.active
                or (asked is not None and asked != step_no)
                or not _still_sendable(row.created_at, document.get("profile", {}), now, grace)
            ):
                dropped.append(row.id)
                continue
            leased.append(_Leased(row.id, row.chat_id, replies, row.attempts + 1, until))
        if dropped:
            db.execute(delete(outbox).where(outbox.c.id.in_(dropped)))
            report.dropped += len(dropped)
        if leased:
            db.execute(
                update(outbox)
                .where(outbox.c.id.in_([item.id for item in leased]))
                .values(attempts=outbox.c.attempts + 1, claimed_until=until)
            )
    return last, leased


def _still_sendable(
    created_at: datetime, profile: dict[str, Any], now: datetime, grace: timedelta
) -> bool:
    """`still_on_time` with the zone and quiet hours read straight from the user's document."""
    try:
        zone = str(profile.get("zone", "UTC"))
        quiet = (
            time.fromisoformat(profile.get("quiet_start", "22:00:00")),
            time.fromisoformat(profile.get("quiet_end", "07:00:00")),
        )
    except (TypeError, ValueError):
        return now - created_at <= grace
    return still_on_time(zone, quiet, created_at, now, grace)


def _replies(row_id: int, payload: dict[str, Any]) -> tuple[Reply, ...] | None:
    try:
        return payload_to_replies(payload)
    except ValueError:
        log.warning("outbox message %s has an unreadable payload; dropped", row_id)
        return None


async def _send_one(
    service: CoachService,
    delivery: Delivery,
    item: _Leased,
    now: datetime,
    pacer: Pace,
    report: TickReport,
    turn: Turn,
    handed_back: list[int],
) -> None:
    await pacer.wait(item.chat_id)

    def still_ours() -> bool:
        return turn.may_send(item.leased_until, service.clock())

    if still_ours():
        # The platform asks again right before its request leaves (a chat lock or the send
        # window may hold the delivery a little longer).
        token = may_start.set(still_ours)
        try:
            result = await delivery.deliver(item.chat_id, item.replies)
        except Exception as error:  # an adapter should return FAILED; never stop the tick
            log.warning("outbox message %s: delivery raised %s", item.id, type(error).__name__)
            result = DeliveryResult.FAILED
        finally:
            may_start.reset(token)
    else:
        result = DeliveryResult.TOO_LATE
    if result is DeliveryResult.TOO_LATE:
        # Waited so long (a 429 pause, a busy machine) that the lease or turn may pass
        # mid-send: leave the row; whoever leases it next sends it, and only they do (this
        # tick too, once the lease is over).
        report.expired += 1
        handed_back.append(item.id)
        return
    # Settle at once, with no await in between: this is the window where a crash doubles a send.
    _settle(service, delivery.platform, item, result, now, report)
    if result is DeliveryResult.LATER:
        handed_back.append(item.id)


def _settle(
    service: CoachService,
    platform: str,
    item: _Leased,
    result: DeliveryResult,
    now: datetime,
    report: TickReport,
) -> None:
    row = outbox.c.id == item.id
    if result is DeliveryResult.SENT:
        with unit_of_work(service.engine) as db:
            db.execute(update(outbox).where(row).values(sent_at=now, claimed_until=None))
        report.sent += 1
    elif result is DeliveryResult.BLOCKED:
        service.mark_inactive(platform, item.chat_id)
        with unit_of_work(service.engine) as db:
            db.execute(delete(outbox).where(*_pending(platform, [item.chat_id])))
        report.blocked += 1
    else:
        report.failed += 1
        with unit_of_work(service.engine) as db:
            if item.attempts >= MAX_ATTEMPTS:
                log.warning("outbox message %s given up after %d attempts", item.id, item.attempts)
                db.execute(delete(outbox).where(row))
            else:
                # Flood control: free at once (the pause is the pacer's); other faults: a
                # later tick.
                later = None if result is DeliveryResult.LATER else service.clock() + RETRY_AFTER
                db.execute(update(outbox).where(row).values(claimed_until=later))
