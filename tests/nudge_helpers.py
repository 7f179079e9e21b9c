"""Helpers for the nudge tick tests: onboarded users, a clock that moves only when told, a
delivery that records what it sent, and a subprocess entry point that the crash test kills.

    python -m tests.nudge_helpers claim-and-hang DATABASE_URL NOW_ISO
    python -m tests.nudge_helpers tick-and-hang DATABASE_URL NOW_ISO RECORD_FILE SENDS
"""

from __future__ import annotations

import asyncio
import os
import sys
import time as wall_time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.delivery import DeliveryResult
from bot.nudge_tick import NoPacing, claim_due, run_nudge_tick, save_and_reschedule
from bot.outbox import outbox
from bot.service import CoachService
from bot.store import StoredUser, create_user, find_user, make_engine, unit_of_work
from conversations.replies import Reply
from conversations.state import Coachee
from data.programme import default_programme
from tests.coach_player import CoachPlayer

PLATFORM = "test"
GRACE = timedelta(hours=2)
NO_QUIET = (time(0, 0), time(0, 0))


class SimClock:
    """A clock that stands still until a test sets or moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def onboarded(
    *,
    now: datetime,
    zone: str = "UTC",
    nudge_time: str = "07:00",
    days: str = "Every day",
    quiet: tuple[time, time] | None = None,
) -> Coachee:
    """A user who went through onboarding at `now`, through the pure coach."""
    player = CoachPlayer(now=now - timedelta(minutes=5))
    player.onboard(days=days, time=nudge_time, zone=zone)
    state = player.state
    if quiet is not None:
        profile = state.profile.model_copy(update={"quiet_start": quiet[0], "quiet_end": quiet[1]})
        state = state.model_copy(update={"profile": profile})
    return state


def add_users(
    service: CoachService, states: dict[str, Coachee], *, now: datetime, platform: str = PLATFORM
) -> None:
    """Store users (chat id -> state) in one transaction, with their next nudge time."""
    with unit_of_work(service.engine) as session:
        for chat_id, state in states.items():
            user = create_user(session, platform, chat_id, now=now)
            save_and_reschedule(session, user, state, now=now)


def user_row(service: CoachService, chat_id: str, platform: str = PLATFORM) -> StoredUser:
    with unit_of_work(service.engine) as session:
        user = find_user(session, platform, chat_id)
        assert user is not None
        return user


def outbox_rows(service: CoachService, *, pending_only: bool = True) -> list[Any]:
    """The outbox rows (attribute access by column name), oldest first."""
    with unit_of_work(service.engine) as db:
        query = select(outbox).order_by(outbox.c.id)
        if pending_only:
            query = query.where(outbox.c.sent_at.is_(None))
        return list(db.execute(query).all())


@dataclass(frozen=True)
class Delivered:
    chat_id: str
    replies: tuple[Reply, ...]
    at: datetime | None

    @property
    def question(self) -> Reply:
        return next(r for r in reversed(self.replies) if r.choices)


class RecordingDelivery:
    """Delivers into a list; `results` makes chosen chats BLOCKED or FAILED."""

    def __init__(self, platform: str = PLATFORM, clock: SimClock | None = None) -> None:
        self.platform = platform
        self.clock = clock
        self.results: dict[str, DeliveryResult] = {}
        self.calls: list[str] = []
        self.sent: list[Delivered] = []

    async def deliver(self, chat_id: str, replies: Sequence[Reply]) -> DeliveryResult:
        self.calls.append(chat_id)
        result = self.results.get(chat_id, DeliveryResult.SENT)
        if result is DeliveryResult.SENT:
            at = self.clock() if self.clock else None
            self.sent.append(Delivered(chat_id, tuple(replies), at))
        return result

    def sent_to(self, chat_id: str) -> list[Delivered]:
        return [d for d in self.sent if d.chat_id == chat_id]


def service_for(url: str, clock: SimClock) -> CoachService:
    return CoachService(make_engine(url), default_programme(), clock)


# --- the process the crash test kills -----------------------------------------------------------


class _FileDelivery:
    """Records each delivered chat id in a file (flushed to disk) and hangs after `sends`."""

    def __init__(self, record: Path, sends: int) -> None:
        self.platform = PLATFORM
        self.record = record
        self.sends = sends
        self.count = 0

    async def deliver(self, chat_id: str, replies: Sequence[Reply]) -> DeliveryResult:
        if self.count >= self.sends:
            print("HANGING", flush=True)
            await asyncio.Event().wait()
        self.count += 1
        with self.record.open("a") as file:
            file.write(chat_id + "\n")
            file.flush()
            os.fsync(file.fileno())
        return DeliveryResult.SENT


def main(argv: list[str]) -> int:
    command, url, now_text = argv[:3]
    now = datetime.fromisoformat(now_text).astimezone(UTC)
    service = CoachService(make_engine(url), default_programme(), SimClock(now))
    if command == "claim-and-hang":
        report = claim_due(service, PLATFORM, now=now, grace=GRACE)
        print(f"CLAIMED {report.claimed} QUEUED {report.queued}", flush=True)
        wall_time.sleep(600)  # the test kills us here, between claiming and sending
        return 1
    if command == "tick-and-hang":
        delivery = _FileDelivery(Path(argv[3]), int(argv[4]))
        asyncio.run(run_nudge_tick(service, delivery, now=now, grace=GRACE, pacer=NoPacing()))
        return 1
    raise SystemExit(f"unknown command {command!r}")


def local_dates(start: datetime, end: datetime, zone_name: str) -> list[date]:
    """Every local date the interval [start, end) touches in the zone, plus one on each side."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(zone_name)
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
