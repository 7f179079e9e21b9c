"""Users with a training history, built through the real coach and stored through the real store.

`History` drives `CoachService.handle` event by event with a clock that moves only when the
helper moves it, exactly as an adapter would (`real=True`, the default). For long histories
(60 sessions is about 8,000 events) `real=False` plays the same events through the pure
`conversations.coach.transition` and persists the result with the store functions the service
uses (`save_coachee`, `record_session`), one transaction per session: same states, same rows,
a fraction of the time.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table
from sqlalchemy import select as select_rows
from sqlmodel import SQLModel

from bot.nudge_tick import save_and_reschedule
from bot.service import CoachService
from bot.store import (
    find_user,
    load_coachee,
    make_engine,
    record_session,
    unit_of_work,
)
from conversations.coach import transition
from conversations.events import Choose, Event, HoldTimeUp, Text
from conversations.flow import Outcome
from conversations.replies import RecordSession
from conversations.state import Coachee, Step
from data.programme import default_programme

START = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # a Monday, 18:00 in Berlin
PLATFORM = "test"
ONBOARDING = ("/start", "No", "No", "2", "A little", "Every day", "07:00", "UTC")


class TestClock:
    """A clock that stands still until a test moves it."""

    __test__ = False  # not a pytest test class

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def move(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass(frozen=True)
class Day:
    """How one session goes: the feeling of every set, one optional pain report, the check-ins.

    `pain` is (score, kind) reported on set number `pain_on_set` (1-based) instead of `feeling`;
    a score of 6+ or a sharp or spreading kind is a safety stop. `stop_after_sets` ends the
    session with /stop after that many sets. `gap_days` is how many days pass before it."""

    feeling: str = "steady"
    checkin: str = "yes"
    pain: tuple[int, str] | None = None
    pain_on_set: int = 1
    stop_after_sets: int | None = None
    gap_days: float = 1


STEADY = Day()


def varied_days(count: int) -> list[Day]:
    """A believable history: mostly steady, some working, a shaky spell, mild pain now and then,
    one safety stop, a stopped session and a few missed days."""
    days: list[Day] = []
    for number in range(1, count + 1):
        day = STEADY
        if number % 7 == 3:
            day = Day(feeling="working")
        if number % 11 == 0:
            day = Day(pain=(3, "dull"), pain_on_set=2)
        if number in (15, 16):
            day = Day(feeling="shaky")
        if number == 24:
            day = Day(pain=(7, "dull"), pain_on_set=3)
        if number == 33:
            day = Day(stop_after_sets=2)
        if number == 41:
            day = Day(pain=(2, "dull"), pain_on_set=1, gap_days=4)
        if number % 13 == 0:
            day = Day(checkin="not_sure", gap_days=2)
        days.append(day)
    return days


class History:
    """One user of `service`, trained session by session."""

    def __init__(
        self,
        service: CoachService,
        chat_id: str,
        clock: TestClock,
        *,
        platform: str = PLATFORM,
        real: bool = True,
    ) -> None:
        self.service = service
        self.chat_id = chat_id
        self.clock = clock
        self.platform = platform
        self.real = real
        self.state: Coachee | None = None
        self.outcomes: list[Outcome] = []

    # --- one event ----------------------------------------------------------------------------

    def event(self, event: Event, *, seconds: float = 2) -> Outcome:
        self.clock.move(seconds=seconds)
        if self.real or self.state is None:
            outcome = self.service.handle(self.platform, self.chat_id, event)
        else:
            outcome = transition(
                self.state, event, now=self.clock(), programme=self.service.programme
            )
        self.state = outcome.state
        self.outcomes.append(outcome)
        return outcome

    def send(self, text: str) -> Outcome:
        return self.event(Text(text))

    def choose(self, choice: str) -> Outcome:
        return self.event(Choose(choice))

    @property
    def step(self) -> Step:
        assert self.state is not None
        return self.state.flow.step

    # --- stretches ----------------------------------------------------------------------------

    def onboard(self, lines: tuple[str, ...] = ONBOARDING) -> History:
        """Always through the service: the user row must exist before any pure playing."""
        real, self.real = self.real, True
        for line in lines:
            self.send(line)
        self.real = real
        assert self.step is Step.IDLE, self.outcomes[-1].replies[-1].text
        return self

    def session(self, day: Day = STEADY) -> Outcome:
        """One session from /session to its end, answering as `day` says."""
        if not self.real:
            return self._pure_session(day)
        return self._play_session(day)

    def sessions(self, days: list[Day]) -> History:
        for day in days:
            self.clock.move(days=day.gap_days)
            self.session(day)
        return self

    def _play_session(self, day: Day) -> Outcome:
        self.send("/session")
        # The way in, by the coach's rules: clearing a pause, the screen, the morning check.
        answers = {
            Step.SAFETY_PAUSED: "cleared",
            Step.SCREEN_URGENT: "no",
            Step.SCREEN_CLINICIAN: "no",
            Step.ASK_BONE_HEALTH: "no",
            Step.MORNING_CHECK: "same",
        }
        while self.step is not Step.SESSION_INTRO:
            self.choose(answers[self.step])
        self.choose("go")
        sets = 0
        last = self.outcomes[-1]
        while True:
            step = self.step
            if step is Step.HOLD_READY:
                if day.stop_after_sets is not None and sets >= day.stop_after_sets:
                    return self.send("/stop")
                self.choose("start")
            elif step is Step.HOLDING:
                assert self.state is not None
                session = self.state.flow.session
                assert session is not None
                exercise_id, _ = session.plan[session.exercise_index]
                seconds = self.service.programme.exercise(exercise_id).seconds
                self.event(HoldTimeUp(self.state.flow.step_no), seconds=seconds)
            elif step is Step.ASK_FEEL:
                sets += 1
                if day.pain is not None and sets == day.pain_on_set:
                    self.choose("pain")
                else:
                    self.choose(day.feeling)
            elif step is Step.ASK_PAIN_SCORE:
                assert day.pain is not None
                self.choose(f"p{day.pain[0]}")
            elif step is Step.ASK_PAIN_KIND:
                assert day.pain is not None
                self.choose(day.pain[1])
            elif step is Step.ASK_CHECKIN:
                self.choose(day.checkin)
            else:
                return last
            last = self.outcomes[-1]

    def _pure_session(self, day: Day) -> Outcome:
        """Play the session on the pure coach, then store it as the service would."""
        with unit_of_work(self.service.engine) as db:
            user = find_user(db, self.platform, self.chat_id)
            assert user is not None
            self.state = load_coachee(db, user)
        first = len(self.outcomes)
        last = self._play_session(day)
        with unit_of_work(self.service.engine) as db:
            user = find_user(db, self.platform, self.chat_id, lock=True)
            assert user is not None
            assert user.id is not None
            assert self.state is not None
            now = self.clock()
            user.active = True
            user.last_seen_at = now
            save_and_reschedule(db, user, self.state, now=now)
            for outcome in self.outcomes[first:]:
                for effect in outcome.effects:
                    if isinstance(effect, RecordSession):
                        record_session(db, user.id, effect.record)
        return last


def new_service(tmp_path: Path, start: datetime = START) -> tuple[CoachService, TestClock]:
    """A service on a fresh SQLite file with a test clock."""
    clock = TestClock(start)
    engine: Engine = make_engine(f"sqlite:///{tmp_path / 'coach.sqlite3'}")
    return CoachService(engine, default_programme(), clock), clock


def user_with_sessions(
    service: CoachService,
    clock: TestClock,
    chat_id: str,
    count: int,
    *,
    days: list[Day] | None = None,
    real: bool | None = None,
) -> History:
    """An onboarded user with `count` sessions (a varied history unless `days` is given)."""
    history = History(service, chat_id, clock, real=count <= 12 if real is None else real)
    history.onboard()
    return history.sessions(days if days is not None else varied_days(count))


def all_tables() -> list[Table]:
    """Every table the models define, parents first (every model module imported)."""
    try:
        from bot.migrations.models import import_models
    except ImportError:  # pragma: no cover - before migrations existed
        pass
    else:
        import_models()
    return list(SQLModel.metadata.sorted_tables)


def dump_tables(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, as dicts in primary-key order."""
    dump: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as connection:
        for table in all_tables():
            query = select_rows(table).order_by(*table.primary_key.columns)
            dump[table.name] = [dict(row._mapping) for row in connection.execute(query)]
    return dump


def user_id_of(service: CoachService, chat_id: str, platform: str = PLATFORM) -> int:
    with unit_of_work(service.engine) as db:
        user = find_user(db, platform, chat_id)
        assert user is not None
        assert user.id is not None
        return user.id


def copy_service(
    service: CoachService, clock: TestClock, folder: Path
) -> tuple[CoachService, TestClock]:
    """A service on a copy of `service`'s SQLite database (built once, used by many tests)."""
    target = folder / "copy.sqlite3"
    source = service.engine.raw_connection()
    try:
        with sqlite3.connect(target) as copy:
            source.driver_connection.backup(copy)  # type: ignore[union-attr]
    finally:
        source.close()
    copy_clock = TestClock(clock())
    engine = make_engine(f"sqlite:///{target}")
    return CoachService(engine, service.programme, copy_clock), copy_clock
