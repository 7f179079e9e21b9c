"""A running set: the user taps Start once and the coach runs every hold and rest by itself.

The set is state (`SessionInProgress.phase`, `phase_ends_at`, `hold_index`, `shaky_marks`);
its phase changes are effects: a `LiveUpdate` of the set's one live message and a `WakeAt` for
the end of the phase. A wake works out where the set stands from the clock, so a late wake
(after a restart) catches up to the right hold, and one long past closes the set as cut short.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from conversations.flow import Ctx, Outcome, Question, ask
from conversations.records import Feeling, HoldLog
from conversations.replies import Acknowledge, CancelHoldTimer, Effect, LiveUpdate, WakeAt
from conversations.session_plan import holds_in_set
from conversations.state import Coachee, SessionInProgress, SetPhase, Step
from data.programme import Exercise

# A set whose phase ended longer ago than this is not resumed: it is closed as cut short.
LONG_PAST = timedelta(minutes=10)
LIVE_CHOICES = ("shaky", "it_hurts", "pause", "done")
PAUSED_CHOICES = ("go_on", "it_hurts", "done")


def session_of(state: Coachee) -> SessionInProgress:
    """The session in progress (the caller knows there is one)."""
    session = state.flow.session
    if session is None:
        raise ValueError("no session in progress")
    return session


def current_exercise(state: Coachee, ctx: Ctx) -> tuple[Exercise, int]:
    """The session's exercise now, and its holds per side."""
    session = session_of(state)
    exercise_id, count = session.plan[session.exercise_index]
    return ctx.programme.exercise(exercise_id), count


def with_session(state: Coachee, **changes: object) -> Coachee:
    """The state with these fields of its session in progress changed."""
    session = session_of(state).model_copy(update=changes)
    return state.model_copy(update={"flow": state.flow.model_copy(update={"session": session})})


def _bumped(state: Coachee) -> Coachee:
    """A new step number: the live message's buttons change, so older presses go stale."""
    flow = state.flow.model_copy(update={"step_no": state.flow.step_no + 1})
    return state.model_copy(update={"flow": flow})


def _phase_text(state: Coachee, ctx: Ctx) -> str:
    session = session_of(state)
    exercise, count = current_exercise(state, ctx)
    index = session.hold_index
    side = exercise.side_names[min(index // count, len(exercise.side_names) - 1)]
    values = {
        "number": index % count + 1,
        "count": count,
        "side": " " + ctx.say("side", side=side) if side else "",
    }
    if session.phase is SetPhase.REST:
        line = ctx.say("set_rest", seconds=exercise.rest_seconds)
    elif session.phase is SetPhase.PAUSED:
        line = ctx.say(f"set_paused_{exercise.kind}", **values)
    else:
        line = ctx.say(f"set_{exercise.kind}", seconds=exercise.seconds, **values)
    return f"{exercise.name}\n{line}"


def running_question(state: Coachee, ctx: Ctx) -> Question:
    """The live message of the set: where it stands, and the buttons that act on it."""
    session = session_of(state)
    if session.phase is None:
        # Stored before sets ran by themselves: the set starts over.
        return Question(ctx.say("set_restart"), (ctx.choice("start"), ctx.choice("it_hurts")), 2)
    keys = PAUSED_CHOICES if session.phase is SetPhase.PAUSED else LIVE_CHOICES
    return Question(_phase_text(state, ctx), tuple(ctx.choice(k) for k in keys), 2, live=True)


def _live(state: Coachee, ctx: Ctx) -> LiveUpdate:
    question = running_question(state, ctx)
    return LiveUpdate(question.text, question.choices, state.flow.step_no, question.columns)


def start_set(state: Coachee, ctx: Ctx) -> Outcome:
    """Start: the first hold of the set begins now (a set stored half-done starts over)."""
    exercise, _ = current_exercise(state, ctx)
    ends = ctx.now + timedelta(seconds=exercise.seconds)
    started = with_session(
        state,
        side_index=0,
        hold_index=0,
        hold_started_at=None,
        phase=SetPhase.HOLD,
        phase_ends_at=ends,
        shaky_marks=(),
    )
    outcome = ask(started, Step.HOLDING, ctx)
    return outcome.doing(WakeAt(ends, outcome.state.flow.step_no))


def _next_phase(state: Coachee, ctx: Ctx, ended_at: datetime) -> Coachee | None:
    """The phase after the one that ended at `ended_at`; None when the set is complete."""
    session = session_of(state)
    exercise, count = current_exercise(state, ctx)
    if session.phase is SetPhase.HOLD:
        if session.hold_index + 1 >= holds_in_set(exercise, count):
            return None
        ends = ended_at + timedelta(seconds=exercise.rest_seconds)
        return with_session(state, phase=SetPhase.REST, phase_ends_at=ends)
    ends = ended_at + timedelta(seconds=exercise.seconds)
    return with_session(
        state, phase=SetPhase.HOLD, phase_ends_at=ends, hold_index=session.hold_index + 1
    )


def wake(state: Coachee, ctx: Ctx) -> Outcome:
    """The phase's time is up (or a timer fired early, late, or twice): catch up with the clock
    and say where the set stands now."""
    session = session_of(state)
    if session.phase is None:
        return restart_set(state, ctx)
    if session.phase is SetPhase.PAUSED or session.phase_ends_at is None:
        return Outcome(state)
    if ctx.now < session.phase_ends_at:
        return Outcome(state, effects=(WakeAt(session.phase_ends_at, state.flow.step_no),))
    if ctx.now - session.phase_ends_at > LONG_PAST:
        return close_set(state, ctx, lead=ctx.say("set_long_past"))
    current = state
    while True:
        ends = session_of(current).phase_ends_at
        assert ends is not None
        if ctx.now < ends:
            break
        nxt = _next_phase(current, ctx, ends)
        if nxt is None:
            return close_set(current, ctx, complete=True)
        current = nxt
    ends = session_of(current).phase_ends_at
    assert ends is not None
    return Outcome(current, effects=(_live(current, ctx), WakeAt(ends, current.flow.step_no)))


def on_running(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    """A button of the live message: mark a hold shaky, pause, go on, or end the set."""
    session = session_of(state)
    if session.phase is None:
        if choice == "it_hurts":
            return close_set(state, ctx, hurt=True)
        return start_set(state, ctx)
    if choice == "shaky":
        number = session.hold_index
        marked = with_session(state, shaky_marks=tuple(sorted({*session.shaky_marks, number})))
        _, count = current_exercise(state, ctx)
        return Outcome(
            marked, effects=(Acknowledge(ctx.say("marked_shaky", number=number % count + 1)),)
        )
    if choice == "pause":
        hold_index = session.hold_index + (1 if session.phase is SetPhase.REST else 0)
        paused = _bumped(
            with_session(state, phase=SetPhase.PAUSED, phase_ends_at=None, hold_index=hold_index)
        )
        return Outcome(paused, effects=(CancelHoldTimer(), _live(paused, ctx)))
    if choice == "go_on":
        exercise, _ = current_exercise(state, ctx)
        ends = ctx.now + timedelta(seconds=exercise.seconds)
        going = _bumped(with_session(state, phase=SetPhase.HOLD, phase_ends_at=ends))
        return Outcome(going, effects=(_live(going, ctx), WakeAt(ends, going.flow.step_no)))
    return close_set(state, ctx, hurt=choice == "it_hurts")


def _hold_logs(state: Coachee, ctx: Ctx, *, complete: bool) -> tuple[HoldLog, ...]:
    """Every hold of the set: done, stopped part-way, or not done (both count as cut short)."""
    session = session_of(state)
    exercise, count = current_exercise(state, ctx)
    total = holds_in_set(exercise, count)
    if complete:
        done, partial = total, 0
    elif session.phase is SetPhase.REST:
        done, partial = session.hold_index + 1, 0
    elif session.phase is SetPhase.HOLD and session.phase_ends_at is not None:
        left = (session.phase_ends_at - ctx.now).total_seconds()
        done, partial = (
            session.hold_index,
            max(0, min(exercise.seconds, round(exercise.seconds - left))),
        )
    else:
        done, partial = session.hold_index, 0
    logs = []
    for index in range(total):
        held = exercise.seconds if index < done else (partial if index == done else 0)
        logs.append(
            HoldLog(
                exercise_id=exercise.id,
                side=exercise.side_names[index // count],
                number=index % count + 1,
                target_seconds=exercise.seconds,
                held_seconds=held,
                ended_early=index >= done,
            )
        )
    return tuple(logs)


def end_running(
    state: Coachee, ctx: Ctx, *, complete: bool = False
) -> tuple[Coachee, tuple[Effect, ...]]:
    """Stop the running set where it stands, if one runs: log every hold (the ones not done as
    cut short), drop its timer and make its live message final."""
    session = session_of(state)
    if session.phase is None:
        return state, (CancelHoldTimer(),)
    exercise, count = current_exercise(state, ctx)
    holds = _hold_logs(state, ctx, complete=complete)
    done = sum(1 for h in holds if not h.ended_early)
    shaky = len(session.shaky_marks) + sum(1 for h in holds if h.ended_early)
    ended = with_session(
        state,
        holds=(*session.holds, *holds),
        shaky_holds=session.shaky_holds + shaky,
        phase=None,
        phase_ends_at=None,
        hold_started_at=None,
        hold_index=0,
        shaky_marks=(),
    )
    total = holds_in_set(exercise, count)
    final = LiveUpdate(f"{exercise.name}\n" + ctx.say("set_done", done=done, total=total))
    return ended, (CancelHoldTimer(), final)


def close_set(
    state: Coachee, ctx: Ctx, *, complete: bool = False, hurt: bool = False, lead: str = ""
) -> Outcome:
    """The set is over (all holds run, Done, It hurts, or long past): log it, and ask how it
    felt (or, for It hurts, how strong the pain is)."""
    closed, effects = end_running(state, ctx, complete=complete)
    leads = (lead,) if lead else ()
    if hurt:
        pending = with_session(closed, pending_feeling=Feeling.PAIN)
        return ask(pending, Step.ASK_PAIN_SCORE, ctx, *leads, effects=effects)
    return ask(closed, Step.ASK_FEEL, ctx, *leads, effects=effects)


def restart_set(state: Coachee, ctx: Ctx) -> Outcome:
    """A set stored in the old shape (one hold at a time): start it over, cleanly."""
    fresh = with_session(state, hold_index=0, side_index=0, hold_started_at=None, phase=None)
    return ask(fresh, Step.HOLD_READY, ctx, ctx.say("set_restart"), effects=(CancelHoldTimer(),))
