"""The send window (bot/nudges/send_window.py): whatever the delays on the way to the server and
back, the server never sees more than `size` of one process's sends in `span` seconds. Time is
virtual: sleeps wake in order of their due time, and nothing reads the wall clock."""

from __future__ import annotations

import asyncio
import heapq
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.nudges.send_window import SendWindow


class VirtualTime:
    """A clock that jumps to the next sleeper's wake-up once every task is waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._order), future))
        await future

    async def run(self, tasks: list[asyncio.Task[None]]) -> None:
        while True:
            for _ in range(100):  # let every woken task run until it waits again
                await asyncio.sleep(0)
            if all(task.done() for task in tasks):
                for task in tasks:
                    task.result()  # an exception in a task fails the test
                return
            assert self._sleepers, "every task waits, but not on the clock"
            at, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, at)
            future.set_result(None)


# Sends exactly a span apart may differ from it in the last bit of a float (1.13 + 1.0 - 1.0
# is not 1.13); the server counts nanoseconds, so a nanosecond either way is the same instant.
NANOSECOND = 1e-9


def most_in_a_span(arrivals: list[float], span: float) -> int:
    """The most arrivals in any window (a - span, a], as the server counts them."""
    ordered = sorted(arrivals)
    return max(
        (sum(1 for b in ordered if a - span + NANOSECOND < b <= a) for a in ordered),
        default=0,
    )


async def nudge(
    window: SendWindow, time: VirtualTime, start: float, out: float, back: float, log: list[float]
) -> None:
    await time.sleep(start)
    send = await window.turn()
    await time.sleep(out)  # on the way: the server sees it now
    log.append(time.now)
    await time.sleep(back)  # the response on its way back
    window.finish(send)


delays = st.floats(min_value=0.0, max_value=1.5, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=5),
    sends=st.lists(st.tuples(delays, delays, delays), min_size=1, max_size=25),
)
def test_no_delays_put_more_than_size_sends_in_one_span_at_the_server(
    size: int, sends: list[tuple[float, float, float]]
) -> None:
    async def scenario() -> list[float]:
        time = VirtualTime()
        window = SendWindow(size, 1.0, clock=time, sleep=time.sleep)
        arrivals: list[float] = []
        tasks = [
            asyncio.create_task(nudge(window, time, start, out, back, arrivals))
            for start, out, back in sends
        ]
        await time.run(tasks)
        return arrivals

    arrivals = asyncio.run(scenario())
    assert len(arrivals) == len(sends)
    assert most_in_a_span(arrivals, 1.0) <= size


def test_the_property_can_fail_without_the_window() -> None:
    """Guards the check above: sends that start at once, with jitter, do crowd a second."""
    arrivals = [0.0 + 0.01 * n for n in range(4)]
    assert most_in_a_span(arrivals, 1.0) == 4
    assert most_in_a_span([0.0, 1.0], 1.0) == 1  # exactly a span apart: the server allows it


async def test_a_nudge_waits_for_the_send_size_places_back_to_be_answered_a_span_ago() -> None:
    time = VirtualTime()
    window = SendWindow(2, 1.0, clock=time, sleep=time.sleep)
    first, second = window.start(), window.start()
    assert window.ready_at() == float("inf")  # the first is still in flight
    time.now = 0.3
    window.finish(first)
    assert window.ready_at() == pytest.approx(1.3)
    window.finish(second)

    async def third() -> None:
        await window.turn()

    task = asyncio.create_task(third())
    await time.run([task])
    assert time.now == pytest.approx(1.3)


async def test_replies_are_never_held_and_the_nudges_after_them_wait() -> None:
    time = VirtualTime()
    window = SendWindow(3, 1.0, clock=time, sleep=time.sleep)
    for _ in range(5):  # replies start at once, even past the window's size
        window.finish(window.start())
    assert time.now == 0.0
    started: list[float] = []

    async def a_nudge() -> None:
        await window.turn()
        started.append(time.now)

    task = asyncio.create_task(a_nudge())
    await time.run([task])
    assert started == [pytest.approx(1.0)]


def test_a_window_needs_room_for_one_send() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SendWindow(0)
