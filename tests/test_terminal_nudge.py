"""Nudges in the terminal chat: the tick at start-up shows a due nudge in the running chat, a
typed number answers its buttons, other terminal users' nudges stay theirs, and (slow, for real)
a nudge set for the next minute through /settings appears in a running `python -m bot`."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.terminal.chat import PLATFORM, TerminalChat
from tests.clocks import nudge_time_far_from_now, wall_clock_now
from tests.nudge_helpers import (
    GRACE,
    NO_QUIET,
    SimClock,
    add_users,
    onboarded,
    outbox_rows,
    service_for,
    user_row,
)
from tests.terminal_process import TerminalProcess

ONBOARDED = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)
DUE = datetime(2026, 6, 1, 7, 0, tzinfo=UTC)
NUDGE = "Time for your spine session"


async def run_chat(tmp_path: Path, now: datetime, typed: str, *, others: bool = False) -> str:
    clock = SimClock(ONBOARDED)
    service = service_for(f"sqlite:///{tmp_path / 'coach.sqlite3'}", clock)
    users = {"local": onboarded(now=ONBOARDED, nudge_time="07:00", quiet=NO_QUIET)}
    if others:
        users["someone-else"] = users["local"]
    add_users(service, users, now=ONBOARDED, platform=PLATFORM)
    clock.now = now
    out = io.StringIO()
    chat = TerminalChat(
        service, "local", stdin=io.StringIO(typed), stdout=out, tick_seconds=3600, grace=GRACE
    )
    await chat.run()
    if others:
        other = user_row(service, "someone-else", PLATFORM)
        assert other.next_nudge_at == DUE  # still due: only its own chat may claim it
        assert other.coachee.activity.last_nudged_on is None
        assert outbox_rows(service) == []
    return out.getvalue()


async def test_a_nudge_due_at_start_up_appears_and_a_typed_number_answers_it(
    tmp_path: Path,
) -> None:
    out = await run_chat(tmp_path, DUE + timedelta(minutes=30), "2\n", others=True)
    nudge = out.index(NUDGE)
    assert "[1] Start now   [2] In 30 min   [3] In 2 hours   [4] Skip today" in out[nudge:]
    assert "I'll remind you again at 08:00" in out[nudge:]


async def test_a_nudge_missed_by_more_than_the_grace_window_is_not_shown(tmp_path: Path) -> None:
    out = await run_chat(tmp_path, DUE + timedelta(hours=3), "")
    assert NUDGE not in out
    assert out.rstrip().endswith("run me again to carry on.")


# --- for real: a running `python -m bot` ---------------------------------------------------------


@pytest.mark.slow
def test_a_nudge_set_for_the_next_minute_appears_in_the_running_chat(tmp_path: Path) -> None:
    coach = TerminalProcess(tmp_path, NUDGE_TICK_SECONDS="1")
    try:
        far_off = nudge_time_far_from_now()
        coach.say("/start", "No", "No", "3", "A little", "Every day", far_off, "UTC")
        coach.expect("You're all set")
        coach.say("/settings", "Quiet hours", "None")
        coach.expect("Saved.")
        now = wall_clock_now()
        # The next whole minute, or the one after when this one is nearly over.
        whole = now.replace(second=0, microsecond=0)
        minute = whole + timedelta(minutes=1 if now.second < 45 else 2)
        coach.say("Nudge time", minute.strftime("%H:%M"))
        coach.expect("Saved.")
        coach.say("Done")
        line = coach.expect(NUDGE, timeout=80)
        assert wall_clock_now() >= minute
        assert "Coach:" in line
        coach.expect("Start now")
        coach.say("1")  # the nudge's first button
        coach.expect("Let's go")
    finally:
        coach.kill()
