"""What one session holds and how long it takes: today's exercises (a rotating subset in later
stages, now and then one easy foundation hold) and the time a session of that plan takes.

`session_seconds` is the one measure of a session's length: the intro's "about N minutes" says
it, and `bench.sessions` and the budget test check it against sessions played through the coach.
"""

from __future__ import annotations

import math

from data.programme import Exercise, Programme, Stage
from schedules.progression import Position, current_doses, stage_doses

Plan = tuple[tuple[str, int], ...]

# A person reads the how-to, gets into position and taps Start.
READ_SECONDS = 20
# Every other tap or answer (Let's go, how it felt, the form check-in).
TAP_SECONDS = 1
# Taps of one exercise after Start: how it felt, the form check-in.
TAPS_PER_EXERCISE = 2
# Taps around the exercises: /session (or a nudge's button) and Let's go.
TAPS_AROUND = 2
FOUNDATION_EVERY = 3


def holds_in_set(exercise: Exercise, count: int) -> int:
    """A set runs every hold of every side: `count` holds per side."""
    return count * len(exercise.side_names)


def set_seconds(exercise: Exercise, count: int) -> int:
    """One set as the coach runs it: each hold, with a rest between two holds (not after the
    last)."""
    holds = holds_in_set(exercise, count)
    return holds * exercise.seconds + (holds - 1) * exercise.rest_seconds


def session_seconds(programme: Programme, plan: Plan) -> int:
    """How long a session of this plan takes a person who reads, gets ready and answers."""
    seconds = TAPS_AROUND * TAP_SECONDS
    for exercise_id, count in plan:
        exercise = programme.exercise(exercise_id)
        seconds += READ_SECONDS + TAPS_PER_EXERCISE * TAP_SECONDS + set_seconds(exercise, count)
    return seconds


def session_minutes(programme: Programme, plan: Plan) -> int:
    """The intro's "about N minutes", rounded up so that it never promises too little."""
    return max(1, math.ceil(session_seconds(programme, plan) / 60))


def todays_exercises(stage: Stage, rotation: int) -> tuple[Exercise, ...]:
    """The stage's exercises for one session: all of them, or `per_session` of them in a
    rotating window, so that over consecutive sessions each turns up equally often."""
    exercises = stage.exercises
    take = stage.per_session or len(exercises)
    if take >= len(exercises):
        return exercises
    start = (rotation * take) % len(exercises)
    picked = [exercises[(start + i) % len(exercises)] for i in range(take)]
    # Keep the programme's order (warm-up first) within the day's subset.
    return tuple(sorted(picked, key=exercises.index))


def foundation(programme: Programme, position: Position) -> Plan:
    """In later stages, every few sessions, one easy stage-1 hold to keep the foundation."""
    if position.stage == 1 or position.sessions_in_stage % FOUNDATION_EVERY != 1:
        return ()
    holds = [e for e in programme.stage(1).exercises if e.kind == "hold"]
    return ((holds[0].id, holds[0].dose.floor),) if holds else ()


def plan_for(programme: Programme, position: Position, *, rotation: int, short: bool) -> Plan:
    """Today's plan: (exercise id, holds per side) in order. A short session (welcome back)
    keeps every exercise at the stage's floor."""
    if short:
        doses = stage_doses(programme, position.stage)
    else:
        doses = current_doses(programme, position)
    stage = programme.stage(position.stage)
    today = todays_exercises(stage, rotation)
    return foundation(programme, position) + tuple((e.id, doses[e.id]) for e in today)


def dose_text(programme: Programme, exercise_id: str, count: int) -> str:
    """A dose in words, e.g. "3 holds of 10 s each side", from the words in data/."""
    exercise = programme.exercise(exercise_id)
    messages = programme.messages
    key = f"dose_{exercise.kind}" + ("_sides" if exercise.sides == "both" else "")
    return messages.say(key, count=messages.plural(count, exercise.kind), seconds=exercise.seconds)
