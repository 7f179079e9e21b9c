"""A send window that no timing jitter can push past Telegram's limit.

Telegram refuses (429) a bot that sends more than about 30 messages in a second. A pacer that
spaces sends 1/29.5 s apart on the bot's side still gets refused now and then: requests leave
late or early and arrive bunched. The window counts completed sends instead of planned ones:

    a nudge may start only when the send `size` places before it has completed (its response
    received) at least `span` seconds ago.

The server then sees send k arrive more than `span` after send k-size arrived, whatever the
delays on either side: arrival(k) >= start(k) >= completion(k-size) + span > arrival(k-size)
+ span. So no window of `span` seconds at the server ever holds more than `size` of this
process's sends. Replies to users are never held: they only take their place in the window, so
the nudges after them wait (replies first, nudges fill the rest).

The clock and the sleep are injectable (tests run it on a fake clock).
"""

from __future__ import annotations

import asyncio
import math
import time as clock_time
from collections import deque
from collections.abc import Awaitable, Callable


class Send:
    """One send in the window: when its response came back (infinity while in flight)."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = math.inf


class SendWindow:
    """At most `size` sends of this process in any `span` seconds at the server."""

    def __init__(
        self,
        size: int,
        span: float = 1.0,
        *,
        clock: Callable[[], float] = clock_time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self.span = span
        self.clock = clock
        self._sleep = sleep
        self._sends: deque[Send] = deque(maxlen=size)
        self._finished = asyncio.Event()

    def ready_at(self) -> float:
        """When the next send may start (infinity while the one `size` places back flies)."""
        if len(self._sends) < self.size:
            return -math.inf
        return self._sends[0].done + self.span

    def start(self) -> Send:
        """A send starts now (never held: replies call this directly)."""
        send = Send()
        self._sends.append(send)  # the deque drops the send `size` places back
        return send

    def finish(self, send: Send) -> None:
        """Its response came back (or it failed: it may have reached the server all the same)."""
        send.done = self.clock()
        self._finished.set()

    async def turn(self) -> Send:
        """Wait until a nudge may start, then start it. Nothing is awaited between the last
        check and `start`, so no other send can slip in between."""
        while True:
            at = self.ready_at()
            now = self.clock()
            if at <= now:
                return self.start()
            if math.isinf(at):
                self._finished.clear()
                await self._finished.wait()
            else:
                await self._sleep(at - now)
