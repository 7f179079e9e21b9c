"""Random event sequences never crash the coach and never leave it in an invalid state."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

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
from conversations.nudging import missed_training_days
from conversations.records import Decision
from conversations.replies import ForgetUser, RecordSession
from conversations.state import SESSION_STEPS, Coachee, Step, new_coachee
from data.programme import default_programme
from schedules.nudges import WELCOME_BACK_AFTER_MISSED

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


# --- the safety properties ----------------------------------------------------------------------

# Time between events: mostly seconds (to get through sessions), sometimes hours or days, so
# that local midnights, morning checks, missed days and clearing the next day all come up.
_gaps = st.one_of(
    *[st.integers(0, 600)] * 4,
    st.integers(3_600, 12 * 3_600),
    st.integers(20 * 3_600, 30 * 3_600),
    st.integers(3 * 86_400, 9 * 86_400),
)
# Favour what reaches the rules: pressing on (Start, Let's go, Steady...), pain and its kinds,
# the ways into a session, clearing, the nudge.
_safety_picks = st.one_of(
    *[_press] * 8,
    # A burst of presses on the first button: enough to get through a whole session. On the
    # way, a morning check is answered better, same or worse, and the first "how did it feel"
    # may be pain (score, kind): mild and dull, or a safety stop.
    *[
        st.tuples(
            st.integers(20, 200),
            st.sampled_from(["better", "same", "worse", "worse"]),
            st.sampled_from(
                [None, None, None, ("p4", "dull"), ("p4", "dull"), ("p3", "dull")]
                + [("p3", "sharp"), ("p7", None), ("p2", "spreading")]
            ),
        ).map(lambda burst: ("burst", *burst))
    ]
    * 5,
    st.sampled_from(["Pain", "8", "3", "Sharp", "Dull ache", "Yes", "No"]).map(Text),
    st.just(Text("Worse")),
    st.just(("say", ("HURT", "4", "Dull ache"))),
    st.just(("say", ("/session", "No", "No", "Worse"))),
    st.sampled_from(["session", "start", "cleared"]).map(Command),
    st.sampled_from(["stop", "settings"]).map(Command),
    st.sampled_from(
        ["/session", "Start a session", "Start now", "I've been seen and cleared"]
    ).map(Text),
    st.just(NudgeDue()),
)


def _expanded(steps: list[tuple[object, int]]) -> list[tuple[object, int]]:
    """Bursts and whole answers as the single events they stand for."""
    events: list[tuple[object, int]] = []
    for pick, seconds in steps:
        if isinstance(pick, tuple) and pick[0] == "burst":
            _, count, morning, pain = pick
            drive = ("drive", {"morning": morning, "pain": pain})
            events.extend([(drive, seconds)] + [(drive, 3)] * (count - 1))
        elif isinstance(pick, tuple) and pick[0] == "say":
            events.extend((Text(text), seconds if i == 0 else 2) for i, text in enumerate(pick[1]))
        else:
            events.append((pick, seconds))
    return events


def _driven(state: Coachee, burst: dict[str, Any]) -> object:
    """The burst's next event: its answer where it has one, else the first button."""
    step, pain = state.flow.step, burst["pain"]
    if step is Step.MORNING_CHECK:
        return Choose(burst["morning"])
    if step in (Step.SCREEN_URGENT, Step.SCREEN_CLINICIAN, Step.ASK_BONE_HEALTH):
        return Choose("no")  # flags come from the single picks; a burst means to train
    if pain is not None and step is Step.ASK_FEEL:
        return Choose("pain")
    if pain is not None and step is Step.ASK_PAIN_SCORE:
        if pain[1] is None:
            burst["pain"] = None
        return Choose(pain[0])
    if pain is not None and step is Step.ASK_PAIN_KIND:
        burst["pain"] = None
        return Choose(pain[1])
    return ("press", 0)


def _local_day(state: Coachee, instant: datetime) -> date:
    return instant.astimezone(ZoneInfo(state.profile.zone)).date()


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_safety_picks, _gaps), min_size=10, max_size=200))
def test_no_session_on_a_day_of_a_stop_or_flag_and_no_dose_up_after_worse_or_welcome_back(
    steps: list[tuple[object, int]],
) -> None:
    state = new_coachee()
    now = START
    for hello in (
        Command("start"),
        Text("no"),
        Text("no"),
        Text("2"),
        Text("A little"),
        Text("every day"),
        Text("7:30"),
        Text("Berlin"),
    ):
        state = transition(state, hello, now=now, programme=PROGRAMME).state
    stops: list[datetime] = []  # instants of safety stops and urgent flags
    worse_pending = False  # a "worse" morning check, not yet followed by a finished session
    short_offered = False  # the waiting intro was offered after 3+ missed training days
    started_short: tuple[bool, dict[str, int]] | None = None
    for pick, seconds in _expanded(steps):
        now += timedelta(seconds=seconds)
        if isinstance(pick, tuple) and pick[0] == "drive":
            pick = _driven(state, pick[1])
        event = pick if isinstance(pick, Choose) else concrete(state, pick)
        if event == Text("HURT"):  # pain, by the button the waiting question offers for it
            event = Choose("pain" if state.flow.step is Step.ASK_FEEL else "it_hurts")
        outcome = transition(state, event, now=now, programme=PROGRAMME)
        after = outcome.state
        today = _local_day(after, now)

        if after.flow.step is Step.SESSION_INTRO and after.flow.step_no != state.flow.step_no:
            short_offered = missed_training_days(after, today) >= WELCOME_BACK_AFTER_MISSED
        if state.flow.session is None and after.flow.session is not None:
            # A session starts: never on the local day of a stop or an urgent flag.
            assert all(_local_day(after, t) != today for t in stops), (today, stops)
            assert after.flow.session.short == short_offered
            started_short = (after.flow.session.short, dict(state.position.doses))
            note_reached("a session started")
        if (
            state.flow.step is Step.MORNING_CHECK
            and after.position.worse_in_row > state.position.worse_in_row
        ):
            worse_pending = True
            note_reached("worse")
        if after.position.flag == "urgent" and after.position.flagged_at != (
            state.position.flagged_at
        ):
            stops.append(now)
            note_reached("urgent flag")
        for effect in outcome.effects:
            if not isinstance(effect, RecordSession):
                continue
            record = effect.record
            if record.decision is Decision.SAFETY_STOP:
                stops.append(now)
                note_reached("safety stop")
            if not record.completed:
                continue
            if worse_pending:
                assert record.decision not in (Decision.DOSE_UP, Decision.ADVANCE)
                worse_pending = False
                note_reached("a session after worse")
            if started_short is not None and started_short[0]:
                assert record.decision not in (Decision.DOSE_UP, Decision.ADVANCE)
                assert after.position.doses == started_short[1]
                note_reached("a welcome-back session finished")
            started_short = None
        if after.position.morning_check_due:
            note_reached("morning check due")
        if after.flow.step is Step.MORNING_CHECK:
            note_reached("morning check asked")
        if ForgetUser() in outcome.effects:
            return
        state = after
