"""The daily nudge as the user meets it: the morning check after a painful session, then start
now, snooze or skip; after repeated snoozes, an offer (never a silent change) of another time."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from conversations.flow import Ctx, Outcome, Question, StepSpec, ask
from conversations.state import Coachee, Step, in_session
from schedules.local_time import format_time
from schedules.nudges import NudgeKind, NudgePlan, next_nudge_at, nudge_kind

SNOOZES = {"snooze_30": timedelta(minutes=30), "snooze_2h": timedelta(hours=2)}
SNOOZES_BEFORE_OFFER = 3
# Looking further back than this for missed days changes nothing: weekly mode starts at 7.
_MISSED_LOOKBACK = 30


def missed_training_days(state: Coachee, today: date) -> int:
    """Training days in a row, up to yesterday, with no session."""
    activity = state.activity
    since = activity.last_trained_on or activity.started_on
    if since is None:
        return 0
    missed = 0
    day = today - timedelta(days=1)
    while day > since and missed < _MISSED_LOOKBACK:
        if day.weekday() in state.profile.training_days:
            missed += 1
        day -= timedelta(days=1)
    return missed


def nudge_plan(state: Coachee, today: date) -> NudgePlan | None:
    """What the next nudge depends on, or None when this user gets no nudges."""
    profile, activity, position = state.profile, state.activity, state.position
    if not profile.onboarded or profile.nudge_time is None:
        return None
    # On hold (a red flag, the pause after two stops): no nudges until cleared.
    if position.safety_paused or position.flag is not None:
        return None
    # A day of rest (a safety stop, high pain at onboarding) gets no nudge, like a day trained.
    trained = activity.last_trained_on
    if position.rest_day is not None and (trained is None or position.rest_day > trained):
        trained = position.rest_day
    return NudgePlan(
        nudge_time=profile.nudge_time,
        zone=profile.zone,
        training_days=profile.training_days,
        quiet_start=profile.quiet_start,
        quiet_end=profile.quiet_end,
        paused_until=activity.paused_until,
        last_trained_on=trained,
        last_nudged_on=activity.last_nudged_on,
        snoozed_until=activity.snoozed_until,
        missed_days=missed_training_days(state, today),
    )


def next_nudge(state: Coachee, now: datetime, today: date) -> datetime | None:
    """When this user's next nudge falls due (aware UTC), or None for no nudge."""
    plan = nudge_plan(state, today)
    return None if plan is None else next_nudge_at(plan, now)


def _kind(state: Coachee, ctx: Ctx) -> NudgeKind:
    plan = nudge_plan(state, ctx.today(state))
    return "daily" if plan is None else nudge_kind(plan)


def on_nudge_due(state: Coachee, ctx: Ctx, week_summary: str | None) -> Outcome:
    """The nudge fell due. Checked again here: the tick may run late or twice."""
    today = ctx.today(state)
    activity = state.activity
    plan = nudge_plan(state, today)
    if plan is None or plan.in_quiet_hours(ctx.now.astimezone(plan.tzinfo).time()):
        return Outcome(state)
    # Only today's snooze counts: one left over from a day that rolled on is spent.
    snooze = activity.snoozed_until
    snoozed = (
        snooze is not None and snooze <= ctx.now and snooze.astimezone(plan.tzinfo).date() == today
    )
    due = snoozed or (activity.last_nudged_on != today and activity.last_trained_on != today)
    marked = state.model_copy(
        update={
            "activity": activity.model_copy(
                update={"last_nudged_on": today, "snoozed_until": None}
            )
        }
    )
    if not due:
        return Outcome(state)
    if in_session(state) or state.flow.step is Step.FORGET_CONFIRM:
        return Outcome(marked)
    lead = (week_summary,) if week_summary else ()
    if state.position.morning_check_due and not snoozed:
        return ask(
            marked, Step.MORNING_CHECK, ctx, *lead, in_settings=False, session=None, entering=False
        )
    return ask(marked, Step.NUDGE, ctx, *lead, in_settings=False, session=None)


def _morning_check(state: Coachee, ctx: Ctx) -> Question:
    keys = ("better", "same", "worse")
    return Question(ctx.say("morning_check"), tuple(ctx.choice(k) for k in keys), 3)


def _on_morning_check(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    from conversations.safety import morning_answer

    checked, said = morning_answer(state, choice, ctx)
    if state.flow.entering:
        # Asked on the way into a session (/session, a button): carry on into it.
        from conversations.session_entry import enter

        return enter(checked, ctx, said)
    return ask(checked, Step.NUDGE, ctx, said)


def _nudge(state: Coachee, ctx: Ctx) -> Question:
    kind = _kind(state, ctx)
    keys = ("start_now", "snooze_30", "snooze_2h", "skip_today")
    # The daily nudge says how long today's session takes, measured as the intro measures it.
    from conversations.guided_session import todays_minutes

    minutes = ctx.messages.plural(todays_minutes(state, ctx), "minute")
    text = ctx.say(f"nudge_{kind}", minutes=minutes)
    return Question(text, tuple(ctx.choice(k) for k in keys), 2)


def _on_nudge(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    activity = state.activity
    if choice == "start_now":
        from conversations.session_entry import enter

        calm = activity.model_copy(update={"snoozes_in_row": 0})
        return enter(state.model_copy(update={"activity": calm}), ctx)
    if choice == "skip_today":
        from conversations.coach import to_idle

        calm = activity.model_copy(update={"snoozes_in_row": 0, "snoozed_until": None})
        return to_idle(state.model_copy(update={"activity": calm}), ctx, ctx.say("skipped"))
    until = ctx.now + SNOOZES[choice]
    snoozed = state.model_copy(
        update={
            "activity": activity.model_copy(
                update={"snoozed_until": until, "snoozes_in_row": activity.snoozes_in_row + 1}
            )
        }
    )
    plan = nudge_plan(snoozed, ctx.today(snoozed))
    fires = next_nudge_at(plan, ctx.now) if plan else None
    local = fires.astimezone(plan.tzinfo) if fires and plan else None
    said = ctx.say("snoozed", time=format_time(local.time()) if local else "-")
    if snoozed.activity.snoozes_in_row >= SNOOZES_BEFORE_OFFER:
        return ask(snoozed, Step.NUDGE_TIME_OFFER, ctx, said)
    from conversations.coach import to_idle

    return to_idle(snoozed, ctx, said)


def _time_offer(state: Coachee, ctx: Ctx) -> Question:
    nudge_time = state.profile.nudge_time
    text = ctx.say("offer_new_time", time=format_time(nudge_time) if nudge_time else "-")
    return Question(text, (ctx.choice("change_time"), ctx.choice("keep_time")))


def _on_time_offer(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    calm = state.model_copy(
        update={"activity": state.activity.model_copy(update={"snoozes_in_row": 0})}
    )
    if choice == "change_time":
        return ask(calm, Step.ASK_TIME, ctx, in_settings=True)
    from conversations.coach import to_idle

    return to_idle(calm, ctx, ctx.say("time_kept"))


SPECS: dict[Step, StepSpec] = {
    Step.MORNING_CHECK: StepSpec(_morning_check, _on_morning_check),
    Step.NUDGE: StepSpec(_nudge, _on_nudge),
    Step.NUDGE_TIME_OFFER: StepSpec(_time_offer, _on_time_offer),
}
