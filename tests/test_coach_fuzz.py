"""Random event sequences never crash the coach and never leave it in an invalid state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_reached
from hypothesis import strategies as st

from conversations.coach import COMMANDS, prompt, transition
from conversations.events import (
    Choose,
    Command,
    Event,
    HoldTimeUp,
    NudgeDue,
    Text,
    Unsupported,
)
from conversations.replies import ForgetUser
from conversations.state import SESSION_STEPS, Coachee, Step, new_coachee
from data.programme import default_programme

PROGRAMME = default_programme()
START = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)
WORDS = [
    "yes",
    "no",
    "Start",
    "Done",
    "Let's go",
    "Steady",
    "Shaky",
    "Pain",
    "Sharp",
    "Dull ache",
    "7",
    "11",
    "-3",
    "eleven",
    "25:99",
    "7:30 pm",
    "Berlin",
    "Atlantis",
    "mon wed fri",
    "",
    "I've been cleared",
    "Not sure",
    "Working",
    "0",
    "6",
]

# A "pick" is either a concrete event or an instruction to press the n-th current button.
# The first button usually moves on (Start, Let's go, Steady, Yes), so favour it.
_press = st.one_of(st.just(0), st.just(0), st.just(0), st.integers(0, 12)).map(
    lambda n: ("press", n)
)
# Mostly presses of the buttons on show, so that runs get deep into sessions.
picks = st.one_of(
    *[_press] * 12,
    st.sampled_from(WORDS).map(Text),
    st.text(max_size=20).map(Text),
    st.tuples(st.sampled_from((*COMMANDS, "dance")), st.sampled_from(["", "3", "99", "x"])).map(
        lambda c: Command(*c)
    ),
    st.integers(-2, 2).map(lambda d: ("timer", d)),
    st.integers(-3, 3).map(lambda d: ("stale", d)),
    st.sampled_from(["sticker", "photo", "voice"]).map(Unsupported),
    st.just(NudgeDue()),
)


def concrete(state: Coachee, pick: object) -> Event:
    if isinstance(pick, tuple):
        kind, number = pick
        step_no = state.flow.step_no
        if kind == "timer":
            return HoldTimeUp(step_no + number)
        reply = prompt(state, now=START, programme=PROGRAMME)
        choices = reply.choices if reply else ()
        if kind == "stale":
            return Choose(choices[0].id if choices else "yes", step_no + number)
        if not choices:
            return Text("hello")
        return Choose(choices[number % len(choices)].id, step_no)
    assert isinstance(pick, Text | Command | Unsupported | NudgeDue)
    return pick


def check_invariants(before: Coachee, after: Coachee, forgotten: bool) -> None:
    flow = after.flow
    if forgotten:
        assert after == new_coachee()
    else:
        assert flow.step_no >= before.flow.step_no
    assert Coachee.model_validate_json(after.model_dump_json()) == after
    if flow.step in SESSION_STEPS - {Step.SESSION_INTRO}:
        session = flow.session
        assert session is not None
        assert 0 <= session.exercise_index < len(session.plan)
        exercise_id, count = session.plan[session.exercise_index]
        exercise = PROGRAMME.exercise(exercise_id)
        assert session.side_index == 0
        assert 0 <= session.hold_index < count * len(exercise.side_names)
        assert (flow.step is Step.HOLDING) == (session.phase is not None)
    else:
        assert flow.session is None
    position = after.position
    assert 1 <= position.stage <= PROGRAMME.last_stage
    for exercise in PROGRAMME.stage(position.stage).exercises:
        if exercise.id in position.doses:
            dose = position.doses[exercise.id]
            assert exercise.dose.floor <= dose <= exercise.dose.ceiling
    if position.safety_paused:
        assert flow.step not in SESSION_STEPS
    if not after.profile.onboarded:
        assert after.activity.total_sessions == 0


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.lists(st.tuples(picks, st.integers(0, 4000)), min_size=1, max_size=250),
    st.booleans(),
)
def test_random_events_never_crash_or_corrupt(
    steps: list[tuple[object, int]], onboard_first: bool
) -> None:
    state = new_coachee()
    now = START
    if onboard_first:
        for event in (
            Command("start"),
            Text("no"),
            Text("no"),
            Text("2"),
            Text("A little"),
            Text("every day"),
            Text("7:30"),
            Text("Berlin"),
        ):
            state = transition(state, event, now=now, programme=PROGRAMME).state
        assert state.profile.onboarded
    for pick, seconds in steps:
        now += timedelta(seconds=seconds)
        event = concrete(state, pick)
        outcome = transition(state, event, now=now, programme=PROGRAMME)
        check_invariants(state, outcome.state, ForgetUser() in outcome.effects)
        for reply in outcome.replies:
            assert reply.text.strip()
            if reply.choices:
                assert reply.step_no == outcome.state.flow.step_no
        waiting = prompt(outcome.state, now=now, programme=PROGRAMME)
        assert waiting is None or waiting.text
        state = outcome.state
        note_reached(f"reached {state.flow.step}")
