"""/settings: change the nudge time, time zone and training days, one question at a time."""

from __future__ import annotations

from conversations.flow import Ctx, Outcome, Question, StepSpec, ask
from conversations.state import Coachee, Step
from schedules.local_time import format_days, format_time

_TARGETS = {
    "settings_time": Step.ASK_TIME,
    "settings_zone": Step.ASK_ZONE,
    "settings_days": Step.ASK_DAYS,
}


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
    )
    keys = (*_TARGETS, "settings_done")
    return Question(text, tuple(ctx.choice(k) for k in keys), 2)


def _on_menu(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    if choice == "settings_done":
        from conversations.coach import to_idle

        return to_idle(state, ctx)
    return ask(state, _TARGETS[choice], ctx, in_settings=True)


SPECS: dict[Step, StepSpec] = {Step.SETTINGS: StepSpec(_menu, _on_menu)}
