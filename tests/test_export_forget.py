"""/export sends every stored row about the user; /forget deletes every one of them and nothing
else. Both are checked against every table the models define, found at run time, so a new table
cannot slip past."""

from __future__ import annotations

import csv
import importlib
import io
import json
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Engine, insert

from bot.reports import EXPORT_CSV_NAME, EXPORT_JSON_NAME, export_documents
from bot.service import CoachService
from bot.store import make_engine, unit_of_work
from conversations.events import Choose, Text
from conversations.state import Step
from tests.history_helpers import (
    PLATFORM,
    Day,
    History,
    TestClock,
    all_tables,
    copy_service,
    dump_tables,
    new_service,
    user_id_of,
    user_with_sessions,
)

# Tables that hold nothing about any user. A new table goes either here or gets a user_id.
NOT_ABOUT_USERS: frozenset[str] = frozenset({"picture_files"})  # per bot: Telegram file ids

# A history with something of everything: dose ups, pain, a stopped session, a shaky set, a
# form check answered "not sure", and a safety stop.
MIXED = [
    Day(),
    Day(pain=(3, "dull"), pain_on_set=2),
    Day(stop_after_sets=2),
    Day(feeling="shaky"),
    Day(checkin="not_sure", gap_days=2),
    Day(pain=(7, "dull"), pain_on_set=3),
]


def about(table: str, row: dict[str, Any], user_id: int) -> bool:
    """Is this row about the user? `users` by id, every other table by user_id."""
    if table == "users":
        return bool(row["id"] == user_id)
    assert "user_id" in row, f"table {table} has no user_id: is it about a user?"
    return bool(row["user_id"] == user_id)


def rows_of(dump: dict[str, list[dict[str, Any]]], user_id: int) -> dict[str, list[Any]]:
    """The rows about one user, table by table (none in the tables about nobody)."""
    return {
        name: [] if name in NOT_ABOUT_USERS else [r for r in rows if about(name, r, user_id)]
        for name, rows in dump.items()
    }


def others(dump: dict[str, list[dict[str, Any]]], user_id: int) -> dict[str, list[Any]]:
    return {
        name: [row for row in rows if name in NOT_ABOUT_USERS or not about(name, row, user_id)]
        for name, rows in dump.items()
    }


def add_outbox_row(service: CoachService, user_id: int, clock: TestClock) -> bool:
    """A pending nudge in the outbox, where the outbox exists."""
    try:
        outbox = importlib.import_module("bot.outbox")
    except ModuleNotFoundError:  # pragma: no cover - before the outbox
        return False
    with unit_of_work(service.engine) as db:
        db.execute(
            insert(outbox.outbox).values(
                user_id=user_id,
                platform=PLATFORM,
                chat_id="x",
                payload={"v": 1, "replies": []},
                created_at=clock(),
                attempts=0,
            )
        )
    return True


World = tuple[CoachService, TestClock, int, int]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Built once through the real service: "ann" with a mixed history and a pending nudge in
    the outbox; "bob" with two sessions and a pending nudge too."""
    service, clock = new_service(tmp_path_factory.mktemp("template"))
    user_with_sessions(service, clock, "ann", len(MIXED), days=MIXED, real=True)
    user_with_sessions(service, clock, "bob", 2, days=[Day(), Day(pain=(2, "dull"))], real=True)
    ann, bob = user_id_of(service, "ann"), user_id_of(service, "bob")
    add_outbox_row(service, ann, clock)
    add_outbox_row(service, bob, clock)
    return service, clock, ann, bob


@pytest.fixture
def world(template: World, tmp_path: Path) -> World:
    """A private copy of the template's database for one test."""
    service, clock, ann, bob = template
    copied, copy_clock = copy_service(service, clock, tmp_path)
    return copied, copy_clock, ann, bob


def typed(column: Column[Any], value: Any) -> Any:
    """A JSON value back in the column's own type."""
    if value is None:
        return None
    try:
        kind = getattr(column.type, "impl", column.type).python_type
    except NotImplementedError:  # pragma: no cover
        return value
    if kind in (datetime, date, time):
        return kind.fromisoformat(value)
    return value


def load_into(engine: Engine, tables: dict[str, list[dict[str, Any]]]) -> None:
    with engine.begin() as connection:
        for table in all_tables():
            for row in tables.get(table.name, []):
                values = {key: typed(table.c[key], value) for key, value in row.items()}
                connection.execute(table.insert().values(values))


def export_json(service: CoachService, chat_id: str) -> dict[str, Any]:
    documents = dict(export_documents(service, PLATFORM, chat_id))
    assert set(documents) == {EXPORT_JSON_NAME, EXPORT_CSV_NAME}
    loaded: dict[str, Any] = json.loads(documents[EXPORT_JSON_NAME])
    return loaded


STORE_TABLES = {
    "users",
    "sessions",
    "holds",
    "sets",
    "checkins",
    "outbox",
}

# --- every table is tied to a user --------------------------------------------------------------


def test_every_table_is_about_one_user_or_known_to_be_about_none() -> None:
    for table in all_tables():
        if table.name in NOT_ABOUT_USERS or table.name == "users":
            continue
        assert "user_id" in table.c, f"{table.name}: no user_id; add one or list it above"


# --- /export ------------------------------------------------------------------------------------


def test_export_round_trips_every_row_about_the_user_and_nothing_else(
    world: World, tmp_path: Path
) -> None:
    service, _clock, ann, bob = world
    before = dump_tables(service.engine)
    exported = export_json(service, "ann")
    assert exported["format"] == "spine-coach-export/1"
    assert set(exported["tables"]) == {t.name for t in all_tables()} - NOT_ABOUT_USERS
    assert STORE_TABLES <= set(exported["tables"])

    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    load_into(fresh, exported["tables"])
    assert dump_tables(fresh) == rows_of(before, ann)
    for name, rows in rows_of(before, bob).items():
        if name in NOT_ABOUT_USERS:
            continue
        assert rows, f"bob should have rows in {name}"
        assert not any(row in exported["tables"][name] for row in rows if "id" in row)


def test_export_has_every_kind_of_row_of_a_mixed_history(world: World) -> None:
    service, _clock, _ann, _bob = world
    tables = export_json(service, "ann")["tables"]
    (user,) = tables["users"]
    assert user["state"]["profile"]["onboarded"]  # the whole state is in the user's row
    assert len(tables["sessions"]) == len(MIXED)
    for name in ("holds", "sets", "checkins", "outbox"):
        assert tables[name], name
    scores = {row["pain_score"] for row in tables["sets"]}
    assert {3, 7} <= scores
    (user,) = tables["users"]
    assert user["chat_id"] == "ann"
    assert user["created_at"].endswith("+00:00")  # times are aware UTC, said so


def test_csv_has_one_line_per_session_with_its_sets_counted_up(world: World) -> None:
    service, _clock, ann, _bob = world
    documents = dict(export_documents(service, PLATFORM, "ann"))
    lines = list(csv.DictReader(io.StringIO(documents[EXPORT_CSV_NAME].decode("utf-8"))))
    rows = rows_of(dump_tables(service.engine), ann)
    sessions = rows["sessions"]
    assert len(lines) == len(sessions) == len(MIXED)
    for line, session in zip(lines, sessions, strict=True):
        assert line["date"] == session["local_date"].isoformat()
        assert line["decision"] == session["decision"]
        assert line["completed"] == ("yes" if session["completed"] else "no")
        mine = [h for h in rows["holds"] if h["session_id"] == session["id"]]
        assert int(line["holds"]) == len(mine)
        sets = [s for s in rows["sets"] if s["session_id"] == session["id"]]
        assert int(line["sets"]) == len(sets)
    assert [line["highest_pain"] for line in lines] == ["", "3", "", "", "", "7"]
    assert [line["decision"] for line in lines][-1] == "safety_stop"
    assert lines[2]["completed"] == "no"
    assert lines[3]["sets_shaky"] != "0"
    assert lines[4]["checkins_not_sure"] != "0"


def test_export_of_an_unknown_user_is_empty(tmp_path: Path) -> None:
    service, _clock = new_service(tmp_path)
    assert export_documents(service, PLATFORM, "nobody") == []


def test_the_fast_history_stores_what_the_real_path_stores(tmp_path: Path) -> None:
    """tests/history_helpers' shortcut for long histories gives the very same rows."""
    exports = []
    for real in (True, False):
        folder = tmp_path / str(real)
        folder.mkdir()
        service, clock = new_service(folder)
        user_with_sessions(service, clock, "ann", len(MIXED), days=MIXED, real=real)
        exported = export_json(service, "ann")
        for user in exported["tables"]["users"]:
            del user["version"]  # counts writes, and the shortcut writes less often
        exports.append(exported["tables"])
    assert exports[0] == exports[1]


# --- /forget ------------------------------------------------------------------------------------


def forget(service: CoachService, chat_id: str, *, confirm: bool = True) -> list[str]:
    asked = service.handle(PLATFORM, chat_id, Text("/forget"))
    question = asked.replies[-1]
    assert asked.state.flow.step is Step.FORGET_CONFIRM
    button = "forget_yes" if confirm else "forget_no"
    assert button in {c.id for c in question.choices}
    done = service.handle(PLATFORM, chat_id, Choose(button, question.step_no))
    return [reply.text for reply in done.replies]


def test_forget_deletes_every_row_about_the_user_in_every_table(world: World) -> None:
    service, _clock, ann, _bob = world
    before = dump_tables(service.engine)
    assert all(rows_of(before, ann)[name] for name in ("users", "sessions", "holds", "sets"))

    said = forget(service, "ann")

    assert any("deleted" in text.lower() for text in said), said
    after = dump_tables(service.engine)
    leftovers = {name: rows for name, rows in rows_of(after, ann).items() if rows}
    assert leftovers == {}
    assert not [h for h in service.pending_holds(PLATFORM) if h.chat_id == "ann"]


def test_forget_leaves_everyone_else_exactly_as_they_were(world: World) -> None:
    service, _clock, ann, bob = world
    before = dump_tables(service.engine)
    forget(service, "ann")
    after = dump_tables(service.engine)
    assert after == others(before, ann)
    assert rows_of(after, bob) == rows_of(before, bob)


def test_after_forget_start_begins_from_scratch(world: World) -> None:
    service, clock, _ann, _bob = world
    forget(service, "ann")
    clock.move(minutes=5)
    hello = service.handle(PLATFORM, "ann", Text("/start"))
    assert hello.state.flow.step is Step.SCREEN_URGENT
    assert "not a clinician" in "\n".join(r.text for r in hello.replies)
    assert hello.state.activity.total_sessions == 0
    assert hello.state.position.stage == 1
    assert not hello.state.profile.onboarded
    fresh = user_id_of(service, "ann")
    rows = rows_of(dump_tables(service.engine), fresh)
    assert rows["users"][0]["created_at"] == clock()
    assert rows["sessions"] == rows["holds"] == rows["sets"] == rows["checkins"] == []
    History(service, "ann", clock).onboard()  # and onboarding runs through as for anyone new


def test_forget_without_confirmation_keeps_everything(world: World) -> None:
    service, _clock, ann, _bob = world
    before = rows_of(dump_tables(service.engine), ann)
    said = forget(service, "ann", confirm=False)
    assert any("Nothing was deleted" in text for text in said)
    after = rows_of(dump_tables(service.engine), ann)
    for name in before:
        if name != "users":  # the question asked moved the user's state on
            assert after[name] == before[name], name
    assert len(after["users"]) == 1
