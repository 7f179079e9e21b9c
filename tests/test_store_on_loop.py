"""PostgreSQL store calls run on the event loop (CoachService.call through SQLAlchemy's asyncio
bridge, psycopg's async connection), with the same transactions as in a thread: one per unit of
work, committed when it ends, rolled back when it raises; and one chat waiting on the database
does not hold up another."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import Engine, select, text, update

from bot.service import CoachService
from bot.store.db import find_user, make_async_engine, make_engine, unit_of_work, users
from conversations.events import Command
from data.programme import default_programme
from tests.clocks import NOON

PLATFORM = "test"


# Every test here runs on PostgreSQL only: SQLite's calls run inline, with no async engine.
pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@pytest.fixture
def engine(db_url: str) -> Engine:
    return make_engine(db_url)


def coach(engine: Engine, *, on_loop: bool = True) -> CoachService:
    """A service with `on_loop` (DATABASE_ON_LOOP) on unless said otherwise."""
    return CoachService(engine, default_programme(), lambda: NOON, on_loop=on_loop)


def step_no(engine: Engine, chat_id: str) -> int:
    """The chat's step number as stored, read on a connection of its own (committed data)."""
    with unit_of_work(engine) as db:
        user = find_user(db, PLATFORM, chat_id)
        assert user is not None
        return user.coachee.flow.step_no


async def test_a_store_call_runs_in_the_event_loops_thread_on_an_async_connection(
    engine: Engine,
) -> None:
    service = coach(engine)
    seen: list[tuple[int, bool]] = []

    def probe() -> int:
        with unit_of_work(engine) as db:
            seen.append((threading.get_ident(), db.dialect.is_async))
            return int(db.execute(text("SELECT pg_backend_pid()")).scalar_one())

    backend = await service.call(probe)
    assert seen == [(threading.get_ident(), True)]
    # A real update takes the same path, and what it wrote is committed for everyone.
    await service.call(service.handle, PLATFORM, "1", Command("start"))
    assert step_no(engine, "1") > 0
    with unit_of_work(engine) as db:  # the thread engine's own connection is another one
        assert db.execute(text("SELECT pg_backend_pid()")).scalar_one() != backend
    await service.close()


async def test_without_on_loop_store_calls_go_to_a_worker_thread(engine: Engine) -> None:
    service = coach(engine, on_loop=False)

    def probe() -> tuple[int, bool]:
        with unit_of_work(engine) as db:
            return threading.get_ident(), db.dialect.is_async

    thread, is_async = await service.call(probe)
    assert thread != threading.get_ident()
    assert not is_async


async def test_a_failing_call_on_the_loop_writes_nothing_and_the_loop_goes_on(
    engine: Engine,
) -> None:
    service = coach(engine)
    await service.call(service.handle, PLATFORM, "9", Command("start"))
    before = step_no(engine, "9")

    class Boom(Exception):
        pass

    def half_write() -> None:
        with unit_of_work(engine) as db:
            db.execute(
                update(users).where(users.c.chat_id == "9").values(version=users.c.version + 5)
            )
            find_user(db, PLATFORM, "9", lock=True)
            raise Boom

    with pytest.raises(Boom):
        await service.call(half_write)
    with unit_of_work(engine) as db:
        version = db.execute(select(users.c.version).where(users.c.chat_id == "9")).scalar()
    assert version == 1  # the one write of /start, not the rolled-back +5
    # The connection went back clean: the next event on the loop works and commits.
    await service.call(service.handle, PLATFORM, "9", Command("help"))
    assert step_no(engine, "9") == before
    with unit_of_work(engine) as db:
        version = db.execute(select(users.c.version).where(users.c.chat_id == "9")).scalar()
    assert version == 2
    await service.close()


async def test_units_of_work_in_one_call_commit_one_by_one_as_in_a_thread(
    engine: Engine,
) -> None:
    """A call that opens two units of work (the nudge tick's settle does) commits the first
    even when the second fails, as two `engine.begin()` blocks would."""
    service = coach(engine)
    await service.call(service.handle, PLATFORM, "5", Command("start"))

    def two_steps() -> None:
        with unit_of_work(engine) as db:
            db.execute(update(users).where(users.c.chat_id == "5").values(active=False))
        with unit_of_work(engine) as db:
            db.execute(update(users).where(users.c.chat_id == "5").values(stage=7))
            raise RuntimeError("the second step fails")

    with pytest.raises(RuntimeError):
        await service.call(two_steps)
    with unit_of_work(engine) as db:
        active, stage = db.execute(
            select(users.c.active, users.c.stage).where(users.c.chat_id == "5")
        ).one()
    assert (active, stage) == (False, 1)
    await service.close()


async def wait_until_blocked_on_a_lock(engine: Engine, pid: int) -> None:
    """Until the backend `pid` waits for a row lock (a wait for a state, not a time limit)."""
    while True:
        with unit_of_work(engine) as db:
            waiting = db.execute(
                text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": pid},
            ).scalar()
        if waiting == "Lock":
            return
        await asyncio.sleep(0.01)


async def test_a_chat_waiting_on_the_database_does_not_hold_up_another(
    engine: Engine, db_url: str
) -> None:
    service = coach(engine)
    for chat_id in ("A", "B"):
        await service.call(service.handle, PLATFORM, chat_id, Command("start"))
    # Another process holds chat A's row: A's next update waits for it, on the loop.
    other = make_async_engine(db_url)
    async with other.connect() as holder:
        await holder.execute(select(users.c.id).where(users.c.chat_id == "A").with_for_update())
        pids: list[int] = []
        started = asyncio.Event()

        def handle_a() -> object:
            with unit_of_work(engine) as db:
                pids.append(int(db.execute(text("SELECT pg_backend_pid()")).scalar_one()))
            started.set()  # on the event loop's thread: no call_soon_threadsafe needed
            return service.handle(PLATFORM, "A", Command("help"))

        a = asyncio.create_task(service.call(handle_a))
        await started.wait()
        await wait_until_blocked_on_a_lock(engine, pids[0])

        # Meanwhile chat B's update runs to its commit, on the same event loop.
        await service.call(service.handle, PLATFORM, "B", Command("progress"))
        assert not a.done()
        await holder.rollback()  # the other process lets go
    await a
    await other.dispose()
    with unit_of_work(engine) as db:
        versions = {
            row.chat_id: row.version
            for row in db.execute(select(users.c.chat_id, users.c.version))
        }
    assert versions == {"A": 2, "B": 2}  # both updates committed, each once
    await service.close()
