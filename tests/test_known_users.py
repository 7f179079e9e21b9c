"""The copies of users' rows that `CoachService` keeps between a user's messages: the next
message skips reading the row, and any write by someone else (another process, the nudge
tick, a block) makes the copy stale, so nothing that writer did is lost. On SQLite and on
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

import bot.service as service_module
from bench.run import ANSWERS
from bench.seed import ONBOARDING
from bot.service import CoachService
from bot.store.db import find_user, make_engine, set_next_nudge, unit_of_work, users
from conversations.events import Command, Event, Text
from conversations.state import Coachee, Step
from data.programme import default_programme

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=2)
        return self.now


@pytest.fixture
def engine(db_url: str) -> Engine:
    return make_engine(db_url)


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every statement the engine runs inside the block (BEGIN and COMMIT aside)."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()).upper())

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def reads_of_users(seen: list[str]) -> list[str]:
    return [s for s in seen if s.startswith("SELECT") and "FROM USERS" in s]


def events_of_a_session() -> list[Event]:
    """Onboarding and one whole session, typed, as the pure coach asks for them."""
    from conversations.coach import transition

    programme = default_programme()
    state, now, played = Coachee(), START, []
    lines = [*ONBOARDING, "/session"]
    while lines:
        line = lines.pop(0)
        now += timedelta(seconds=2)
        step: Event = Command(line[1:]) if line.startswith("/") else Text(line)
        played.append(step)
        state = transition(state, step, now=now, programme=programme).state
        if not lines and state.flow.step in ANSWERS:
            lines.append(ANSWERS[state.flow.step])
    assert state.flow.step is Step.IDLE
    return played


def stored_state(engine: Engine, chat_id: str) -> Coachee:
    with unit_of_work(engine) as db:
        user = find_user(db, "test", chat_id)
        assert user is not None
        return user.coachee


def test_the_next_message_of_a_conversation_does_not_read_the_row(engine: Engine) -> None:
    service = CoachService(engine, default_programme(), Clock())
    service.handle("test", "1", Command("start"))
    with statements(engine) as seen:
        outcome = service.handle("test", "1", Text(ONBOARDING[1]))
    assert outcome.replies
    assert reads_of_users(seen) == []
    assert [s for s in seen if s.startswith("UPDATE USERS")], seen
    assert stored_state(engine, "1") == outcome.state


def test_a_user_between_conversations_is_read_again(engine: Engine) -> None:
    clock = Clock()
    service = CoachService(engine, default_programme(), clock)
    for step in events_of_a_session():
        service.handle("test", "1", step)
    assert stored_state(engine, "1").flow.step is Step.IDLE
    with statements(engine) as seen:
        service.handle("test", "1", Command("progress"))
    assert len(reads_of_users(seen)) >= 1


def test_copies_are_kept_for_the_most_recent_users_only(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_module, "KNOWN_USERS", 2)
    service = CoachService(engine, default_programme(), Clock())
    for chat in ("1", "2", "3"):
        service.handle("test", chat, Command("start"))
    with statements(engine) as seen:
        service.handle("test", "3", Text(ONBOARDING[1]))
        service.handle("test", "2", Text(ONBOARDING[1]))
    assert reads_of_users(seen) == []
    with statements(engine) as seen:
        service.handle("test", "1", Text(ONBOARDING[1]))
    assert len(reads_of_users(seen)) >= 1


def test_two_processes_taking_turns_lose_nothing(engine: Engine) -> None:
    """Each message goes to the other of two services (two processes on one database), so
    every copy either keeps is stale by the time it is used: the result must be exactly that
    of one service playing the same messages."""
    steps = events_of_a_session()
    clock = Clock()
    alone = CoachService(engine, default_programme(), clock)
    for step in steps:
        alone.handle("test", "alone", step)
    clock.now = START
    pair = [CoachService(engine, default_programme(), clock) for _ in range(2)]
    for number, step in enumerate(steps):
        pair[number % 2].handle("test", "pair", step)
    assert stored_state(engine, "pair") == stored_state(engine, "alone")
    with unit_of_work(engine) as db:
        versions = dict(db.execute(select(users.c.chat_id, users.c.version)).all())
    assert versions["pair"] == versions["alone"] == len(steps)


def test_a_press_is_judged_by_the_row_another_process_wrote(engine: Engine) -> None:
    clock = Clock()
    here = CoachService(engine, default_programme(), clock)
    there = CoachService(engine, default_programme(), clock)
    for line in ONBOARDING:
        here.handle("test", "1", Command(line[1:]) if line.startswith("/") else Text(line))
    here.handle("test", "1", Command("session"))
    waiting = here.waiting_question("test", "1")
    assert waiting is not None
    assert waiting.choices
    old_button = waiting.choices[0].id
    # The other process moves the conversation on (the user typed there)...
    there.handle("test", "1", Text(waiting.choices[0].label))
    moved_on = stored_state(engine, "1")
    # ...so the button this process still has a copy for is stale now.
    assert here.press("test", "1", old_button, waiting.step_no) is None
    assert stored_state(engine, "1") == moved_on


def test_the_tick_and_a_block_make_a_copy_stale(engine: Engine) -> None:
    clock = Clock()
    service = CoachService(engine, default_programme(), clock)
    service.handle("test", "1", Command("start"))
    with unit_of_work(engine) as db:
        user = find_user(db, "test", "1")
        assert user is not None
        before = user.version
        set_next_nudge(db, user.id, clock() + timedelta(hours=3))
    service.mark_inactive("test", "1")
    with unit_of_work(engine) as db:
        version = db.execute(select(users.c.version).where(users.c.chat_id == "1")).scalar()
    assert version == before + 2
    # The kept copy is stale: the next message is handled from the row as it is now.
    with statements(engine) as seen:
        service.handle("test", "1", Text(ONBOARDING[1]))
    assert len(reads_of_users(seen)) >= 1
    with unit_of_work(engine) as db:
        row = db.execute(
            select(users.c.active, users.c.version).where(users.c.chat_id == "1")
        ).one()
    assert row.active is True
    assert row.version == before + 3
