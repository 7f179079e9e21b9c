"""The nudge tick with a clock that moves only when the test moves it: a simulated week for a
few hundred users (SQLite file), then on SQLite and PostgreSQL the grace window after downtime,
blocked and failing deliveries, stale and expired outbox rows, the weekly summary hook, one
transaction per claim; and the pacer's arithmetic."""

from __future__ import annotations

import sys
import types
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.exc import OperationalError

import bot.nudges.tick as nudge_tick
from bot.delivery import DeliveryResult, may_start
from bot.nudges.tick import (
    LEASE,
    LEASE_MARGIN,
    MAX_ATTEMPTS,
    RETRY_AFTER,
    NoPacing,
    Pacer,
    TickReport,
    claim_due,
    run_nudge_tick,
    send_pending,
)
from bot.service import CoachService, save_and_reschedule
from bot.store.db import StoredUser, find_user, load_coachee, record_session, unit_of_work
from conversations.events import Choose, Text
from conversations.replies import RecordSession, Reply
from conversations.state import Coachee
from schedules.nudges import NudgePlan
from tests.coach_player import CoachPlayer
from tests.nudge_helpers import (
    GRACE,
    NO_QUIET,
    PLATFORM,
    Delivered,
    RecordingDelivery,
    SimClock,
    add_users,
    local_dates,
    onboarded,
    outbox_rows,
    service_for,
    user_row,
)

BERLIN = "Europe/Berlin"
ZONES = (BERLIN, "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC")
# 23:00 and 06:00 fall in the default quiet hours; 02:30 is skipped (spring) or repeated
# (autumn) by Berlin's DST change and in most users' quiet hours.
NUDGE_TIMES = ("07:30", "23:00", "02:30", "12:15", "18:45", "21:55", "06:00", "09:00")
DAYS = {"Every day": frozenset(range(7)), "Weekdays": frozenset(range(5))}
DAYS["Mon, Wed, Fri"] = frozenset({0, 2, 4})
QUIETS = ((time(22), time(7)), NO_QUIET, (time(21), time(8)), (time(23), time(6)))
TICK = timedelta(minutes=5)
SNOOZES = {"snooze_30": timedelta(minutes=30), "snooze_2h": timedelta(hours=2)}


# --- the simulated week -------------------------------------------------------------------------


@dataclass
class SimUser:
    """One simulated user: settings, and what they do on which day of the week (0 = first)."""

    chat_id: str
    zone: str
    nudge_time: time
    days_label: str
    quiet: tuple[time, time]
    trains_early_on: tuple[int, ...] = ()  # trains at 00:30 local, before any nudge
    pauses_on: int | None = None  # /pause 2 at 00:10 local
    snoozes: dict[int, str] = field(default_factory=dict)  # day -> snooze_30 / snooze_2h
    starts_on: tuple[int, ...] = ()  # taps "Start now" on the nudge and trains

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @property
    def wall(self) -> time:
        """The local time the nudge fires on an ordinary day."""
        return self.quiet[1] if self.in_quiet(self.nudge_time) else self.nudge_time

    def in_quiet(self, wall: time) -> bool:
        return NudgePlan(
            nudge_time=self.nudge_time,
            zone=self.zone,
            quiet_start=self.quiet[0],
            quiet_end=self.quiet[1],
        ).in_quiet_hours(wall)


def make_users(count: int) -> list[SimUser]:
    users = []
    for i in range(count):
        user = SimUser(
            chat_id=f"u{i:03d}",
            zone=ZONES[i % 5],
            quiet=QUIETS[(i // 5) % 4],
            nudge_time=time.fromisoformat(NUDGE_TIMES[(i // 20) % 8]),
            days_label=list(DAYS)[(i // 160) % 3],
        )
        match i % 7:
            case 1:
                user.trains_early_on = (1, 4)
            case 2:
                user.pauses_on = 4
            case 3:
                user.snoozes = {1: "snooze_30", 4: "snooze_30"}
            case 4:
                user.snoozes = {2: "snooze_2h", 5: "snooze_2h"}
            case 5:
                user.starts_on = (0, 3)
        # Snoozes that would run into quiet hours or past midnight are left out: the core moves
        # those to the end of the quiet period, which tests/test_nudges.py covers.
        for n, choice in list(user.snoozes.items()):
            later = datetime.combine(date(2026, 1, 1), user.wall) + SNOOZES[choice]
            if later.date() != date(2026, 1, 1) or user.in_quiet(later.time()):
                del user.snoozes[n]
        users.append(user)
    return users


def scheduled_fire(user: SimUser, day: date) -> datetime:
    """The nudge instant on a local day, worked out directly: the nudge time, or the end of
    quiet hours when it falls inside them; Python's fold=0 gives the DST rules (a skipped time
    moves on by the gap, a repeated time fires at its first occurrence)."""
    fire = datetime.combine(day, user.wall, tzinfo=user.tz).astimezone(UTC)
    assert not user.in_quiet(fire.astimezone(user.tz).time())  # no such case in this week
    return fire


def expected_nudges(user: SimUser, start: datetime, end: datetime) -> list[datetime]:
    first_day = start.astimezone(user.tz).date()
    expected = []
    for day in local_dates(start, end, user.zone):
        n = (day - first_day).days
        paused = user.pauses_on is not None and user.pauses_on <= n <= user.pauses_on + 1
        if day.weekday() not in DAYS[user.days_label] or paused or n in user.trains_early_on:
            continue
        fire = scheduled_fire(user, day)
        if not start <= fire < end:
            continue
        expected.append(fire)
        if n in user.snoozes:
            again = fire + SNOOZES[user.snoozes[n]]
            assert again.astimezone(user.tz).date() == day
            assert not user.in_quiet(again.astimezone(user.tz).time())
            expected.append(again)
    return sorted(expected)


def local_action_time(user: SimUser, start: datetime, day: int, wall: time) -> datetime:
    local_day = start.astimezone(user.tz).date() + timedelta(days=day)
    return datetime.combine(local_day, wall, tzinfo=user.tz).astimezone(UTC)


def train(service: CoachService, chat_id: str, now: datetime, nudge: Delivered | None) -> None:
    """One whole session through the pure coach (tapping "Start now" on the nudge if given),
    stored the way the service stores events."""
    with unit_of_work(service.engine) as session:
        user = find_user(session, PLATFORM, chat_id, lock=True)
        assert user is not None
        assert user.id is not None
        player = CoachPlayer(service.programme, now=now, state=load_coachee(session, user))
        if nudge is not None:
            player.replies.append(nudge.question)
            player.tap("Start now")
        player.run_session()
        assert (
            player.state.activity.last_trained_on
            == now.astimezone(ZoneInfo(player.state.profile.zone)).date()
        )
        save_and_reschedule(session, user, player.state, now=player.clock)
        for effect in player.effects:
            if isinstance(effect, RecordSession):
                record_session(session, user.id, effect.record)


WEEKS = {
    # Europe/Berlin springs forward on Sunday 2026-03-29 (02:30 does not exist there).
    "spring": datetime(2026, 3, 26, 0, 0, tzinfo=UTC),
    # Europe/Berlin falls back on Sunday 2026-10-25 (02:30 happens twice).
    "autumn": datetime(2026, 10, 22, 0, 0, tzinfo=UTC),
}


@pytest.mark.parametrize("week", list(WEEKS))
async def test_a_simulated_week_sends_every_nudge_once_on_time_and_never_in_quiet_hours(
    tmp_path: Path, week: str
) -> None:
    start = WEEKS[week]
    end = start + timedelta(days=7)
    clock = SimClock(start)
    service = service_for(f"sqlite:///{tmp_path / 'week.sqlite3'}", clock)
    users = make_users(360)
    by_chat = {u.chat_id: u for u in users}
    add_users(
        service,
        {
            u.chat_id: onboarded(
                now=start,
                zone=u.zone,
                nudge_time=u.nudge_time.strftime("%H:%M"),
                days=u.days_label,
                quiet=u.quiet,
            )
            for u in users
        },
        now=start,
    )
    actions: list[tuple[datetime, str, str]] = []
    for u in users:
        for day in u.trains_early_on:
            actions.append((local_action_time(u, start, day, time(0, 30)), u.chat_id, "train"))
        if u.pauses_on is not None:
            actions.append(
                (local_action_time(u, start, u.pauses_on, time(0, 10)), u.chat_id, "pause")
            )
    actions.sort()
    delivery = RecordingDelivery(clock=clock)
    tapped: Counter[str] = Counter()
    now, seen = start, 0
    while now < end:
        while actions and actions[0][0] <= now:
            at, chat_id, what = actions.pop(0)
            clock.now = at
            if what == "train":
                train(service, chat_id, at, None)
            else:
                service.handle(PLATFORM, chat_id, Text("/pause 2"))
        clock.now = now
        report = await run_nudge_tick(service, delivery, now=now, grace=GRACE, pacer=NoPacing())
        assert report.failed == report.blocked == report.skipped_late == 0
        for nudge in delivery.sent[seen:]:  # the users react the moment the nudge arrives
            user = by_chat[nudge.chat_id]
            day = (now.astimezone(user.tz).date() - start.astimezone(user.tz).date()).days
            first_today = all(
                d.at is None or d.at.astimezone(user.tz).date() != now.astimezone(user.tz).date()
                for d in delivery.sent_to(nudge.chat_id)
                if d is not nudge
            )
            if first_today and day in user.snoozes:
                choice = Choose(user.snoozes[day], nudge.question.step_no)
                service.handle(PLATFORM, nudge.chat_id, choice)
                tapped["snooze"] += 1
            elif first_today and day in user.starts_on:
                train(service, nudge.chat_id, now, nudge)
                tapped["start"] += 1
        seen = len(delivery.sent)
        now += TICK

    mismatched, total_expected = [], 0
    for u in users:
        got = [d.at for d in delivery.sent_to(u.chat_id)]
        want = expected_nudges(u, start, end)
        total_expected += len(want)
        if sorted(d for d in got if d is not None) != want:
            mismatched.append((u, got, want))
        local = [d.astimezone(u.tz) for d in got if d is not None]
        assert not [t for t in local if u.in_quiet(t.time())], u
        per_day = Counter(t.date() for t in local)
        snoozed_days = {(start.astimezone(u.tz).date() + timedelta(days=n)) for n in u.snoozes}
        assert all(c == 1 or (c == 2 and d in snoozed_days) for d, c in per_day.items()), u
    assert not mismatched, mismatched[:3]
    assert len(set((d.chat_id, d.at) for d in delivery.sent)) == len(delivery.sent)
    assert total_expected == len(delivery.sent) > 5 * len(users)
    assert outbox_rows(service) == []

    # DST pinned explicitly: Berlin's 02:30 without quiet hours, on the Sunday of the change.
    change_day = date(2026, 3, 29) if week == "spring" else date(2026, 10, 25)
    wanted = "2026-03-29T03:30+02:00" if week == "spring" else "2026-10-25T02:30+02:00"
    dst_users = [
        u
        for u in users
        if u.zone == BERLIN
        and u.nudge_time == time(2, 30)
        and u.quiet == NO_QUIET
        and change_day.weekday() in DAYS[u.days_label]
        and 3 not in (*u.snoozes, *u.trains_early_on)
        and u.pauses_on not in (2, 3)
    ]
    assert dst_users
    for u in dst_users:
        on_change_day = [
            d.at.astimezone(u.tz).isoformat(timespec="minutes")
            for d in delivery.sent_to(u.chat_id)
            if d.at is not None and d.at.astimezone(u.tz).date() == change_day
        ]
        assert on_change_day == [wanted]
    assert tapped["snooze"] > 0
    assert tapped["start"] > 0
    print(f"\n{week}: {len(users)} users, {len(delivery.sent)} nudges, {dict(tapped)}")


# --- downtime and the grace window --------------------------------------------------------------

DAY_ONE = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)  # a Monday


def at_utc(hour: int, minute: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def clock() -> SimClock:
    return SimClock(DAY_ONE)


@pytest.fixture
def service(db_url: str, clock: SimClock) -> CoachService:
    return service_for(db_url, clock)


def add(service: CoachService, *chats: tuple[str, str]) -> None:
    """Users (chat id, nudge time) in UTC with no quiet hours, onboarded on DAY_ONE."""
    states = {c: onboarded(now=DAY_ONE, nudge_time=t, quiet=NO_QUIET) for c, t in chats}
    add_users(service, states, now=DAY_ONE)


async def tick(service: CoachService, delivery: RecordingDelivery, now: datetime) -> TickReport:
    if delivery.clock is not None:
        delivery.clock.now = now
    return await run_nudge_tick(service, delivery, now=now, grace=GRACE, pacer=NoPacing())


async def test_after_downtime_a_nudge_within_grace_is_sent_and_a_later_one_rolls_on(
    service: CoachService, clock: SimClock
) -> None:
    add(service, ("one_hour_late", "07:00"), ("two_hours_late", "06:00"), ("three", "05:00"))
    delivery = RecordingDelivery(clock=clock)
    # The bot was down from 04:00; it starts at 08:00.
    report = await tick(service, delivery, at_utc(8))
    assert sorted(d.chat_id for d in delivery.sent) == ["one_hour_late", "two_hours_late"]
    assert (report.claimed, report.skipped_late, report.sent) == (2, 1, 2)
    late = user_row(service, "three")
    assert late.next_nudge_at == at_utc(5, day=2)
    assert late.coachee.activity.last_nudged_on is None

    await tick(service, delivery, at_utc(8, 5))
    assert len(delivery.sent) == 2
    await tick(service, delivery, at_utc(5, day=2))
    assert [d.chat_id for d in delivery.sent[2:]] == ["three"]


async def test_after_downtime_a_nudge_is_not_sent_into_quiet_hours(
    service: CoachService, clock: SimClock
) -> None:
    states = {"evening": onboarded(now=DAY_ONE, nudge_time="21:30")}  # quiet 22:00-07:00
    add_users(service, states, now=DAY_ONE)
    delivery = RecordingDelivery(clock=clock)
    report = await tick(service, delivery, at_utc(22, 30))  # 1 h late, within grace, but quiet
    assert (report.sent, report.skipped_late) == (0, 1)
    assert user_row(service, "evening").next_nudge_at == at_utc(21, 30, day=2)
    await tick(service, delivery, at_utc(21, 30, day=2))
    assert [d.at for d in delivery.sent] == [at_utc(21, 30, day=2)]


async def test_after_downtime_over_midnight_yesterdays_nudge_does_not_eat_todays(
    service: CoachService, clock: SimClock
) -> None:
    add(service, ("owl", "23:00"))
    delivery = RecordingDelivery(clock=clock)
    await tick(service, delivery, at_utc(0, 30, day=2))  # down from 22:00 to 00:30
    assert delivery.sent == []
    await tick(service, delivery, at_utc(23, day=2))
    assert [d.at for d in delivery.sent] == [at_utc(23, day=2)]


async def test_a_failed_nudge_is_not_retried_into_quiet_hours(
    service: CoachService, clock: SimClock
) -> None:
    states = {"late": onboarded(now=DAY_ONE, nudge_time="21:59")}  # quiet 22:00-07:00
    add_users(service, states, now=DAY_ONE)
    delivery = RecordingDelivery(clock=clock)
    delivery.results["late"] = DeliveryResult.FAILED
    await tick(service, delivery, at_utc(21, 59))
    del delivery.results["late"]
    report = await tick(service, delivery, at_utc(22, 0) + timedelta(seconds=10))
    assert (report.dropped, report.sent) == (1, 0)
    assert delivery.calls == ["late"]


# --- an event just after the nudge fell due, before the tick claimed it --------------------------


def handle_with_helper(service: CoachService, chat_id: str, event: Text) -> None:
    """What CoachService.handle does, with the shared save_and_reschedule."""
    with unit_of_work(service.engine) as session:
        user = find_user(session, PLATFORM, chat_id, lock=True)
        assert user is not None
        coachee = load_coachee(session, user)
        outcome = nudge_tick.transition(
            coachee, event, now=service.clock(), programme=service.programme
        )
        save_and_reschedule(session, user, outcome.state, now=service.clock())


@pytest.mark.parametrize("line", ["/progress", "/settings", "hello"])
async def test_a_message_between_due_time_and_tick_does_not_cancel_the_nudge(
    service: CoachService, clock: SimClock, line: str
) -> None:
    add(service, ("chatty", "07:00"))
    clock.now = at_utc(7) + timedelta(seconds=5)
    handle_with_helper(service, "chatty", Text(line))
    assert user_row(service, "chatty").next_nudge_at == at_utc(7)
    delivery = RecordingDelivery(clock=clock)
    await tick(service, delivery, at_utc(7) + timedelta(seconds=20))
    assert [d.chat_id for d in delivery.sent] == ["chatty"]


@pytest.mark.parametrize("line", ["/pause 2", "/settings"])
async def test_pausing_or_a_new_time_does_cancel_a_due_nudge(
    service: CoachService, clock: SimClock, line: str
) -> None:
    add(service, ("changes", "07:00"))
    clock.now = at_utc(7) + timedelta(seconds=5)
    handle_with_helper(service, "changes", Text(line))
    if line == "/settings":
        for typed in ("Nudge time", "18:00"):
            handle_with_helper(service, "changes", Text(typed))
    expected = at_utc(18) if line == "/settings" else at_utc(7, day=3)  # paused today, tomorrow
    assert user_row(service, "changes").next_nudge_at == expected


async def test_the_service_keeps_a_due_nudge_when_the_user_writes_before_the_tick(
    service: CoachService, clock: SimClock
) -> None:
    add(service, ("chatty", "07:00"))
    clock.now = at_utc(7) + timedelta(seconds=5)
    service.handle(PLATFORM, "chatty", Text("/progress"))
    delivery = RecordingDelivery(clock=clock)
    await tick(service, delivery, at_utc(7) + timedelta(seconds=20))
    assert [d.chat_id for d in delivery.sent] == ["chatty"]


# --- what a delivery reports ---------------------------------------------------------------------


async def test_a_user_who_blocked_the_bot_is_marked_inactive_and_gets_nothing_more(
    service: CoachService, clock: SimClock
) -> None:
    add(service, ("blocker", "07:00"), ("friend", "07:00"))
    delivery = RecordingDelivery(clock=clock)
    delivery.results["blocker"] = DeliveryResult.BLOCKED
    report = await tick(service, delivery, at_utc(7))
    assert (report.sent, report.blocked) == (1, 1)
    blocker = user_row(service, "blocker")
    assert not blocker.active
    assert blocker.next_nudge_at is None
    assert outbox_rows(service) == []

    for day in range(2, 5):
        await tick(service, delivery, at_utc(7, day=day))
    assert delivery.calls.count("blocker") == 1
    assert delivery.calls.count("friend") == 4

    # Writing to the bot again shows they unblocked it: nudges resume.
    clock.now = at_utc(12, day=4)
    service.handle(PLATFORM, "blocker", Text("/start"))
    del delivery.results["blocker"]
    await tick(service, delivery, at_utc(7, day=5))
    assert [d.at for d in delivery.sent_to("blocker")] == [at_utc(7, day=5)]


async def test_a_failed_delivery_is_sent_on_a_later_tick_once(
    service: CoachService, clock: SimClock
) -> None:
    add(service, ("flaky", "07:00"))
    delivery = RecordingDelivery(clock=clock)
    delivery.results["flaky"] = DeliveryResult.FAILED
    first = await tick(service, delivery, at_utc(7))
    assert (first.claimed, first.failed, first.sent) == (1, 1, 0)
    [row] = outbox_rows(service)
    assert row.attempts == 1
    assert row.claimed_until == at_utc(7) + RETRY_AFTER  # not before a later tick

    del delivery.results["flaky"]
    second = await tick(service, delivery, at_utc(7, 0) + timedelta(seconds=20))
    assert (second.claimed, second.sent) == (0, 1)
    for seconds in (40, 60, 3600):
        await tick(service, delivery, at_utc(7) + timedelta(seconds=seconds))
    assert delivery.calls == ["flaky", "flaky"]
    assert len(delivery.sent) == 1


class FloodOnce(RecordingDelivery):
    """Flood control (429) on the first delivery to each of `chats`."""

    def __init__(self, clock: SimClock, chats: set[str]) -> None:
        super().__init__(clock=clock)
        self.flooded = set(chats)

    async def deliver(self, chat_id: str, replies: Sequence[Reply]) -> DeliveryResult:
        if chat_id in self.flooded:
            self.flooded.discard(chat_id)
            self.calls.append(chat_id)
            return DeliveryResult.LATER
        return await super().deliver(chat_id, replies)


async def test_a_nudge_refused_by_flood_control_goes_again_in_the_same_tick(
    service: CoachService, clock: SimClock
) -> None:
    add(service, ("first", "07:00"), ("second", "07:00"))
    delivery = FloodOnce(clock, {"first"})
    report = await tick(service, delivery, at_utc(7))
    assert (report.sent, report.failed) == (2, 1)
    assert sorted(delivery.calls) == ["first", "first", "second"]
    assert outbox_rows(service) == []  # nothing left for a later tick


async def test_a_nudge_whose_lease_ran_short_is_left_to_whoever_leases_it_next(
    service: CoachService, clock: SimClock
) -> None:
    add(service, ("slow", "07:00"))

    class LeaseRunsShort(RecordingDelivery):
        """The platform asks `may_start` right before sending; the first time, the row's
        lease has run short by then (the clock moved while it waited for a lock)."""

        async def deliver(self, chat_id: str, replies: Sequence[Reply]) -> DeliveryResult:
            check = may_start.get()
            assert check is not None
            if not self.calls:
                self.calls.append(chat_id)
                clock.now += LEASE - LEASE_MARGIN
                assert not check()
                return DeliveryResult.TOO_LATE
            assert check()
            return await super().deliver(chat_id, replies)

    delivery = LeaseRunsShort(clock=clock)
    clock.now = at_utc(7)
    first = await run_nudge_tick(service, delivery, now=at_utc(7), grace=GRACE, pacer=NoPacing())
    assert (first.sent, first.expired, first.failed) == (0, 1, 0)
    [row] = outbox_rows(service)
    assert row.claimed_until == at_utc(7) + LEASE  # untouched: still leased, maybe to another
    await tick(service, delivery, at_utc(7) + LEASE)
    assert [d.chat_id for d in delivery.sent] == ["slow"]
    assert outbox_rows(service) == []


async def test_a_delivery_that_keeps_failing_is_given_up_without_logging_who(
    service: CoachService, clock: SimClock, caplog: pytest.LogCaptureFixture
) -> None:
    add(service, ("chat-4711", "07:00"))
    delivery = RecordingDelivery(clock=clock)
    delivery.results["chat-4711"] = DeliveryResult.FAILED
    for n in range(MAX_ATTEMPTS + 3):
        await tick(service, delivery, at_utc(7) + timedelta(seconds=20 * n))
    assert delivery.calls == ["chat-4711"] * MAX_ATTEMPTS
    assert outbox_rows(service) == []
    assert "given up" in caplog.text
    assert "4711" not in caplog.text


async def test_a_delivery_that_raises_counts_as_failed(
    service: CoachService, clock: SimClock
) -> None:
    add(service, ("x", "07:00"))

    class Broken(RecordingDelivery):
        async def deliver(self, chat_id: str, replies: Sequence[Reply]) -> DeliveryResult:
            raise ConnectionError("network down")

    report = await tick(service, Broken(clock=clock), at_utc(7))
    assert report.failed == 1
    delivery = RecordingDelivery(clock=clock)
    await tick(service, delivery, at_utc(7, 1))
    assert [d.chat_id for d in delivery.sent] == ["x"]


# --- pending rows that should no longer go out ---------------------------------------------------


async def test_a_nudge_the_user_has_already_moved_past_is_dropped(
    service: CoachService, clock: SimClock
) -> None:
    add(service, ("keen", "07:00"))
    assert claim_due(service, PLATFORM, now=at_utc(7), grace=GRACE).queued == 1
    clock.now = at_utc(7) + timedelta(seconds=5)
    service.handle(PLATFORM, "keen", Text("/session"))  # before the nudge went out
    delivery = RecordingDelivery(clock=clock)
    report = await send_pending(service, delivery, now=clock.now, grace=GRACE, pacer=NoPacing())
    assert (report.dropped, report.sent) == (1, 0)
    assert delivery.calls == []


async def test_a_nudge_left_in_the_outbox_past_the_grace_window_is_dropped(
    service: CoachService, clock: SimClock
) -> None:
    add(service, ("sleepy", "07:00"))
    claim_due(service, PLATFORM, now=at_utc(7), grace=GRACE)
    delivery = RecordingDelivery(clock=clock)
    report = await tick(service, delivery, at_utc(9, 1))
    assert report.dropped == 1
    assert delivery.calls == []
    await tick(service, delivery, at_utc(7, day=2))
    assert [d.at for d in delivery.sent] == [at_utc(7, day=2)]


async def test_forgetting_a_user_removes_their_pending_nudge(
    service: CoachService, clock: SimClock
) -> None:
    add(service, ("gone", "07:00"), ("stays", "07:00"))
    claim_due(service, PLATFORM, now=at_utc(7), grace=GRACE)
    clock.now = at_utc(7, 1)
    service.handle(PLATFORM, "gone", Text("/forget"))
    confirm = service.waiting_question(PLATFORM, "gone")
    assert confirm is not None
    service.handle(PLATFORM, "gone", Choose("forget_yes", confirm.step_no))
    assert [row.chat_id for row in outbox_rows(service)] == ["stays"]


# --- last week's summary -------------------------------------------------------------------------


def fake_reports(summary: Callable[..., str | None]) -> types.ModuleType:
    module = types.ModuleType("bot.reports.progress")
    module.week_summary = summary  # type: ignore[attr-defined]
    return module


async def test_the_week_summary_from_bot_reports_leads_the_nudge(
    service: CoachService, clock: SimClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[date] = []

    def week_summary(session: object, user: StoredUser, today: date) -> str | None:
        asked.append(today)
        return "Last week: 3 sessions." if user.chat_id == "with" else None

    monkeypatch.setitem(sys.modules, "bot.reports.progress", fake_reports(week_summary))
    add(service, ("with", "07:00"), ("without", "07:00"))
    delivery = RecordingDelivery(clock=clock)
    await tick(service, delivery, at_utc(7))
    [with_summary] = delivery.sent_to("with")
    [without] = delivery.sent_to("without")
    assert with_summary.question.text.startswith("Last week: 3 sessions.")
    assert not without.question.text.startswith("Last week")
    assert asked == [date(2026, 6, 1)] * 2


async def test_a_failing_week_summary_does_not_stop_the_nudge(
    service: CoachService, clock: SimClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def week_summary(session: object, user: StoredUser, today: date) -> str | None:
        raise RuntimeError("bug in the report")

    monkeypatch.setitem(sys.modules, "bot.reports.progress", fake_reports(week_summary))
    add(service, ("a", "07:00"))
    delivery = RecordingDelivery(clock=clock)
    await tick(service, delivery, at_utc(7))
    assert [d.chat_id for d in delivery.sent] == ["a"]


async def test_a_reports_module_that_fails_to_import_does_not_stop_the_nudges(
    service: CoachService,
    clock: SimClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken_import(name: str) -> types.ModuleType:
        raise ImportError(f"cannot import name 'gone' from {name!r}")

    monkeypatch.setattr(nudge_tick.importlib, "import_module", broken_import)
    monkeypatch.setattr(nudge_tick, "_reports_broken_logged", False)
    add(service, ("a", "07:00"))
    delivery = RecordingDelivery(clock=clock)
    await tick(service, delivery, at_utc(7))
    assert [d.chat_id for d in delivery.sent] == ["a"]
    assert "nudging without week summaries" in caplog.text


# --- pacing -------------------------------------------------------------------------------------


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_the_pacer_spaces_sends_overall_and_per_chat() -> None:
    clock = FakeMonotonic()
    pacer = Pacer(25, clock=clock)
    waits = [pacer.reserve(chat) for chat in ("a", "b", "a", "c")]
    assert waits == pytest.approx([0.0, 0.04, 1.0, 1.04])
    clock.t += 5
    assert pacer.reserve("a") == 0.0


@given(
    st.lists(
        st.tuples(st.sampled_from("abcd"), st.floats(min_value=0, max_value=1.5)),
        max_size=60,
    )
)
def test_paced_slots_never_break_either_limit(requests: list[tuple[str, float]]) -> None:
    clock = FakeMonotonic()
    pacer = Pacer(25, 1.0, clock=clock)
    slots: list[tuple[str, float, float]] = []
    for chat, advance in requests:
        clock.t += advance
        slots.append((chat, clock.t, clock.t + pacer.reserve(chat)))
    eps = 1e-9
    for (_, _, before), (_, _, after) in zip(slots, slots[1:], strict=False):
        assert after - before >= 0.04 - eps
    for chat in "abcd":
        mine = [slot for c, _, slot in slots if c == chat]
        assert all(b - a >= 1.0 - eps for a, b in zip(mine, mine[1:], strict=False))
    assert all(slot >= asked for _, asked, slot in slots)


async def test_the_tick_waits_for_the_pacer_before_every_send(
    service: CoachService, clock: SimClock
) -> None:
    add(service, *((f"c{i:02d}", "07:00") for i in range(30)))
    fake = FakeMonotonic()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    delivery = RecordingDelivery(clock=clock)
    clock.now = at_utc(7)
    report = await run_nudge_tick(
        service, delivery, now=at_utc(7), grace=GRACE, pacer=Pacer(25, clock=fake, sleep=sleep)
    )
    assert report.sent == 30
    # The fake clock stands still, so the n-th send waits n slots of 1/25 s.
    assert slept == pytest.approx([n / 25 for n in range(1, 30)])


# --- one transaction, and one broken user ------------------------------------------------------


async def test_state_and_outbox_row_commit_together_or_not_at_all(
    service: CoachService, clock: SimClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(service, ("a", "07:00"), ("b", "07:00"))
    real = nudge_tick.replies_to_payload
    calls = 0

    def second_insert_breaks(replies: Sequence[Reply]) -> dict[str, object]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OperationalError("INSERT INTO outbox", {}, Exception("disk I/O error"))
        return real(replies)

    monkeypatch.setattr(nudge_tick, "replies_to_payload", second_insert_breaks)
    delivery = RecordingDelivery(clock=clock)
    with pytest.raises(OperationalError):
        await tick(service, delivery, at_utc(7))
    assert outbox_rows(service) == []
    for chat in ("a", "b"):
        assert user_row(service, chat).coachee.activity.last_nudged_on is None
        assert user_row(service, chat).next_nudge_at == at_utc(7)

    monkeypatch.setattr(nudge_tick, "replies_to_payload", real)
    await tick(service, delivery, at_utc(7, 1))
    assert sorted(d.chat_id for d in delivery.sent) == ["a", "b"]


async def test_a_user_the_coach_fails_on_does_not_hold_up_the_others(
    service: CoachService,
    clock: SimClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    add(service, ("fine", "07:00"), ("broken-9876", "07:05"))
    real = nudge_tick.transition

    def transition(state: Coachee, event: object, **kwargs: object) -> object:
        if state.profile.nudge_time == time(7, 5):
            raise KeyError("corrupt state")
        return real(state, event, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(nudge_tick, "transition", transition)
    delivery = RecordingDelivery(clock=clock)
    await tick(service, delivery, at_utc(7, 5))
    assert [d.chat_id for d in delivery.sent] == ["fine"]
    assert user_row(service, "broken-9876").next_nudge_at is None
    assert "9876" not in caplog.text
    await tick(service, delivery, at_utc(7, 10))
    assert len(delivery.sent) == 1
