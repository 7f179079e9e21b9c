"""Three bot processes on one database, a few hundred users, a simulated week.

Each worker is a real `python` process running `CoachService.handle` for user events and
`run_nudge_tick` for the nudges, on one database (PostgreSQL, and SQLite for comparison). The
test is the only clock: it sends every worker the same simulated "now", round after round (one
round per simulated hour), on their standard input; they answer on standard output.

It shows:
* every nudge is delivered exactly once, whichever process claims and sends it: the deliveries
  are exactly the (user, local day) pairs an independent model of the schedule expects;
* no user's events interleave: each worker records, for every locked unit of work, the span from
  the moment it holds the user's lock (after SELECT ... FOR UPDATE, or BEGIN IMMEDIATE on SQLite,
  and after the tick's FOR UPDATE SKIP LOCKED) to just before its commit, on the machine-wide
  monotonic clock; no two spans of one user overlap. Each round the same users get events in
  all three processes at once, so the locks are really contended (the test checks that too).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select

ROOT = Path(__file__).resolve().parent.parent
PLATFORM = "sim"
START = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)  # a Monday; no DST change in this week anywhere
ROUND = timedelta(hours=1)
DAYS = 7
USERS = 200
WORKERS = 3
ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Tokyo",
    "Australia/Sydney",
    "America/Los_Angeles",
)
DAY_CHOICES = {"Every day": frozenset(range(7)), "Weekdays": frozenset(range(5))}
NOISE_USERS_PER_ROUND = 3
SESSION_EVENTS_BEFORE_STOP = 3
# One behaviour per nudge: leave it, skip the day, or start a session (stopped part-way).
BEHAVIOURS = ("ignore", "skip", "session")


@dataclass(frozen=True)
class SimUser:
    chat_id: str
    zone: str
    nudge_time: wall_time
    days_label: str

    @property
    def training_days(self) -> frozenset[int]:
        return DAY_CHOICES[self.days_label]


def make_users(count: int, seed: int = 6) -> list[SimUser]:
    rng = random.Random(seed)
    users = []
    for number in range(count):
        minutes = rng.randrange(7 * 60, 22 * 60, 60)  # 07:00 to 21:00: outside quiet hours
        users.append(
            SimUser(
                chat_id=str(1000 + number),
                zone=rng.choice(ZONES),
                nudge_time=wall_time(minutes // 60, minutes % 60),
                days_label=rng.choice(sorted(DAY_CHOICES)),
            )
        )
    return users


def expected_nudges(user: SimUser, onboarded: datetime, end: datetime) -> set[date]:
    """The user's local days with a nudge, from the rules alone: every training day, at the
    nudge time, from onboarding on (no user here trains before the nudge, snoozes or pauses)."""
    zone = ZoneInfo(user.zone)
    day = onboarded.astimezone(zone).date()
    expected = set()
    while day <= end.astimezone(zone).date():
        instant = datetime.combine(day, user.nudge_time, tzinfo=zone)
        if day.weekday() in user.training_days and onboarded <= instant <= end:
            expected.add(day)
        day += timedelta(days=1)
    return expected


def nudge_instants(user: SimUser, end: datetime) -> set[datetime]:
    zone = ZoneInfo(user.zone)
    day = START.astimezone(zone).date() - timedelta(days=1)
    instants = set()
    while day <= end.astimezone(zone).date():
        instants.add(datetime.combine(day, user.nudge_time, tzinfo=zone).astimezone(UTC))
        day += timedelta(days=1)
    return instants


# --- the worker process ---------------------------------------------------------------------


def worker_main(url: str) -> None:  # pragma: no cover - runs in the worker processes
    """Read one JSON command per line, act on it, answer one JSON line."""
    import asyncio

    import bot.nudges.tick as nudge_tick
    import bot.service as service_module
    from bot.delivery import DeliveryResult
    from bot.service import CoachService
    from bot.store.db import make_engine
    from conversations.events import Choose, Command, Event, Text
    from conversations.replies import Reply
    from conversations.state import Step
    from data.programme import default_programme

    state: dict[str, Any] = {"now": START, "ticks": 0}
    open_spans: list[tuple[str, int]] = []
    spans: list[tuple[str, int, int]] = []
    deliveries: list[tuple[str, str]] = []
    errors: list[str] = []

    def clock() -> datetime:
        # Every call a millisecond later, so one user's events keep their order.
        state["ticks"] += 1
        return state["now"] + timedelta(milliseconds=state["ticks"])

    original_get_or_create_user = service_module.get_or_create_user
    original_claim_one = nudge_tick._claim_one
    original_unit_of_work = service_module.unit_of_work

    def get_or_create_user(session: Session, platform: str, chat_id: str, **kwargs: Any) -> Any:
        user = original_get_or_create_user(session, platform, chat_id, **kwargs)
        open_spans.append((chat_id, time.monotonic_ns()))  # the user's row is locked from here
        return user

    def claim_one(service: Any, session: Session, user: Any, *args: Any) -> None:
        open_spans.append((user.chat_id, time.monotonic_ns()))
        original_claim_one(service, session, user, *args)

    @contextmanager
    def unit_of_work(engine: Any) -> Iterator[Session]:
        with original_unit_of_work(engine) as session:
            try:
                yield session
            finally:
                # Still inside the transaction: the locks are held until the commit after this.
                end = time.monotonic_ns()
                spans.extend((chat_id, start, end) for chat_id, start in open_spans)
                open_spans.clear()

    service_module.get_or_create_user = get_or_create_user  # type: ignore[assignment]
    service_module.unit_of_work = unit_of_work  # type: ignore[assignment]
    nudge_tick._claim_one = claim_one  # type: ignore[assignment]
    nudge_tick.unit_of_work = unit_of_work  # type: ignore[assignment]

    class RecordingDelivery:
        platform = PLATFORM

        async def deliver(self, chat_id: str, replies: Sequence[Reply]) -> DeliveryResult:
            deliveries.append((chat_id, clock().isoformat()))
            return DeliveryResult.SENT

    service = CoachService(make_engine(url), default_programme(), clock)
    delivery = RecordingDelivery()
    answers = {
        Step.SCREEN_URGENT: "No",
        Step.SCREEN_CLINICIAN: "No",
        Step.SESSION_INTRO: "Let's go",
        Step.HOLD_READY: "Start",
        Step.HOLDING: "Done",
        Step.ASK_FEEL: "Working",
        Step.ASK_CHECKIN: "Yes",
    }

    def handle(chat_id: str, event: Event) -> Step:
        return service.handle(PLATFORM, chat_id, event).state.flow.step

    def act(item: list[Any]) -> None:
        kind, chat_id = item[0], item[1]
        if kind == "lines":
            for line in item[2]:
                event = Command(line[1:]) if line.startswith("/") else Text(line)
                handle(chat_id, event)
        elif kind == "noise":
            handle(chat_id, Choose("noise", step_no=-1))  # a stale button: changes nothing
        elif kind == "skip":
            handle(chat_id, Choose("skip_today"))
        elif kind == "session":
            step = handle(chat_id, Choose("start_now"))
            for _ in range(SESSION_EVENTS_BEFORE_STOP):
                if step not in answers:
                    break
                step = handle(chat_id, Text(answers[step]))
            handle(chat_id, Command("stop"))

    for line in sys.stdin:
        command = json.loads(line)
        state["now"] = datetime.fromisoformat(command["now"])
        state["ticks"] = 0
        for phase in ("before", "tick", "after"):
            if phase == "tick":
                if command["tick"]:
                    try:
                        asyncio.run(
                            nudge_tick.run_nudge_tick(
                                service,
                                delivery,
                                now=state["now"],
                                grace=timedelta(hours=2),
                                pacer=nudge_tick.NoPacing(),
                            )
                        )
                    except Exception:
                        errors.append(traceback.format_exc())
                continue
            for item in command[phase]:
                try:
                    act(item)
                except Exception:
                    errors.append(f"{item}: {traceback.format_exc()}")
        answer = {"pid": os.getpid(), "deliveries": deliveries, "spans": spans, "errors": errors}
        print(json.dumps(answer), flush=True)
        deliveries.clear()
        spans.clear()
        errors.clear()


# --- the test -------------------------------------------------------------------------------


class Worker:
    def __init__(self, url: str, log: Path) -> None:
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.test_multiprocess", url],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    def send(self, command: dict[str, Any]) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(json.dumps(command) + "\n")
        stdin.flush()

    def receive(self) -> dict[str, Any]:
        stdout: IO[str] | None = self.process.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            self.log.flush()
            raise AssertionError(f"worker died: {Path(self.log.name).read_text()[-3000:]}")
        return dict(json.loads(line))

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.log.close()


def onboarding_lines(user: SimUser) -> list[str]:
    hhmm = f"{user.nudge_time.hour}:{user.nudge_time.minute:02d}"
    return ["/start", "No", "No", "1", "New to this", user.days_label, hhmm, user.zone]


def overlaps(spans: list[tuple[str, int, int, int]]) -> tuple[list[str], int]:
    """Users whose locked spans overlap, and how many same-user handovers between two
    processes came within a millisecond (proof the locks were really contended)."""
    by_user: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for chat_id, start, end, pid in spans:
        by_user[chat_id].append((start, end, pid))
    bad: list[str] = []
    close_handovers = 0
    for chat_id, items in by_user.items():
        items.sort()
        for (_, end, pid), (start, _, next_pid) in zip(items, items[1:], strict=False):
            if start < end:
                bad.append(f"user {chat_id}: pid {pid} until {end}, pid {next_pid} from {start}")
            elif pid != next_pid and start - end < 1_000_000:
                close_handovers += 1
    return bad, close_handovers


@pytest.mark.slow
def test_three_processes_one_database_a_simulated_week(db_url: str, tmp_path: Path) -> None:
    from bot.store.db import make_engine

    make_engine(db_url)  # migrate once here; the workers find the schema ready
    users = make_users(USERS)
    rng = random.Random(61)
    workers = [Worker(db_url, tmp_path / f"worker{n}.log") for n in range(WORKERS)]
    deliveries: list[tuple[str, datetime, int]] = []
    all_spans: list[tuple[str, int, int, int]] = []
    errors: list[str] = []
    instants = {user.chat_id: nudge_instants(user, START + timedelta(days=DAYS)) for user in users}
    zones = {user.chat_id: ZoneInfo(user.zone) for user in users}

    def run_round(now: datetime, plan: list[dict[str, list[Any]]], tick: bool) -> None:
        for worker, items in zip(workers, plan, strict=True):
            worker.send({"now": now.isoformat(), "tick": tick, **items})
        for worker in workers:
            answer = worker.receive()
            errors.extend(answer["errors"])
            all_spans.extend((c, s, e, answer["pid"]) for c, s, e in answer["spans"])
            deliveries.extend(
                (chat_id, datetime.fromisoformat(at), answer["pid"])
                for chat_id, at in answer["deliveries"]
            )

    try:
        # Round 0: everyone signs up, spread over the three processes.
        plan: list[dict[str, list[Any]]] = [{"before": [], "after": []} for _ in workers]
        for number, user in enumerate(users):
            plan[number % WORKERS]["before"].append(
                ["lines", user.chat_id, onboarding_lines(user)]
            )
        run_round(START, plan, tick=False)
        assert errors == []
        onboarded = START + timedelta(seconds=1)  # every onboarding event is within a second

        responses: list[list[Any]] = []
        rounds = int(timedelta(days=DAYS) / ROUND)
        previous = START
        for number in range(1, rounds + 1):
            now = START + number * ROUND
            due_now = {
                c for c, times in instants.items() if any(previous < t <= now for t in times)
            }
            plan = [{"before": [], "after": []} for _ in workers]
            # The same few users poke all three processes at once, before the tick runs.
            calm = sorted(set(instants) - due_now)
            for chat_id in rng.sample(calm, NOISE_USERS_PER_ROUND):
                for items in plan:
                    items["before"].append(["noise", chat_id])
            for item in responses:
                plan[rng.randrange(WORKERS)]["after"].append(item)
            delivered_before = len(deliveries)
            run_round(now, plan, tick=True)
            responses = []
            for chat_id, _, _ in deliveries[delivered_before:]:
                behaviour = rng.choice(BEHAVIOURS)
                if behaviour != "ignore":
                    responses.append([behaviour, chat_id])
            previous = now
    finally:
        for worker in workers:
            worker.close()

    assert errors == [], errors[0]
    end = START + timedelta(days=DAYS)
    got = Counter((chat_id, at.astimezone(zones[chat_id]).date()) for chat_id, at, _ in deliveries)
    duplicates = {key: count for key, count in got.items() if count > 1}
    expected = {
        (user.chat_id, day) for user in users for day in expected_nudges(user, onboarded, end)
    }
    if duplicates:
        chat_id = next(iter(duplicates))[0]
        mine = [(at.isoformat(), pid) for c, at, pid in deliveries if c == chat_id]
        user = next(u for u in users if u.chat_id == chat_id)
        raise AssertionError(f"{len(duplicates)} duplicated; {user}: {mine}")
    assert set(got) - expected == set(), "unexpected nudges"
    assert expected - set(got) == set(), "missed nudges"
    assert len(expected) > USERS * 4  # the week really ran

    bad, close_handovers = overlaps(all_spans)
    assert bad == [], bad[:5]
    assert close_handovers > 0, "the processes never contended for one user"

    with Session(make_engine(db_url, create=False)) as session:
        from bot.store.outbox import OutboxMessage

        pending = session.exec(
            select(OutboxMessage).where(col(OutboxMessage.sent_at).is_(None))
        ).all()
        assert pending == []


if __name__ == "__main__":  # pragma: no cover - a worker process
    worker_main(sys.argv[1])
