"""Table tests of the decision rules: one row of COACHING.md's table each."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from data.programme import default_programme
from schedules.progression import (
    Answer,
    Decision,
    Feeling,
    PainKind,
    Position,
    SessionFacts,
    at_ceiling,
    current_doses,
    decide,
    is_safety_stop,
    safety_stop,
    stage_doses,
    to_advance,
)

PROGRAMME = default_programme()
TODAY = date(2026, 11, 25)
S, W, K, P = Feeling.STEADY, Feeling.WORKING, Feeling.SHAKY, Feeling.PAIN
Y, N, U = Answer.YES, Answer.NO, Answer.NOT_SURE


def floor(stage: int = 1, **changes: object) -> Position:
    return Position(stage=stage, doses=stage_doses(PROGRAMME, stage)).model_copy(update=changes)


def ceiling(stage: int = 1, **changes: object) -> Position:
    doses = {e.id: e.dose.ceiling for e in PROGRAMME.stage(stage).exercises}
    return Position(stage=stage, doses=doses).model_copy(update=changes)


def facts(
    feelings: tuple[Feeling, ...] = (S, S, S),
    answers: tuple[Answer, ...] = (Y, Y),
    scores: tuple[int, ...] = (),
    kinds: tuple[PainKind, ...] = (),
) -> SessionFacts:
    return SessionFacts(feelings, answers, scores, kinds)


def total(position: Position) -> int:
    return sum(current_doses(PROGRAMME, position).values())


@pytest.mark.parametrize(
    ("name", "position", "session", "decision", "reason"),
    [
        ("clean, mostly steady: dose up", floor(), facts(), Decision.DOSE_UP, "dose_up"),
        (
            "clean but mostly working: repeat",
            floor(),
            facts((W, W, S)),
            Decision.REPEAT,
            "repeat_consolidate",
        ),
        (
            "clean at ceiling, second day, enough sessions, 14th day: advance",
            ceiling(
                sessions_in_stage=4,
                ceiling_clean_dates=(TODAY - timedelta(days=1),),
                stage_started_on=TODAY - timedelta(days=13),
            ),
            facts(),
            Decision.ADVANCE,
            "advance",
        ),
        (
            "clean at ceiling, same day twice: not yet",
            ceiling(sessions_in_stage=4, ceiling_clean_dates=(TODAY,)),
            facts(),
            Decision.REPEAT,
            "at_ceiling",
        ),
        (
            "clean at ceiling on two days but too few sessions: not yet",
            ceiling(sessions_in_stage=2, ceiling_clean_dates=(TODAY - timedelta(days=1),)),
            facts(),
            Decision.REPEAT,
            "at_ceiling",
        ),
        (
            "clean at ceiling on two days, enough sessions, but the 13th day: not yet",
            ceiling(
                sessions_in_stage=9,
                ceiling_clean_dates=(TODAY - timedelta(days=1),),
                stage_started_on=TODAY - timedelta(days=12),
            ),
            facts(),
            Decision.REPEAT,
            "at_ceiling",
        ),
        (
            "a hold ended early with Done counts as shaky: repeat",
            floor(),
            SessionFacts((S, S, S), (Y, Y), holds=12, shaky_holds=1),
            Decision.REPEAT,
            "repeat_not_clean",
        ),
        (
            "most holds cut short twice in a row: step back",
            floor(shaky_sessions_in_row=1, doses={"s1-dead-bug": 5}),
            SessionFacts((S, S, S), (Y, Y), holds=12, shaky_holds=7),
            Decision.STEP_BACK,
            "step_back",
        ),
        (
            "a step back at the floor: the dose stays, and says so",
            floor(shaky_sessions_in_row=1),
            facts((K, K, S)),
            Decision.STEP_BACK,
            "step_back_floor",
        ),
        (
            "a second session on the same day: extra practice, nothing changes",
            floor(counted_on=TODAY),
            facts(),
            Decision.REPEAT,
            "extra_practice",
        ),
        (
            "a shaky set: repeat",
            floor(),
            facts((S, K, S)),
            Decision.REPEAT,
            "repeat_not_clean",
        ),
        (
            "a missed form check-in: repeat",
            floor(),
            facts(answers=(Y, N)),
            Decision.REPEAT,
            "repeat_not_clean",
        ),
        (
            "not sure counts as missed: repeat",
            floor(),
            facts(answers=(U, Y)),
            Decision.REPEAT,
            "repeat_not_clean",
        ),
        (
            "shaky on most holds twice in a row: step back",
            floor(shaky_sessions_in_row=1, doses={"s1-dead-bug": 7}),
            facts((K, K, S)),
            Decision.STEP_BACK,
            "step_back",
        ),
        (
            "dull pain 4: repeat",
            floor(),
            facts((S, P, S), scores=(4,), kinds=(PainKind.DULL,)),
            Decision.REPEAT,
            "repeat_pain",
        ),
        (
            "never advance after pain, even at the ceiling",
            ceiling(sessions_in_stage=9, ceiling_clean_dates=(TODAY - timedelta(days=1),)),
            facts((S, P, S), scores=(2,), kinds=(PainKind.DULL,)),
            Decision.REPEAT,
            "at_ceiling",
        ),
        (
            "back felt worse: hold progression back one session",
            floor(hold_back_sessions=1),
            facts(),
            Decision.REPEAT,
            "repeat_held_back",
        ),
        (
            "the last stage at its ceiling: keep it up",
            ceiling(4, sessions_in_stage=9, ceiling_clean_dates=(TODAY - timedelta(days=2),)),
            facts(),
            Decision.REPEAT,
            "final_stage",
        ),
    ],
)
def test_decision_table(
    name: str, position: Position, session: SessionFacts, decision: Decision, reason: str
) -> None:
    after, verdict = decide(PROGRAMME, position, session, today=TODAY)
    assert (verdict.decision, verdict.reason) == (decision, reason), name
    if decision is Decision.DOSE_UP:
        assert total(after) > total(position)
    elif reason == "step_back":
        assert total(after) < total(position)
    elif decision is Decision.ADVANCE:
        assert after.stage == position.stage + 1
        assert after.doses == stage_doses(PROGRAMME, after.stage)
        assert after.sessions_in_stage == 0
    else:
        assert total(after) == total(position)
        assert after.stage == position.stage
    if reason == "extra_practice":
        assert after == position


def test_dose_up_stops_at_the_ceiling() -> None:
    position = floor()
    for day in range(20):
        position, _ = decide(PROGRAMME, position, facts(), today=TODAY + timedelta(days=day))
        if at_ceiling(PROGRAMME, position):
            break
    assert at_ceiling(PROGRAMME, position)
    for exercise in PROGRAMME.stage(1).exercises:
        assert position.doses[exercise.id] == exercise.dose.ceiling


def test_step_back_never_goes_below_the_floor() -> None:
    position = floor(shaky_sessions_in_row=1)
    after, verdict = decide(PROGRAMME, position, facts((K, K, K)), today=TODAY)
    assert verdict.decision is Decision.STEP_BACK
    assert after.doses == stage_doses(PROGRAMME, 1)


def test_stage_never_skips_and_never_advances_within_one_decision() -> None:
    position = ceiling(
        sessions_in_stage=20,
        ceiling_clean_dates=(TODAY - timedelta(days=3),),
        stage_started_on=TODAY - timedelta(days=30),
    )
    after, _ = decide(PROGRAMME, position, facts(), today=TODAY)
    assert after.stage == 2


@pytest.mark.parametrize(
    ("score", "kind", "stop"),
    [
        (2, PainKind.DULL, False),
        (5, PainKind.DULL, False),
        (6, None, True),
        (10, PainKind.DULL, True),
        (1, PainKind.SHARP, True),
        (3, PainKind.SPREADING, True),
        (None, None, False),
    ],
)
def test_safety_stop_thresholds(score: int | None, kind: PainKind | None, stop: bool) -> None:
    assert is_safety_stop(score, kind) is stop


def test_a_safety_stop_steps_back_and_two_in_a_week_pause() -> None:
    now = datetime(2026, 11, 25, 18, tzinfo=UTC)
    position = floor(doses={"s1-dead-bug": 5})
    once = safety_stop(PROGRAMME, position, now=now)
    assert once.doses["s1-dead-bug"] == 4
    assert not once.safety_paused
    assert once.screen_due
    twice = safety_stop(PROGRAMME, once, now=now + timedelta(days=6))
    assert twice.safety_paused
    apart = safety_stop(PROGRAMME, once, now=now + timedelta(days=8))
    assert not apart.safety_paused


def test_to_advance_counts_what_is_missing() -> None:
    one_left = ceiling(
        sessions_in_stage=4,
        ceiling_clean_dates=(TODAY - timedelta(days=1),),
        stage_started_on=TODAY - timedelta(days=13),
    )
    needs = to_advance(PROGRAMME, one_left, TODAY)
    assert needs is not None
    assert needs.sessions == 1
    assert needs.days_left == 1
    early = one_left.model_copy(update={"stage_started_on": TODAY - timedelta(days=3)})
    waiting = to_advance(PROGRAMME, early, TODAY)
    assert waiting is not None
    assert waiting.days_left == 11
    assert waiting.sessions == 11  # one a day: the days, not the doses, are what is missing
    from_floor = to_advance(PROGRAMME, floor(), TODAY)
    assert from_floor is not None
    assert from_floor.sessions >= 5
    assert to_advance(PROGRAMME, ceiling(4), TODAY) is None
