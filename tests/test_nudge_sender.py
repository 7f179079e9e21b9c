"""One nudge sender at a time per bot (bot/store/send_budget.py): the turn is held in the
send_budget row, renewed while the sender sends, taken over once it runs out, and the rows a
dead sender leased go to the next sender at once (no lease to wait out). Fake clocks only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from bot.nudges.tick import TickReport, _lease, claim_due, run_nudge_tick
from bot.service import CoachService
from bot.store.db import make_engine
from bot.store.outbox import outbox
from bot.store.send_budget import (
    TURN,
    TURN_MARGIN,
    SendBudget,
    SenderTurn,
    SharedPacer,
    send_budget,
)
from tests.nudge_helpers import (
    GRACE,
    NO_QUIET,
    PLATFORM,
    RecordingDelivery,
    SimClock,
    add_users,
    onboarded,
    outbox_rows,
    service_for,
)

DUE = datetime(2026, 6, 1, 7, 0, tzinfo=UTC)


class Time:
    """One fake clock read as a datetime (the service) and as epoch seconds (the budget);
    the pacer's sleeps move it."""

    def __init__(self, now: datetime) -> None:
        self.sim = SimClock(now)

    def __call__(self) -> float:
        return self.sim.now.timestamp()

    def move(self, seconds: float) -> None:
        self.sim.now += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.move(seconds)


@pytest.fixture
def time() -> Time:
    return Time(DUE)


@pytest.fixture
def engine(db_url: str) -> Engine:
    return make_engine(db_url)


def test_one_sender_at_a_time_and_the_next_once_the_turn_runs_out(
    engine: Engine, time: Time
) -> None:
    one = SendBudget(engine, "telegram", 29.5, clock=time)
    other = SendBudget(engine, "telegram", 29.5, clock=time)
    first = one.take_turn("one", None)
    assert first is not None
    number, until = first
    assert until == pytest.approx(time() + TURN)
    assert other.take_turn("other", None) is None
    time.move(TURN / 2)
    assert one.take_turn("one", number, True) == (number, pytest.approx(time() + TURN))
    assert other.take_turn("other", None) is None  # renewed: still one's
    time.move(TURN)  # one died: no renewal
    taken = other.take_turn("other", None)
    assert taken is not None
    assert taken[0] == number + 1
    # Back from a long pause, one learns it lost the turn: no renewal, and no new turn.
    assert one.take_turn("one", number, True) is None


def test_a_sender_done_with_its_outbox_lets_another_take_over_at_once(
    engine: Engine, time: Time
) -> None:
    one = SendBudget(engine, "telegram", 29.5, clock=time)
    other = SendBudget(engine, "telegram", 29.5, clock=time)
    taken = one.take_turn("one", None)
    assert taken is not None
    one.end_turn("one", taken[0])
    assert other.take_turn("other", None) is not None


def test_the_turns_of_different_bots_are_apart(engine: Engine, time: Time) -> None:
    assert SendBudget(engine, "telegram", 29.5, clock=time).take_turn("a", None) is not None
    assert SendBudget(engine, "terminal", 29.5, clock=time).take_turn("b", None) is not None


def test_a_process_that_is_not_the_sender_still_spends_the_budget_on_its_replies(
    engine: Engine, time: Time
) -> None:
    sender = SendBudget(engine, "telegram", 10, clock=time)
    replier = SendBudget(engine, "telegram", 10, clock=time)
    assert sender.take_turn("sender", None) is not None
    for _ in range(4):
        replier.note_reply()
    assert replier.take_turn("replier", None) is None  # tries to send nudges: counts replies
    assert sender.claim(1)[0] == pytest.approx(time() + 4 * 0.1)


async def test_the_pacer_holds_the_turn_for_its_block_then_gives_it_up(
    engine: Engine, time: Time
) -> None:
    budget = SendBudget(engine, "telegram", 29.5, clock=time)
    one = SharedPacer(budget, runner=call, sleep=time.sleep)
    other = SharedPacer(SendBudget(engine, "telegram", 29.5, clock=time), runner=call)
    async with one.sending() as turn:
        assert turn is not None
        assert turn.held
        async with other.sending() as none:
            assert none is None
        leased = datetime.now(UTC)  # any instant: the lease is the turn, whatever the clock
        assert turn.lease_until(leased) == datetime.fromtimestamp(turn.until, UTC)
        assert turn.may_send(leased, leased)
        time.move(TURN - TURN_MARGIN)  # no renewal came: too close to the turn's end
        assert not turn.may_send(leased, leased)
        await one.renew(turn)
        assert turn.may_send(leased, leased)
    async with other.sending() as taken:
        assert taken is not None


async def test_a_sender_that_lost_its_turn_stops(engine: Engine, time: Time) -> None:
    one = SharedPacer(SendBudget(engine, "telegram", 29.5, clock=time), runner=call)
    other = SharedPacer(SendBudget(engine, "telegram", 29.5, clock=time), runner=call)
    async with one.sending() as turn:
        assert turn is not None
        time.move(TURN + 0.1)  # stalled past its turn
        async with other.sending() as next_turn:
            assert next_turn is not None
            await one.renew(turn)
            assert not turn.held
            assert not turn.may_send(DUE, DUE)
    with engine.connect() as db:
        assert db.execute(select(send_budget.c.turn)).scalar() == next_turn.number


async def call(function: object, *args: object) -> object:
    return function(*args)  # type: ignore[operator]


def add(service: CoachService, count: int) -> list[str]:
    chats = [f"chat{n:02d}" for n in range(count)]
    states = {c: onboarded(now=DUE, nudge_time="07:00", quiet=NO_QUIET) for c in chats}
    add_users(service, states, now=DUE - timedelta(hours=3))
    return chats


async def test_a_dead_senders_rows_go_to_the_next_sender_as_soon_as_its_turn_ends(
    db_url: str, time: Time
) -> None:
    service = service_for(db_url, time.sim)
    chats = add(service, 6)
    # The first process takes the turn, claims the wave, leases the rows and dies (SIGKILL)
    # before sending any: its turn is never renewed nor ended, its rows stay leased to it.
    dead = SendBudget(service.engine, PLATFORM, 29.5, clock=time)
    taken = dead.take_turn("dead", None)
    assert taken is not None
    claim_due(service, PLATFORM, now=time.sim.now, grace=GRACE)
    _, rows = _lease(
        service,
        PLATFORM,
        now=time.sim.now,
        grace=GRACE,
        after=0,
        chat_ids=None,
        report=TickReport(),
        turn=SenderTurn(dead, *taken),
    )
    assert len(rows) == 6
    with service.engine.connect() as db:
        leased = db.execute(select(outbox.c.claimed_until)).scalars().all()
    assert all(until is not None and until > time.sim.now for until in leased)

    budget = SendBudget(service.engine, PLATFORM, 29.5, clock=time)
    delivery = RecordingDelivery(clock=time.sim)
    pacer = SharedPacer(budget, runner=service.call, sleep=time.sleep)
    # While the dead process's turn lasts, nobody else sends.
    report = await run_nudge_tick(service, delivery, now=time.sim.now, grace=GRACE, pacer=pacer)
    assert delivery.sent == []
    assert report.sent == 0
    # Its turn over (TURN seconds, not a long lease), the next sender sends every row once.
    time.move(TURN)
    await run_nudge_tick(service, delivery, now=time.sim.now, grace=GRACE, pacer=pacer)
    assert sorted(d.chat_id for d in delivery.sent) == chats
    assert outbox_rows(service) == []
