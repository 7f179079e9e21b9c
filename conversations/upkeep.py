"""Stage 4 is upkeep: on reaching it, the coach offers 3 training days a week (asked, never
imposed: the user may keep their days)."""

from __future__ import annotations

from conversations.flow import Ctx, Outcome, Question, StepSpec, ask
from conversations.state import Coachee, Step

UPKEEP_DAYS = frozenset({0, 2, 4})


def wants_upkeep_question(before: Coachee, after: Coachee, last_stage: int) -> bool:
    """The stage just became the last one and the user trains on more than 3 days a week."""
    return (
        before.position.stage < last_stage
        and after.position.stage == last_stage
        and len(after.profile.training_days) > len(UPKEEP_DAYS)
    )


def offer_upkeep_days(state: Coachee, ctx: Ctx, *lead: str) -> Outcome:
    return ask(state, Step.ASK_UPKEEP_DAYS, ctx, *lead, in_settings=False, session=None)


def _question(state: Coachee, ctx: Ctx) -> Question:
    choices = (ctx.choice("mon_wed_fri"), ctx.choice("keep_days"))
    return Question(ctx.say("ask_upkeep_days"), choices, 2)


def _on_choice(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    from conversations.coach import to_idle

    if choice == "keep_days":
        return to_idle(state, ctx, ctx.say("upkeep_days_kept"))
    profile = state.profile.model_copy(update={"training_days": UPKEEP_DAYS})
    return to_idle(state.model_copy(update={"profile": profile}), ctx, ctx.say("settings_saved"))


SPECS = {Step.ASK_UPKEEP_DAYS: StepSpec(_question, _on_choice)}
