"""Safety around training (COACHING.md, "Safety"): red flags and how they are cleared, the day of
rest after a safety stop or a flag, the screen asked again at once after strong or spreading pain,
"worse" morning checks in a row, and what the pain given at onboarding changes.

Whether a session may start at all is decided here (`may_start`, `settle`); how one starts is
`conversations.session_entry`. Pure, like every conversation step.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from conversations.flow import Ctx, Outcome, Question, StepSpec, again, ask
from conversations.replies import Effect
from conversations.state import Coachee, Step
from schedules.progression import WORSE_IN_ROW_HOLD, PainKind

URGENT = "urgent"
CLINICIAN = "clinician"
# Why the red-flag screen is being asked (Flow.screen_reason).
CLEARING = "clearing"
STOP_STRONG = "stop_strong"
STOP_SPREADING = "stop_spreading"
# Pain above this score (or spreading pain) asks the screen again at once.
RESCREEN_ABOVE = 5

Plan = tuple[tuple[str, int], ...]


def _position(state: Coachee, **changes: object) -> Coachee:
    return state.model_copy(update={"position": state.position.model_copy(update=changes)})


def _local_date(state: Coachee, instant: datetime) -> date:
    return instant.astimezone(ZoneInfo(state.profile.zone)).date()


# --- may a session start? -----------------------------------------------------------------------


def rest_today(state: Coachee, ctx: Ctx) -> bool:
    """Today is a day without training: a safety stop or a red flag happened on it."""
    today = ctx.today(state)
    rest_day = state.position.rest_day
    if rest_day is not None and today <= rest_day:
        return True
    # The day of a flag or a stop, also as the zone the user has now counts it.
    flagged_at = state.position.flagged_at
    if flagged_at is not None and _local_date(state, flagged_at) >= today:
        return True
    return any(_local_date(state, stop) == today for stop in state.position.safety_stops)


def on_hold(state: Coachee) -> bool:
    """Training waits until the user says they were seen and cleared: a red flag, or the pause
    after two safety stops (the steps count too, for states saved before the flag existed)."""
    position = state.position
    return (
        position.flag is not None
        or position.safety_paused
        or state.flow.step in (Step.SCREEN_BLOCKED, Step.SAFETY_PAUSED)
    )


def may_start(state: Coachee, ctx: Ctx) -> bool:
    return not on_hold(state) and not rest_today(state, ctx)


def gentle_now(state: Coachee, ctx: Ctx) -> bool:
    """The gentle first week after high pain at onboarding."""
    until = state.position.gentle_until
    return until is not None and ctx.today(state) <= until


def waiting_question(state: Coachee, ctx: Ctx) -> Question | None:
    """What the user sees instead of a start button while no session may start; None when one
    may. On the day of a flag, a stop or the pause there is no button at all."""
    paused_only = state.position.flag is None and state.position.safety_paused
    if on_hold(state):
        if rest_today(state, ctx):
            return Question(ctx.say("safety_paused" if paused_only else "blocked_today"))
        key = "paused_waiting" if paused_only else "screen_blocked"
        return Question(ctx.say(key), (ctx.choice("cleared"),))
    if rest_today(state, ctx):
        tomorrow = ctx.today(state) + timedelta(days=1)
        key = "rest_today_check" if state.position.morning_check_due else "rest_today"
        return Question(ctx.say(key, day=tomorrow.strftime("%A")))
    return None


def settle(state: Coachee, ctx: Ctx, *lead: str, effects: tuple[Effect, ...] = ()) -> Outcome:
    """No session now: wait where the user belongs (on hold, or idle)."""
    step = Step.IDLE
    if on_hold(state):
        paused_only = state.position.flag is None and state.position.safety_paused
        step = Step.SAFETY_PAUSED if paused_only else Step.SCREEN_BLOCKED
    return ask(
        state,
        step,
        ctx,
        *lead,
        effects=effects,
        in_settings=False,
        session=None,
        screen_reason=None,
        entering=False,
    )


# --- red flags and clearing ---------------------------------------------------------------------


def flag(state: Coachee, ctx: Ctx, tier: str) -> Outcome:
    """A red flag answered yes: the advice, no training today, and no button to clear it."""
    safety = ctx.programme.safety
    advice = safety.urgent_advice if tier == URGENT else safety.clinician_advice
    flagged = _position(state, flag=tier, flagged_at=ctx.now, rest_day=ctx.today(state))
    return settle(flagged, ctx, advice)


def start_clearing(state: Coachee, ctx: Ctx) -> Outcome:
    """ "I've been seen and cleared" (button or /cleared): from the day after the flag, the whole
    screen again, both tiers."""
    if not on_hold(state):
        return again(state, ctx, ctx.say("nothing_to_clear"))
    if rest_today(state, ctx):
        return settle(state, ctx, ctx.say("clear_from_tomorrow"))
    return ask(
        state,
        Step.SCREEN_URGENT,
        ctx,
        ctx.say("clearing_screen"),
        in_settings=False,
        session=None,
        screen_reason=CLEARING,
        entering=False,
    )


def clinician_question_key(state: Coachee) -> str:
    """Someone cleared before is asked about anything apart from what they were cleared for,
    so an ongoing condition a clinician has seen does not block them again."""
    if state.flow.screen_reason == CLEARING or state.position.cleared_on is not None:
        return "screen_clinician_since_cleared"
    return "screen_clinician_question"


def screen_passed(state: Coachee, ctx: Ctx) -> Outcome:
    """Both tiers answered no: what follows depends on why the screen was asked."""
    reason = state.flow.screen_reason
    screened = state.model_copy(
        update={
            "profile": state.profile.model_copy(update={"screened_at": ctx.now}),
            "position": state.position.model_copy(update={"screen_due": False}),
            "flow": state.flow.model_copy(update={"screen_reason": None}),
        }
    )
    if reason == CLEARING:
        return _cleared(screened, ctx)
    if reason == STOP_SPREADING:
        return settle(screened, ctx, ctx.say("after_check_spreading"))
    if reason == STOP_STRONG:
        return settle(screened, ctx, ctx.say("after_check_strong"))
    return carry_on(screened, ctx)


def _cleared(state: Coachee, ctx: Ctx) -> Outcome:
    position = state.position
    tier_two = position.flag == CLINICIAN or (position.flag is None and not position.safety_paused)
    cleared = _position(
        state, flag=None, safety_paused=False, safety_stops=(), cleared_on=ctx.today(state)
    )
    # Off hold now: leave the blocked step so that `on_hold` no longer sees it.
    off_hold = cleared.flow.model_copy(update={"step": Step.IDLE})
    cleared = cleared.model_copy(update={"flow": off_hold})
    if tier_two:
        return ask(cleared, Step.ASK_BONE_HEALTH, ctx, in_settings=False, session=None)
    return carry_on(cleared, ctx, ctx.say("cleared_thanks"))


def carry_on(state: Coachee, ctx: Ctx, *lead: str) -> Outcome:
    """After a screen: onboarding goes on, an onboarded user goes into a session (by the rules)."""
    if state.profile.onboarded:
        from conversations.session_entry import enter

        return enter(state, ctx, *lead)
    return ask(state, Step.ASK_PAIN_NOW, ctx, *lead)


def _bone_health(state: Coachee, ctx: Ctx) -> Question:
    return Question(ctx.say("ask_bone_health"), (ctx.choice("yes"), ctx.choice("no")), 2)


def _on_bone_health(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    answered = _position(state, neutral_spine=True) if choice == "yes" else state
    said = ctx.say("bone_health_yes" if choice == "yes" else "bone_health_no")
    return carry_on(answered, ctx, said, ctx.say("cleared_thanks"))


# --- a safety stop ------------------------------------------------------------------------------


def after_stop(
    state: Coachee,
    ctx: Ctx,
    *,
    score: int | None,
    kind: PainKind | None,
    effects: tuple[Effect, ...],
) -> Outcome:
    """The session ended for pain: no more training today. Strong or spreading pain asks the
    screen at once, urgent signs first; the advice then matches what was said."""
    rested = _position(state, rest_day=ctx.today(state))
    reason = None
    if kind is PainKind.SPREADING:
        reason = STOP_SPREADING
    elif score is not None and score > RESCREEN_ABOVE:
        reason = STOP_STRONG
    if reason is None:
        return settle(rested, ctx, ctx.say("safety_stop"), effects=effects)
    return ask(
        rested,
        Step.SCREEN_URGENT,
        ctx,
        ctx.say(reason),
        effects=effects,
        in_settings=False,
        session=None,
        screen_reason=reason,
        entering=False,
    )


# --- the morning check --------------------------------------------------------------------------


def morning_answer(state: Coachee, choice: str, ctx: Ctx) -> tuple[Coachee, str]:
    """Better / same / worse: "worse" holds the next dose-up; twice in a row holds them until
    the back is no longer worse, and suggests a clinician."""
    position = state.position
    worse = choice == "worse"
    in_row = position.worse_in_row + 1 if worse else 0
    checked = _position(
        state,
        morning_check_due=False,
        worse_in_row=in_row,
        hold_back_sessions=1 if worse else position.hold_back_sessions,
    )
    key = "morning_worse_again" if in_row >= WORSE_IN_ROW_HOLD else f"morning_{choice}"
    return checked, ctx.say(key)


# --- onboarding ---------------------------------------------------------------------------------


def pain_at_onboarding(state: Coachee, score: int, ctx: Ctx) -> tuple[Coachee, tuple[str, ...]]:
    """6 or more: a gentle first week; 8 or more: see a clinician first, no session today."""
    rules = ctx.programme.safety.onboarding_pain
    today = ctx.today(state)
    if score < rules.gentle_from:
        return state, ()
    gentle = _position(state, gentle_until=today + timedelta(days=rules.gentle_days - 1))
    if score >= rules.clinician_first_from:
        return _position(gentle, rest_day=today), (ctx.say("pain_now_clinician_first"),)
    return gentle, (ctx.say("pain_now_gentle"),)


def experience_start(state: Coachee, choice: str, ctx: Ctx) -> tuple[Coachee, tuple[str, ...]]:
    """Experienced users start higher on stage 1's ladders (never a later stage); not during a
    gentle first week."""
    steps = ctx.programme.safety.experienced_steps_up
    if choice != "regular" or steps == 0 or gentle_now(state, ctx) or state.position.stage != 1:
        return state, ()
    doses: dict[str, int] = {}
    for exercise in ctx.programme.stage(1).exercises:
        count = exercise.dose.floor
        for _ in range(steps):
            count = exercise.dose.up(count)
        doses[exercise.id] = count
    return _position(state, doses=doses), (ctx.say("experienced_start"),)


# --- what a session holds -----------------------------------------------------------------------


def _stage_of(ctx: Ctx, exercise_id: str) -> int:
    for stage in ctx.programme.stages:
        if any(e.id == exercise_id for e in stage.exercises):
            return stage.number
    return 0


def shape_plan(state: Coachee, ctx: Ctx, plan: Plan) -> Plan:
    """The gentle first week keeps the gentlest exercises at their floor; someone cleared with
    osteoporosis or a vertebral fracture gets neutral-spine stand-ins for loaded flexion."""
    if gentle_now(state, ctx) and state.position.stage == 1:
        keep = ctx.programme.safety.onboarding_pain.gentle_exercises
        plan = tuple(
            (exercise_id, ctx.programme.exercise(exercise_id).dose.floor)
            for exercise_id, _ in plan
            if exercise_id in keep
        )
    if state.position.neutral_spine:
        swapped: list[tuple[str, int]] = []
        for exercise_id, count in plan:
            stand_in = ctx.programme.neutral_swap(_stage_of(ctx, exercise_id), exercise_id)
            if stand_in is None:
                swapped.append((exercise_id, count))
            else:
                swapped.append((stand_in.id, stand_in.dose.clamp(count)))
        plan = tuple(swapped)
    return plan


SPECS: dict[Step, StepSpec] = {
    Step.ASK_BONE_HEALTH: StepSpec(_bone_health, _on_bone_health),
}
