"""The store on a real SQLite file and on PostgreSQL: state round-trips, history rows, one
transaction per event."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select, text, update

from bot import store
from bot.service import CoachService
from bot.store import (
    StaleUser,
    checkins_table,
    create_user,
    find_user,
    holds_table,
    load_coachee,
    make_engine,
    save_coachee,
    sessions_table,
    sets_table,
    unit_of_work,
    users,
)
from conversations.events import Command, Text
from conversations.state import Coachee, Profile, Step
from data.programme import default_programme
from tests.coach_player import CoachPlayer

CLOCK = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Engine:
    """A fresh database, on SQLite and on PostgreSQL (the db_url fixture in conftest.py)."""
    return make_engine(db_url)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / 'coach.sqlite3'}")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=2)
        return self.now


def test_sqlite_runs_in_wal_mode(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_state_round_trips_mid_session(engine: Engine) -> None:
    player = CoachPlayer()
    player.onboard(days="Mon, Wed, Fri", time="7:30", zone="Berlin")
    player.run_session()
    player.command("session")
    player.tap("Let's go")
    player.tap("Start")
    player.time_up()
    player.tap("Shaky")
    state = player.state
    assert state.flow.session is not None
    with unit_of_work(engine) as session:
        user = create_user(session, "test", "42", now=player.clock)
        save_coachee(session, user, state, now=player.clock)
    with unit_of_work(engine) as db:
        user = find_user(db, "test", "42")
        assert user is not None
        assert load_coachee(db, user) == state


def test_a_finished_session_is_stored_with_every_hold_set_and_checkin(engine: Engine) -> None:
    programme = default_programme()
    service = CoachService(engine, programme, Clock())
    script = ["/start", "No", "No", "1", "New to this", "Every day", "08:00", "UTC", "/session"]
    for line in script:
        service.handle("test", "7", Text(line))
    service.handle("test", "7", Text("Let's go"))
    while True:
        state = service.state_of("test", "7")
        assert state is not None
        answer = {
            Step.HOLD_READY: "Start",
            Step.HOLDING: "Done",
            Step.ASK_FEEL: "Working",
            Step.ASK_CHECKIN: "Yes",
        }.get(state.flow.step)
        if answer is None:
            break
        service.handle("test", "7", Text(answer))
    assert state.flow.step is Step.IDLE
    stage = programme.stage(1)
    holds = sum(
        count * len(programme.exercise(exercise_id).side_names)
        for exercise_id, count in ((e.id, e.dose.floor) for e in stage.exercises)
    )
    with unit_of_work(engine) as db:
        (row,) = db.execute(select(sessions_table)).all()
        assert row.completed
        assert row.decision == "repeat"
        assert row.started_at.tzinfo is not None

        def count(table: object) -> int:
            return int(db.execute(select(func.count()).select_from(table)).scalar_one())

        assert count(holds_table) == holds
        assert count(sets_table) == len(stage.exercises)  # one set per exercise, both sides
        assert count(checkins_table) == len(stage.exercises)
        user = find_user(db, "test", "7")
        assert user is not None
        assert user.coachee.activity.total_sessions == 1


def test_a_failing_event_leaves_nothing_half_written(engine: Engine) -> None:
    service = CoachService(engine, default_programme(), Clock())
    service.handle("test", "9", Command("start"))
    before = service.state_of("test", "9")

    class Boom(Exception):
        pass

    def half_write() -> None:
        with unit_of_work(engine) as db:
            user = find_user(db, "test", "9")
            assert user is not None
            coachee = load_coachee(db, user)
            flow = coachee.flow.model_copy(update={"step_no": 99})
            save_coachee(db, user, coachee.model_copy(update={"flow": flow}), now=CLOCK)
            raise Boom

    with pytest.raises(Boom):
        half_write()
    assert service.state_of("test", "9") == before


def test_users_of_different_platforms_are_apart(engine: Engine) -> None:
    service = CoachService(engine, default_programme(), Clock())
    service.handle("terminal", "1", Command("start"))
    service.handle("telegram", "1", Command("help"))
    terminal = service.state_of("terminal", "1")
    telegram = service.state_of("telegram", "1")
    assert terminal is not None
    assert telegram is not None
    assert terminal.flow.step is Step.SCREEN_URGENT
    assert telegram.flow.step is Step.NEW


def test_naive_datetimes_are_refused(engine: Engine) -> None:
    def store_naive() -> None:
        with unit_of_work(engine) as db:
            naive = datetime(2026, 1, 1)  # noqa: DTZ001 - the point of the test
            db.execute(insert(users).values(platform="t", chat_id="x", created_at=naive))

    with pytest.raises(Exception, match="naive"):
        store_naive()


def test_two_first_messages_at_once_make_one_user(engine: Engine) -> None:
    """A brand-new user's first updates can reach two processes at the same moment."""
    service = CoachService(engine, default_programme(), Clock())
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def first_message(chat_id: str) -> None:
        start.wait()
        try:
            service.handle("test", chat_id, Command("start"))
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=first_message, args=(f"new-{i % 2}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with unit_of_work(engine) as db:
        chats = sorted(db.execute(select(users.c.chat_id)).scalars())
    assert chats == ["new-0", "new-1"]


# --- the state document ------------------------------------------------------------------------


class ProfileWithTone(Profile):
    """The profile as a later change might grow it: one new field, with a default."""

    tone: str = "warm"


class CoacheeWithTone(Coachee):
    profile: ProfileWithTone = ProfileWithTone()


def test_a_new_defaulted_state_field_is_stored_without_a_migration(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A field added to the coach's state persists with no column and no migration: the store
    writes whatever the model dumps and reads it back through the model."""
    monkeypatch.setattr(store, "Coachee", CoacheeWithTone)
    state = CoacheeWithTone(profile=ProfileWithTone(zone="Europe/Berlin", tone="brisk"))
    with unit_of_work(engine) as db:
        user = create_user(db, "test", "tone", now=CLOCK)
        save_coachee(db, user, state, now=CLOCK)
    with unit_of_work(engine) as db:
        user = find_user(db, "test", "tone")
        assert user is not None
        loaded = load_coachee(db, user)
    assert isinstance(loaded, CoacheeWithTone)
    assert loaded.profile.tone == "brisk"
    assert loaded == state


def test_a_document_written_before_newer_fields_loads_with_their_defaults(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with unit_of_work(engine) as db:
        user = create_user(db, "test", "old", now=CLOCK)
        # A document from before `tone` (and with whole parts missing): as an older coach wrote.
        db.execute(
            update(users)
            .where(users.c.id == user.id)
            .values(state={"profile": {"zone": "Asia/Tokyo", "onboarded": True}})
        )
    monkeypatch.setattr(store, "Coachee", CoacheeWithTone)
    with unit_of_work(engine) as db:
        user = find_user(db, "test", "old")
        assert user is not None
        loaded = load_coachee(db, user)
    assert isinstance(loaded, CoacheeWithTone)
    assert loaded.profile.tone == "warm"
    assert loaded.profile.zone == "Asia/Tokyo"
    assert loaded.profile.onboarded
    assert loaded.flow == Coachee().flow
    assert loaded.position == Coachee().position


def test_the_query_columns_follow_the_document(engine: Engine) -> None:
    player = CoachPlayer()
    player.onboard(days="Mon, Wed, Fri", time="7:30", zone="Berlin")
    player.command("session")
    player.tap("Let's go")
    player.tap("Start")
    state = player.state
    assert state.flow.step is Step.HOLDING
    with unit_of_work(engine) as db:
        user = create_user(db, "test", "q", now=player.clock)
        save_coachee(db, user, state, now=player.clock)
    with unit_of_work(engine) as db:
        row = db.execute(
            select(users.c.step, users.c.onboarded, users.c.stage, users.c.version)
        ).one()
    assert tuple(row) == ("holding", True, state.position.stage, 1)


def test_a_write_from_a_stale_read_is_refused(engine: Engine) -> None:
    """Two writers that read the same version: the second one's write changes nothing."""
    with unit_of_work(engine) as db:
        create_user(db, "test", "v", now=CLOCK)
    with unit_of_work(engine) as db:
        first = find_user(db, "test", "v")
    with unit_of_work(engine) as db:
        second = find_user(db, "test", "v")
    assert first is not None
    assert second is not None
    with unit_of_work(engine) as db:
        save_coachee(db, first, Coachee(profile=Profile(zone="Europe/Paris")), now=CLOCK)
    with pytest.raises(StaleUser), unit_of_work(engine) as db:
        save_coachee(db, second, Coachee(profile=Profile(zone="Asia/Tokyo")), now=CLOCK)
    with unit_of_work(engine) as db:
        stored = find_user(db, "test", "v")
    assert stored is not None
    assert stored.coachee.profile.zone == "Europe/Paris"
    assert stored.version == 1


def test_the_safety_state_round_trips_without_new_columns(engine: Engine) -> None:
    """A flag, its day, the gentle week, the worse count, the swaps and the waiting screen's
    reason are stored in the state document."""
    player = CoachPlayer(now=CLOCK)
    player.onboard()
    position = player.state.position.model_copy(
        update={
            "flag": "clinician",
            "flagged_at": CLOCK,
            "rest_day": CLOCK.date(),
            "cleared_on": CLOCK.date() - timedelta(days=40),
            "worse_in_row": 2,
            "gentle_until": CLOCK.date() + timedelta(days=6),
            "neutral_spine": True,
        }
    )
    flow = player.state.flow.model_copy(update={"screen_reason": "stop_spreading"})
    coachee = player.state.model_copy(update={"position": position, "flow": flow})
    with unit_of_work(engine) as db:
        user = create_user(db, "test", "safety", now=CLOCK)
        save_coachee(db, user, coachee, now=CLOCK)
    with unit_of_work(engine) as db:
        found = find_user(db, "test", "safety")
        assert found is not None
        assert load_coachee(db, found) == coachee
