"""Getting to know a new user: the red-flag screen, pain now, experience, days, time and zone."""

from __future__ import annotations

from conversations import safety
from conversations.flow import Ctx, Outcome, Question, StepSpec, again, ask
from conversations.pain_scale import pain_scale_step
from conversations.replies import Choice
from conversations.state import Coachee, Step
from schedules.local_time import (
    format_days,
    format_time,
    parse_time_of_day,
    parse_training_days,
    resolve_zone,
)

TIME_CHOICES = ("07:00", "08:00", "12:30", "18:00", "20:00")
ZONE_CHOICES = ("Europe/London", "Europe/Berlin", "America/New_York", "UTC")
DAY_CHOICES: dict[str, frozenset[int]] = {
    "every_day": frozenset(range(7)),
    "weekdays": frozenset(range(5)),
    "mon_wed_fri": frozenset({0, 2, 4}),
}


def _yes_no(ctx: Ctx) -> tuple[Choice, ...]:
    return (ctx.choice("yes"), ctx.choice("no"))


def _bullets(items: tuple[str, ...]) -> str:
    return "\n".join(f"• {item}" for item in items)


def begin(state: Coachee, ctx: Ctx) -> Outcome:
    """A first hello: who the coach is, that it is not a clinician, then the safety screen."""
    # Question numbers start from the clock, so that buttons left over from before a /forget
    # (whose numbers were deleted with everything else) can never match a new question.
    first = max(state.flow.step_no, int(ctx.now.timestamp()))
    fresh = state.model_copy(update={"flow": state.flow.model_copy(update={"step_no": first})})
    return ask(fresh, Step.SCREEN_URGENT, ctx, ctx.say("welcome"), ctx.say("not_a_clinician"))


def rescreen(state: Coachee, ctx: Ctx, *lead: str) -> Outcome:
    """The routine screen again (every few weeks, or due after a stop), before a session."""
    return ask(state, Step.SCREEN_URGENT, ctx, *lead, screen_reason=None, entering=False)


def _screen_urgent(state: Coachee, ctx: Ctx) -> Question:
    flags = _bullets(tuple(f.text for f in ctx.programme.safety.urgent))
    return Question(ctx.say("screen_urgent_question", flags=flags), _yes_no(ctx), 2)


def _screen_clinician(state: Coachee, ctx: Ctx) -> Question:
    flags = _bullets(tuple(f.text for f in ctx.programme.safety.clinician))
    key = safety.clinician_question_key(state)
    return Question(ctx.say(key, flags=flags), _yes_no(ctx), 2)


def _on_screen_urgent(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    if choice == "yes":
        return safety.flag(state, ctx, safety.URGENT)
    return ask(state, Step.SCREEN_CLINICIAN, ctx)


def _on_screen_clinician(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    if choice == "yes":
        return safety.flag(state, ctx, safety.CLINICIAN)
    return safety.screen_passed(state, ctx)


def _screen_blocked(state: Coachee, ctx: Ctx) -> Question:
    waiting = safety.waiting_question(state, ctx)
    return waiting or Question(ctx.say("screen_blocked"), (ctx.choice("cleared"),))


def _on_screen_blocked(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    return safety.start_clearing(state, ctx)


def on_blocked_text(state: Coachee, text: str, ctx: Ctx) -> Outcome:
    # Nothing typed starts training while it is on hold: the same answer again.
    return again(state, ctx)


def _record_pain_now(state: Coachee, score: int, ctx: Ctx) -> Outcome:
    profile = state.profile.model_copy(update={"pain_at_start": score})
    noted, lead = safety.pain_at_onboarding(
        state.model_copy(update={"profile": profile}), score, ctx
    )
    return ask(noted, Step.ASK_EXPERIENCE, ctx, *lead)


def _experience(state: Coachee, ctx: Ctx) -> Question:
    choices = (ctx.choice("new"), ctx.choice("some"), ctx.choice("regular"))
    return Question(ctx.say("ask_experience"), choices)


def _on_experience(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    profile = state.profile.model_copy(update={"experience": choice})
    noted, lead = safety.experience_start(
        state.model_copy(update={"profile": profile}), choice, ctx
    )
    return ask(noted, Step.ASK_DAYS, ctx, *lead)


def _days(state: Coachee, ctx: Ctx) -> Question:
    return Question(ctx.say("ask_days"), tuple(ctx.choice(key) for key in DAY_CHOICES))


def _after_setting(state: Coachee, ctx: Ctx, next_step: Step) -> Outcome:
    if state.flow.in_settings:
        from conversations.settings_menu import back_to_menu

        return back_to_menu(state, ctx)
    return ask(state, next_step, ctx)


def _set_days(state: Coachee, days: frozenset[int], ctx: Ctx) -> Outcome:
    profile = state.profile.model_copy(update={"training_days": days})
    return _after_setting(state.model_copy(update={"profile": profile}), ctx, Step.ASK_TIME)


def _on_days(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    return _set_days(state, DAY_CHOICES[choice], ctx)


def _typed_days(state: Coachee, text: str, ctx: Ctx) -> Outcome | None:
    days = parse_training_days(text)
    if not days:
        return again(state, ctx, ctx.say("bad_days"))
    return _set_days(state, days, ctx)


def _time(state: Coachee, ctx: Ctx) -> Question:
    return Question(ctx.say("ask_time"), tuple(Choice(t, t) for t in TIME_CHOICES), 3)


def _typed_time(state: Coachee, text: str, ctx: Ctx) -> Outcome:
    chosen = parse_time_of_day(text)
    if chosen is None:
        return again(state, ctx, ctx.say("bad_time", typed=text.strip()[:40]))
    profile = state.profile.model_copy(update={"nudge_time": chosen})
    return _after_setting(state.model_copy(update={"profile": profile}), ctx, Step.ASK_ZONE)


def _zone(state: Coachee, ctx: Ctx) -> Question:
    return Question(ctx.say("ask_zone"), tuple(Choice(z, z) for z in ZONE_CHOICES), 2)


def _typed_zone(state: Coachee, text: str, ctx: Ctx) -> Outcome:
    zone = resolve_zone(text)
    if zone is None:
        return again(state, ctx, ctx.say("bad_zone", typed=text.strip()[:40]))
    return set_zone(state, zone, ctx)


def set_zone(state: Coachee, zone: str, ctx: Ctx) -> Outcome:
    """A zone typed, tapped or shared as a location."""
    if resolve_zone(zone) != zone:
        return again(state, ctx, ctx.say("bad_zone", typed=zone[:40]))
    profile = state.profile.model_copy(update={"zone": zone})
    zoned = state.model_copy(update={"profile": profile})
    if zoned.flow.in_settings:
        return _after_setting(zoned, ctx, Step.IDLE)
    return finish(zoned, ctx)


def finish(state: Coachee, ctx: Ctx) -> Outcome:
    """Onboarding is complete: say what was set up and offer the first session."""
    profile = state.profile.model_copy(update={"onboarded": True})
    activity = state.activity.model_copy(update={"started_on": ctx.today(state)})
    done = state.model_copy(update={"profile": profile, "activity": activity})
    nudge_time = profile.nudge_time
    summary = ctx.say(
        "onboarding_done",
        days=format_days(profile.training_days),
        time=format_time(nudge_time) if nudge_time else "-",
        zone=profile.zone,
    )
    return ask(done, Step.IDLE, ctx, summary)


SPECS: dict[Step, StepSpec] = {
    Step.SCREEN_URGENT: StepSpec(_screen_urgent, _on_screen_urgent),
    Step.SCREEN_CLINICIAN: StepSpec(_screen_clinician, _on_screen_clinician),
    Step.SCREEN_BLOCKED: StepSpec(_screen_blocked, _on_screen_blocked, on_blocked_text),
    Step.ASK_PAIN_NOW: pain_scale_step("ask_pain_now", _record_pain_now),
    Step.ASK_EXPERIENCE: StepSpec(_experience, _on_experience),
    Step.ASK_DAYS: StepSpec(_days, _on_days, _typed_days),
    Step.ASK_TIME: StepSpec(_time, _typed_time, _typed_time),
    Step.ASK_ZONE: StepSpec(_zone, _typed_zone, _typed_zone),
}
