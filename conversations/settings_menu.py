"""/settings: change the nudge time, time zone, training days and quiet hours."""

from __future__ import annotations

import re
from datetime import time

from conversations.flow import Ctx, Outcome, Question, StepSpec, again, ask
from conversations.replies import Choice
from conversations.state import Coachee, Step
from schedules.local_time import format_days, format_time, parse_time_of_day

_TARGETS = {
    "settings_time": Step.ASK_TIME,
    "settings_zone": Step.ASK_ZONE,
    "settings_days": Step.ASK_DAYS,
    "settings_quiet": Step.ASK_QUIET,
}
QUIET_CHOICES = {
    "q22_07": (time(22, 0), time(7, 0)),
    "q21_08": (time(21, 0), time(8, 0)),
    "q23_06": (time(23, 0), time(6, 0)),
    "q_none": (time(0, 0), time(0, 0)),
}
_RANGE = re.compile(r"^\s*(.+?)\s*(?:-|–|to|until)\s*(.+?)\s*$", re.IGNORECASE)


def quiet_text(start: time, end: time) -> str:
    return "none" if start == end else f"{format_time(start)}–{format_time(end)}"


def open_menu(state: Coachee, ctx: Ctx, *lead: str) -> Outcome:
    return ask(state, Step.SETTINGS, ctx, *lead, in_settings=True)


def back_to_menu(state: Coachee, ctx: Ctx) -> Outcome:
    return open_menu(state, ctx, ctx.say("settings_saved"))


def _menu(state: Coachee, ctx: Ctx) -> Question:
    profile = state.profile
    text = ctx.say(
        "settings_menu",
        time=format_time(profile.nudge_time) if profile.nudge_time else "-",
        zone=profile.zone,
        days=format_days(profile.training_days),
        quiet=quiet_text(profile.quiet_start, profile.quiet_end),
    )
    keys = (*_TARGETS, "settings_done")
    return Question(text, tuple(ctx.choice(k) for k in keys), 2)


def _on_menu(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    if choice == "settings_done":
        from conversations.coach import to_idle

        return to_idle(state, ctx)
    return ask(state, _TARGETS[choice], ctx, in_settings=True)


def _quiet(state: Coachee, ctx: Ctx) -> Question:
    choices = tuple(
        Choice(key, quiet_text(*hours).capitalize()) for key, hours in QUIET_CHOICES.items()
    )
    return Question(ctx.say("ask_quiet"), choices, 2)


def _set_quiet(state: Coachee, start: time, end: time, ctx: Ctx) -> Outcome:
    profile = state.profile.model_copy(update={"quiet_start": start, "quiet_end": end})
    return back_to_menu(state.model_copy(update={"profile": profile}), ctx)


def _on_quiet(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    return _set_quiet(state, *QUIET_CHOICES[choice], ctx)


def _typed_quiet(state: Coachee, text: str, ctx: Ctx) -> Outcome:
    if text.strip().lower() in ("none", "no", "off"):
        return _set_quiet(state, *QUIET_CHOICES["q_none"], ctx)
    match = _RANGE.match(text)
    start = parse_time_of_day(match.group(1)) if match else None
    end = parse_time_of_day(match.group(2)) if match else None
    if start is None or end is None:
        return again(state, ctx, ctx.say("bad_quiet", typed=text.strip()[:40]))
    return _set_quiet(state, start, end, ctx)


SPECS: dict[Step, StepSpec] = {
    Step.SETTINGS: StepSpec(_menu, _on_menu),
    Step.ASK_QUIET: StepSpec(_quiet, _on_quiet, _typed_quiet),
}
