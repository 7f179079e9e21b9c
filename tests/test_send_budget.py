"""The bot's shared send budget, on SQLite and PostgreSQL: slots never overlap whoever claims
them, replies use up budget before nudges, a 429 pauses everyone. Time is a fake clock."""

from __future__ import annotations

import asyncio
import threading
import warnings
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

from bot.delivery import TooLate, may_start
from bot.settings import Settings
from bot.store.db import make_engine
from bot.store.send_budget import LATE, SendBudget, SharedPacer
from bot.telegram.send import NUDGE, SharedRateLimiter


class FakeTime:
    """Seconds since the epoch that move only when told (or when the pacer sleeps)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # as a real sleep does, let other tasks run


async def inline(function: object, *args: object) -> object:
    return function(*args)  # type: ignore[operator]


@pytest.fixture
def engine(db_url: str) -> Engine:
    return make_engine(db_url)


def test_claims_of_several_processes_never_share_or_crowd_a_slot(engine: Engine) -> None:
    clock = FakeTime()
    budgets = [SendBudget(engine, "telegram", 29.5, clock=clock) for _ in range(3)]
    slots: list[float] = []
    start = threading.Barrier(3)
    lock = threading.Lock()

    def claim_many(budget: SendBudget) -> None:
        start.wait()
        for _ in range(20):
            got = budget.claim(15)
            with lock:
                slots.extend(got)

    threads = [threading.Thread(target=claim_many, args=(b,)) for b in budgets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    ordered = sorted(slots)
    assert len(ordered) == 3 * 20 * 15
    gaps = [b - a for a, b in zip(ordered, ordered[1:], strict=False)]
    assert min(gaps) >= budgets[0].interval * 0.999
    # In any 1-second window at most 30 slots (29.5 a second).
    assert max(sum(1 for s in ordered[i:] if s < start_slot + 1) for i, start_slot in
               enumerate(ordered)) <= 30  # fmt: skip


def test_replies_use_budget_before_nudges(engine: Engine) -> None:
    clock = FakeTime()
    replying = SendBudget(engine, "telegram", 10, clock=clock)
    nudging = SendBudget(engine, "telegram", 10, clock=clock)
    first = nudging.claim(5)
    assert first[0] == pytest.approx(clock.now)
    for _ in range(7):
        replying.note_reply()
    replying.claim(1)  # the replies go into the row with this process's next claim
    after = nudging.claim(1)
    # 5 nudges, then 7 replies and 1 nudge of the other process, before this slot.
    assert after[0] == pytest.approx(clock.now + (5 + 7 + 1) * 0.1)


def test_a_429_pauses_every_process(engine: Engine) -> None:
    clock = FakeTime()
    one = SendBudget(engine, "telegram", 29.5, clock=clock)
    other = SendBudget(engine, "telegram", 29.5, clock=clock)
    one.back_off(12.0)
    assert other.claim(1)[0] == pytest.approx(clock.now + 12.0)


def test_budgets_of_different_bots_are_apart(engine: Engine) -> None:
    clock = FakeTime()
    SendBudget(engine, "telegram", 1, clock=clock).claim(100)
    assert SendBudget(engine, "terminal", 1, clock=clock).claim(1)[0] == pytest.approx(clock.now)


async def test_the_pacer_sends_one_per_slot_and_one_a_second_per_chat(engine: Engine) -> None:
    clock = FakeTime()
    budget = SendBudget(engine, "telegram", 20, clock=clock)
    pacer = SharedPacer(budget, runner=inline, sleep=clock.sleep)
    sent: list[tuple[str, float]] = []
    for chat in ["a", "b", "a", "c", "a"]:
        await pacer.wait(chat)
        sent.append((chat, clock.now))
    times = [t for _, t in sent]
    assert all(b - a >= 0.05 * 0.999 for a, b in zip(times, times[1:], strict=False))
    a_times = [t for c, t in sent if c == "a"]
    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(a_times, a_times[1:], strict=False))


async def test_the_pacer_skips_a_slot_it_woke_too_late_for(engine: Engine) -> None:
    clock = FakeTime()
    budget = SendBudget(engine, "telegram", 10, clock=clock)

    async def late_sleep(seconds: float) -> None:
        clock.now += seconds + (LATE * 2 if not late_sleep.done else 0)  # type: ignore[attr-defined]
        late_sleep.done = True  # type: ignore[attr-defined]

    late_sleep.done = False  # type: ignore[attr-defined]
    pacer = SharedPacer(budget, runner=inline, sleep=late_sleep)
    await pacer.wait("a")  # the first slot is now: no sleep
    await pacer.wait("b")  # sleeps for slot 2, wakes too late, takes slot 3
    assert clock.now == pytest.approx(1_800_000_000.0 + 2 * 0.1)


async def test_the_pacer_claims_the_next_run_before_this_one_is_used_up(engine: Engine) -> None:
    clock = FakeTime()
    budget = SendBudget(engine, "telegram", 20, clock=clock)
    claims: list[int] = []

    async def counting(function: object, *args: object) -> object:
        claims.append(len(pacer._slots))
        await asyncio.sleep(0)
        return function(*args)  # type: ignore[operator]

    pacer = SharedPacer(budget, runner=counting, sleep=clock.sleep)
    for number in range(3 * pacer.claim_size):
        await pacer.wait(str(number))
    assert claims[0] == 0
    assert all(left > 0 for left in claims[1:])  # later runs were claimed ahead of need


def test_a_rate_above_telegrams_needs_paid_broadcasts() -> None:
    with pytest.raises(ValueError, match="ALLOW_PAID_BROADCAST"):
        Settings(_env_file=None, nudge_send_rate=100)  # type: ignore[call-arg]
    paid = Settings(_env_file=None, nudge_send_rate=100, allow_paid_broadcast=True)  # type: ignore[call-arg]
    assert paid.nudge_send_rate == 100


class PassThrough(BaseRateLimiter[int]):
    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):  # type: ignore[no-untyped-def]
        return await callback(*args, **kwargs)


async def test_replies_are_counted_and_a_429_pauses_the_whole_bot(engine: Engine) -> None:
    clock = FakeTime()
    budget = SendBudget(engine, "telegram", 10, clock=clock)
    limiter = SharedRateLimiter(PassThrough(), budget, inline)

    async def ok() -> bool:
        return True

    async def flood() -> bool:
        with warnings.catch_warnings():  # PTB 22 warns on any RetryAfter it makes, too
            warnings.simplefilter("ignore", PTBDeprecationWarning)
            error = RetryAfter(timedelta(seconds=7))
        raise error

    await limiter.process_request(ok, (), {}, "sendMessage", {}, None)  # a reply
    await limiter.process_request(ok, (), {}, "editMessageText", {}, None)  # an edit
    await limiter.process_request(ok, (), {}, "answerCallbackQuery", {}, None)  # not a message
    await limiter.process_request(ok, (), {}, "sendMessage", {}, NUDGE)  # has its slot already
    first = budget.claim(1)
    assert first[0] == pytest.approx(clock.now + 2 * 0.1)  # after the two replies
    with pytest.raises(RetryAfter):
        await limiter.process_request(flood, (), {}, "sendMessage", {}, NUDGE)
    other = SendBudget(engine, "telegram", 10, clock=clock)
    assert other.claim(1)[0] >= clock.now + 7


async def test_after_a_429_the_pacer_uses_no_slot_it_claimed_before_the_pause(
    engine: Engine,
) -> None:
    clock = FakeTime()
    budget = SendBudget(engine, "telegram", 10, clock=clock)
    pacer = SharedPacer(budget, runner=inline, sleep=clock.sleep)
    await pacer.wait("a")  # claims a run of slots from now on
    assert pacer._slots
    budget.back_off(3.0)
    await pacer.wait("b")
    assert clock.now >= 1_800_000_000.0 + 3.0


async def test_a_nudge_no_longer_ours_when_its_turn_comes_is_not_sent(engine: Engine) -> None:
    """The tick's last word (`may_start`) is asked after the window's wait, right before the
    request: a nudge whose lease ran short meanwhile never reaches the server."""
    clock = FakeTime()
    budget = SendBudget(engine, "telegram", 10, clock=clock)
    limiter = SharedRateLimiter(PassThrough(), budget, inline)
    calls: list[str] = []

    async def send() -> bool:
        calls.append("sent")
        return True

    token = may_start.set(lambda: False)
    try:
        with pytest.raises(TooLate):
            await limiter.process_request(send, (), {}, "sendMessage", {}, NUDGE)
        # A reply is never held back, whatever the nudges' lease says.
        await limiter.process_request(send, (), {}, "sendMessage", {}, None)
    finally:
        may_start.reset(token)
    await limiter.process_request(send, (), {}, "sendMessage", {}, NUDGE)
    assert calls == ["sent", "sent"]
