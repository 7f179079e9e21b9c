"""Exercise pictures in a session: which reply carries which exercise's picture, and the count.

The core only names the exercise (`Reply.picture`); the chat adapters draw and send. An
exercise's picture goes with its how-to at most once per session, and only for the first
`MAX_PICTURE_VIEWS` sessions; after that the question offers a "Show me" button instead.
"""

from __future__ import annotations

from dataclasses import replace

from conversations.flow import Ctx, Outcome, again
from conversations.replies import Choice
from conversations.state import Coachee, Step, in_session

MAX_PICTURE_VIEWS = 3
SHOW_ME = "show_me"


def current_exercise(state: Coachee) -> str | None:
    """The exercise a session is at, or None outside a session."""
    session = state.flow.session
    if not in_session(state) or session is None or session.exercise_index >= len(session.plan):
        return None
    return session.plan[session.exercise_index][0]


def show_me_choices(state: Coachee, ctx: Ctx) -> tuple[Choice, ...]:
    """A "Show me" button while this session has not shown the exercise's picture."""
    exercise_id = current_exercise(state)
    session = state.flow.session
    if exercise_id is None or session is None or exercise_id in session.pictures_shown:
        return ()
    return (ctx.choice(SHOW_ME),)


def _shown(state: Coachee, exercise_id: str) -> Coachee:
    session = state.flow.session
    assert session is not None
    session = session.model_copy(update={"pictures_shown": (*session.pictures_shown, exercise_id)})
    seen = dict(state.learning.pictures_seen)
    seen[exercise_id] = seen.get(exercise_id, 0) + 1
    return state.model_copy(
        update={
            "flow": state.flow.model_copy(update={"session": session}),
            "learning": state.learning.model_copy(update={"pictures_seen": seen}),
        }
    )


def _attach(outcome: Outcome, exercise_id: str) -> Outcome:
    """Put the picture on the last reply (the question with the how-to), minus "Show me"."""
    if not outcome.replies:
        return outcome
    *before, last = outcome.replies
    choices = tuple(c for c in last.choices if c.id != SHOW_ME)
    shown = replace(last, picture=exercise_id, choices=choices)
    return Outcome(_shown(outcome.state, exercise_id), (*before, shown), outcome.effects)


def with_pictures(outcome: Outcome) -> Outcome:
    """When an event brings a session to an exercise whose picture it has not shown yet, and
    the user has seen it fewer than `MAX_PICTURE_VIEWS` times, the question carries it."""
    state = outcome.state
    exercise_id = current_exercise(state)
    session = state.flow.session
    if exercise_id is None or session is None or state.flow.step is not Step.HOLD_READY:
        return outcome
    if exercise_id in session.pictures_shown:
        return outcome
    if state.learning.pictures_seen.get(exercise_id, 0) >= MAX_PICTURE_VIEWS:
        return outcome
    return _attach(outcome, exercise_id)


def show_me(state: Coachee, ctx: Ctx) -> Outcome:
    """The user asked to see the exercise: the question again, with the picture."""
    exercise_id = current_exercise(state)
    outcome = again(state, ctx, ctx.say("showing_picture"))
    return outcome if exercise_id is None else _attach(outcome, exercise_id)
