"""The one way into a session. The nudge's button, the idle button, /session and /start (in
Telegram and in the terminal) all come here, so the same rules apply however the user starts:

1. a session in progress resumes where it stopped;
2. nothing starts while training is on hold (a red flag, the pause after two stops) or on a day
   of rest (the day of a safety stop or a flag);
3. the red-flag screen comes first when it is due;
4. the morning check comes first after a session with pain;
5. after 3 or more missed training days, a shorter welcome-back session that changes no dose.

Pure, like every conversation step.
"""

from __future__ import annotations

from datetime import timedelta

from conversations import guided_session, onboarding, safety
from conversations.flow import Ctx, Outcome, ask
from conversations.nudging import missed_training_days
from conversations.state import Coachee, Step, in_session
from schedules.nudges import WELCOME_BACK_AFTER_MISSED


def screen_due(state: Coachee, ctx: Ctx) -> bool:
    screened_at = state.profile.screened_at
    if state.position.screen_due or screened_at is None:
        return True
    return ctx.now - screened_at > timedelta(days=ctx.programme.safety.rescreen_after_days)


def welcome_back_due(state: Coachee, ctx: Ctx) -> bool:
    return missed_training_days(state, ctx.today(state)) >= WELCOME_BACK_AFTER_MISSED


def enter(state: Coachee, ctx: Ctx, *lead: str) -> Outcome:
    """Start (or offer) a session by the rules above."""
    if in_session(state):
        return guided_session.resume(state, ctx)
    if not safety.may_start(state, ctx):
        return safety.settle(state, ctx, *lead)
    if screen_due(state, ctx):
        return onboarding.rescreen(state, ctx, *lead, ctx.say("rescreen"))
    if state.position.morning_check_due:
        return ask(
            state, Step.MORNING_CHECK, ctx, *lead, in_settings=False, session=None, entering=True
        )
    short = welcome_back_due(state, ctx)
    said = list(lead)
    if short:
        said.append(ctx.say("welcome_back_session"))
    if safety.gentle_now(state, ctx):
        said.append(ctx.say("gentle_week"))
    return guided_session.offer_session(state, ctx, *said, short=short)
