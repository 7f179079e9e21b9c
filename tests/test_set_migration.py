"""Users in the middle of a session when one-tap sets shipped: their stored state, of the old
shape (one hold at a time, a left and a right set), is read, and their set starts over cleanly."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.service import CoachService
from bot.store import find_user, make_engine, unit_of_work, users
from conversations.events import HoldTimeUp, Text
from conversations.state import Coachee, Flow, Step
from data.programme import default_programme
from tests.coach_player import START, CoachPlayer


def old_flow(step: str, **session: object) -> dict[str, object]:
    """A flow as the store held it before: no phase, a hold's start time, a side index."""
    return {
        "step": step,
        "step_no": 41,
        "in_settings": False,
        "short": False,
        "session": {
            "started_at": START.isoformat(),
            "plan": [["s1-cat-cow", 4], ["s1-side-plank-knees", 3]],
            "exercise_index": 1,
            "side_index": 1,
            "hold_index": 2,
            "holds": [],
            "sets": [],
            "checkins": [],
            "pending_feeling": None,
            "pending_pain_score": None,
            "short": False,
            **session,
        },
    }


def player_with(flow: dict[str, object]) -> CoachPlayer:
    player = CoachPlayer()
    player.onboard()
    state = player.state.model_copy(update={"flow": Flow.model_validate(flow)})
    player.state = Coachee.model_validate_json(state.model_dump_json())
    return player


def test_a_hold_running_in_the_old_shape_starts_its_set_over() -> None:
    player = player_with(old_flow("holding", hold_started_at=START.isoformat()))
    player.event(HoldTimeUp(41), seconds=600)
    assert player.step is Step.HOLD_READY
    assert "start this set again" in player.last_text
    player.tap("Start")
    session = player.state.flow.session
    assert session is not None
    assert (session.side_index, session.hold_index) == (0, 0)
    player.run_set()
    player.tap("Steady")
    assert player.step is Step.ASK_CHECKIN


def test_a_half_done_set_in_the_old_shape_restarts_at_its_first_hold() -> None:
    player = player_with(old_flow("hold_ready"))
    assert player.step is Step.HOLD_READY
    player.command("session")  # "carry on": the set is asked again, from its start
    assert "carry on" in player.last_text
    player.tap("Start")
    session = player.state.flow.session
    assert session is not None
    assert session.phase is not None
    assert (session.side_index, session.hold_index) == (0, 0)


def test_the_service_wakes_an_old_shape_hold_at_start_up(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'coach.sqlite3'}")
    now = START + timedelta(days=1)
    service = CoachService(engine, default_programme(), lambda: now)
    for line in ["/start", "No", "No", "2", "A little", "Every day", "07:00", "UTC"]:
        service.handle("telegram", "7", Text(line))
    with unit_of_work(engine) as db:
        user = find_user(db, "telegram", "7")
        assert user is not None
        document = user.coachee.model_dump(mode="json")
        document["flow"] = old_flow("holding", hold_started_at=START.isoformat())
        db.execute(
            users.update().where(users.c.id == user.id).values(step="holding", state=document)
        )
    (pending,) = service.pending_holds("telegram")
    assert pending.due_at == now  # at once
    outcome = service.handle("telegram", "7", HoldTimeUp(pending.step_no))
    assert outcome.state.flow.step is Step.HOLD_READY
    engine.dispose()
