"""What the user reads in /progress about the next stage: exact numbers, plain words."""

from __future__ import annotations

from datetime import date

from data.programme import Programme
from schedules.progression import Position, to_advance


def to_advance_text(programme: Programme, position: Position, today: date) -> str:
    """What it takes to reach the next stage, e.g. "1 more steady session at this dose"."""
    say = programme.messages.say
    if position.safety_paused:
        return say("advance_paused")
    needs = to_advance(programme, position, today)
    if needs is None:
        return say("advance_final")
    n = needs.sessions
    at_top = n - needs.held_back - needs.steps_to_top
    days = ""
    if needs.days_at_top >= 2:
        key = "advance_days" if needs.days_at_top == at_top else "advance_at_least_days"
        days = say(key, days=needs.days_at_top)
    elif needs.another_day:
        days = say("advance_another_day")
    if needs.days_left > 1:
        # The stage's minimum of days is what is missing: different days follow from it.
        days = say("advance_days_left", days=programme.messages.plural(needs.days_left, "day"))
    if needs.steps_to_top == 0:
        key = "advance_at_top_one" if n == 1 else "advance_at_top"
        text = say(key, n=n) + days
    else:
        text = say("advance_below_top", n=n, steps=needs.steps_to_top, at_top=at_top) + days
    if needs.held_back:
        text += " " + say("advance_held_back")
    if needs.by_count:
        text += " " + say("advance_min_sessions", min=needs.min_sessions)
    nxt = programme.stage(position.stage + 1)
    head = say("advance_head", next=nxt.number, next_name=nxt.name, needs=text)
    return f"{head} {say('advance_steady_means')}"
