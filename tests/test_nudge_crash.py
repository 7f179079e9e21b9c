"""Crashes around the nudge tick, for real: a process claims the due nudges (or starts sending
them) and is killed with SIGKILL; after a restart every user gets their nudge exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.nudge_tick import LEASE, run_nudge_tick
from bot.service import CoachService
from tests.nudge_helpers import (
    GRACE,
    NO_QUIET,
    RecordingDelivery,
    SimClock,
    add_users,
    onboarded,
    outbox_rows,
    service_for,
    user_row,
)

ROOT = Path(__file__).resolve().parent.parent
USERS = 50
ONBOARDED = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
DUE = datetime(2026, 6, 1, 7, 0, tzinfo=UTC)


def chats() -> list[str]:
    return [f"chat{n:02d}" for n in range(USERS)]


def setup(tmp_path: Path) -> tuple[str, CoachService, SimClock]:
    url = f"sqlite:///{tmp_path / 'crash.sqlite3'}"
    clock = SimClock(ONBOARDED)
    service = service_for(url, clock)
    states = {c: onboarded(now=ONBOARDED, nudge_time="07:00", quiet=NO_QUIET) for c in chats()}
    add_users(service, states, now=ONBOARDED)
    return url, service, clock


def start(url: str, now: datetime, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.nudge_helpers", extra[0], url, now.isoformat(), *extra[1:]],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def wait_for_line_then_kill(process: subprocess.Popen[str], prefix: str) -> str:
    """Read until the process says `prefix`, then SIGKILL it (no clean-up runs)."""
    assert process.stdout is not None
    try:
        for line in process.stdout:
            if line.startswith(prefix):
                return line.strip()
        raise AssertionError(f"process ended without {prefix!r}: {process.stderr.read()}")  # type: ignore[union-attr]
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


async def restart_tick(
    service: CoachService, clock: SimClock, delivery: RecordingDelivery, now: datetime
) -> None:
    clock.now = now
    await run_nudge_tick(service, delivery, now=now, grace=GRACE)


async def test_killed_between_claim_and_send_no_nudge_is_lost_or_doubled(tmp_path: Path) -> None:
    url, service, clock = setup(tmp_path)
    line = wait_for_line_then_kill(start(url, DUE, "claim-and-hang"), "CLAIMED")
    assert line == f"CLAIMED {USERS} QUEUED {USERS}"

    # The claim committed: state and outbox together.
    assert len(outbox_rows(service)) == USERS
    for chat in chats():
        user = user_row(service, chat)
        assert user.coachee.activity.last_nudged_on == DUE.date()
        assert user.next_nudge_at == DUE + timedelta(days=1)

    delivery = RecordingDelivery(clock=clock)
    for seconds in (20, 40, 600):  # the restarted bot ticks on
        await restart_tick(service, clock, delivery, DUE + timedelta(seconds=seconds))
    assert Counter(d.chat_id for d in delivery.sent) == Counter(chats())
    assert outbox_rows(service) == []


async def test_killed_in_the_middle_of_sending_no_nudge_is_lost_or_doubled(
    tmp_path: Path,
) -> None:
    url, service, clock = setup(tmp_path)
    # The first process claims and starts sending, records 20 sends on disk, then hangs in the
    # 21st delivery and is killed.
    record = tmp_path / "sent-before-the-crash.txt"
    wait_for_line_then_kill(start(url, DUE, "tick-and-hang", str(record), "20"), "HANGING")
    before_crash = record.read_text().split()
    assert len(before_crash) == 20

    delivery = RecordingDelivery(clock=clock)
    # Soon after the restart: the rows that process held are still leased to it.
    await restart_tick(service, clock, delivery, DUE + timedelta(seconds=40))
    leased = USERS - len(before_crash) - len(delivery.sent)
    assert leased > 0
    # Once the lease runs out they go too.
    await restart_tick(service, clock, delivery, DUE + timedelta(seconds=40) + LEASE)
    await restart_tick(service, clock, delivery, DUE + timedelta(minutes=30))

    everything = before_crash + [d.chat_id for d in delivery.sent]
    assert Counter(everything) == Counter(chats())
    assert outbox_rows(service) == []


@pytest.mark.parametrize("restart_after", [timedelta(hours=1), timedelta(hours=3)])
async def test_a_restart_after_a_crash_sends_within_grace_and_drops_after(
    tmp_path: Path, restart_after: timedelta
) -> None:
    url, service, clock = setup(tmp_path)
    wait_for_line_then_kill(start(url, DUE, "claim-and-hang"), "CLAIMED")
    delivery = RecordingDelivery(clock=clock)
    await restart_tick(service, clock, delivery, DUE + restart_after)
    assert len(delivery.sent) == (USERS if restart_after <= GRACE else 0)
    assert outbox_rows(service) == []
    await restart_tick(service, clock, delivery, DUE + timedelta(days=1))
    assert len(delivery.sent) == (2 * USERS if restart_after <= GRACE else USERS)
