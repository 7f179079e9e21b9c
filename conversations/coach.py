"""The coach: `transition(state, event, now=, programme=)` returns the new state, the replies and
the effects. Pure: no clock, no network, no database. Every state accepts every event; what does
not fit gets a helpful answer and leaves the state as it was."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from conversations import (
    guided_session,
    lessons,
    nudging,
    onboarding,
    pictures,
    running_set,
    safety,
    session_entry,
    settings_menu,
    upkeep,
)
from conversations.events import (
    Choose,
    Command,
    Event,
    HoldTimeUp,
    NudgeDue,
    SharedZone,
    Text,
    Unsupported,
)
from conversations.flow import Ctx, Outcome, Question, StepSpec, again, ask, reply_for, say_only
from conversations.parsing import parse_whole_number
from conversations.progress import to_advance_text
from conversations.replies import ExportData, ForgetUser, Reply, ShowProgress
from conversations.state import ONBOARDING_STEPS, Coachee, Step, in_session, new_coachee, utc
from conversations.steps import SPECS
from data.programme import COMMAND_KEYS, Programme
from schedules.local_time import format_time

# One list of commands: the coach answers these, and the chat apps show them as the menu.
COMMANDS = COMMAND_KEYS
DEFAULT_PAUSE_DAYS = 7
MAX_PAUSE_DAYS = 60


def transition(state: Coachee, event: Event, *, now: datetime, programme: Programme) -> Outcome:
    """Handle one event for one user."""
    ctx = Ctx(programme, utc(now))
    # Whatever the step, an exercise's first question carries its picture, and a finished
    # session's summary is followed by the day's lesson.
    return lessons.after_session(pictures.with_pictures(_handle(state, event, ctx)), ctx)


def _handle(state: Coachee, event: Event, ctx: Ctx) -> Outcome:
    match event:
        case Command(name=name, argument=argument):
            return _command(state, name.lower().lstrip("/"), argument.strip(), ctx)
        case Choose(choice=choice, step_no=step_no):
            return _choose(state, choice, step_no, ctx)
        case Text(text=text):
            return _text(state, text, ctx)
        case HoldTimeUp(step_no=step_no):
            if state.flow.step is Step.HOLDING and step_no == state.flow.step_no:
                return running_set.wake(state, ctx)
            return Outcome(state)
        case Unsupported():
            return _reask_or(state, ctx, ctx.say("unsupported_input"))
        case NudgeDue(week_summary=summary):
            return nudging.on_nudge_due(state, ctx, summary)
        case SharedZone(zone=zone):
            if state.flow.step is Step.ASK_ZONE:
                return onboarding.set_zone(state, zone, ctx)
            return _reask_or(state, ctx, ctx.say("location_not_needed"))


def prompt(state: Coachee, *, now: datetime, programme: Programme) -> Reply | None:
    """The waiting question as it would be asked now, or None before the first hello."""
    if state.flow.step is Step.NEW:
        return None
    ctx = Ctx(programme, utc(now))
    return reply_for(state, SPECS[state.flow.step].question(state, ctx))


def choices_of(state: Coachee, *, now: datetime, programme: Programme) -> tuple[str, ...]:
    """The ids of the choices the waiting question offers."""
    reply = prompt(state, now=now, programme=programme)
    return tuple(c.id for c in reply.choices) if reply else ()


# --- answers ------------------------------------------------------------------------------------


def _spec(state: Coachee) -> StepSpec | None:
    return SPECS.get(state.flow.step)


def _question(state: Coachee, ctx: Ctx) -> Question | None:
    spec = _spec(state)
    return spec.question(state, ctx) if spec else None


def _reask_or(state: Coachee, ctx: Ctx, lead: str) -> Outcome:
    if state.flow.step is Step.NEW:
        return say_only(state, lead, ctx.say("need_onboarding"))
    return again(state, ctx, lead)


def _choose(state: Coachee, choice: str, step_no: int | None, ctx: Ctx) -> Outcome:
    spec = _spec(state)
    question = _question(state, ctx)
    if step_no is not None and step_no != state.flow.step_no:
        return say_only(state, ctx.say("stale_button"))
    if spec is None or question is None or choice not in {c.id for c in question.choices}:
        return say_only(state, ctx.say("stale_button"))
    return spec.on_choice(state, choice, ctx)


def _text(state: Coachee, text: str, ctx: Ctx) -> Outcome:
    stripped = text.strip()
    if stripped.startswith("/"):
        name, _, argument = stripped[1:].partition(" ")
        return _command(state, name.split("@")[0].lower(), argument.strip(), ctx)
    if state.flow.step is Step.NEW:
        return onboarding.begin(state, ctx)
    spec = _spec(state)
    question = _question(state, ctx)
    if spec is None or question is None:
        return _reask_or(state, ctx, ctx.say("bad_choice", options="-"))
    if not question.choices and spec.on_text is None:
        # Nothing to choose from (a day of rest): typing anything gets the same answer again.
        return again(state, ctx)
    wanted = stripped.casefold()
    for choice in question.choices:
        if choice.label.casefold() == wanted or choice.id.casefold() == wanted:
            return spec.on_choice(state, choice.id, ctx)
    if spec.on_text is not None:
        typed = spec.on_text(state, stripped, ctx)
        if typed is not None:
            return typed
    options = ", ".join(f"“{c.label}”" for c in question.choices)
    return again(state, ctx, ctx.say("bad_choice", options=options))


# --- commands -----------------------------------------------------------------------------------


def _command(state: Coachee, name: str, argument: str, ctx: Ctx) -> Outcome:
    if name not in COMMANDS:
        return _reask_or(state, ctx, ctx.say("unknown_command"))
    if name == "help":
        return _reask_or(state, ctx, ctx.say("help"))
    anytime = ("start", "export", "forget", "cleared")
    if state.flow.step is Step.NEW or (
        name not in anytime and not state.profile.onboarded and state.flow.step in ONBOARDING_STEPS
    ):
        if state.flow.step is Step.NEW:
            return onboarding.begin(state, ctx)
        return again(state, ctx, ctx.say("need_onboarding"))
    match name:
        case "start":
            if in_session(state):
                return guided_session.resume(state, ctx)
            return again(state, ctx)
        case "session":
            return start_session(state, ctx)
        case "cleared":
            return safety.start_clearing(state, ctx)
        case "stop":
            if not in_session(state):
                return _reask_or(state, ctx, ctx.say("no_session"))
            return guided_session.stop(state, ctx)
        case "progress":
            return again(state, ctx, progress_text(state, ctx)).doing(ShowProgress())
        case "settings":
            if in_session(state):
                return again(state, ctx, ctx.say("finish_session_first"))
            return settings_menu.open_menu(state, ctx)
        case "pause":
            return _pause(state, argument, ctx)
        case "resume":
            return _resume(state, ctx)
        case "export":
            return _reask_or(state, ctx, ctx.say("export")).doing(ExportData())
        case "learn":
            learned, text, lesson = lessons.learn(state, argument, ctx)
            if lesson is None:
                return _reask_or(learned, ctx, text)
            waiting = again(learned, ctx)
            return Outcome(learned, (lesson, *waiting.replies), waiting.effects)
        case "forget":
            if in_session(state):
                return again(state, ctx, ctx.say("finish_session_first"))
            return ask(state, Step.FORGET_CONFIRM, ctx, in_settings=False, session=None)
    raise AssertionError(name)


def start_session(state: Coachee, ctx: Ctx) -> Outcome:
    """/session, and every other way in: the one entry point's rules (session_entry)."""
    return session_entry.enter(state, ctx)


def _pause(state: Coachee, argument: str, ctx: Ctx) -> Outcome:
    days = DEFAULT_PAUSE_DAYS
    if argument:
        parsed = parse_whole_number(argument.split()[0], 1, MAX_PAUSE_DAYS)
        if parsed is None:
            return _reask_or(state, ctx, ctx.say("bad_pause_days", most=MAX_PAUSE_DAYS))
        days = parsed
    until = ctx.today(state) + timedelta(days=days - 1)
    activity = state.activity.model_copy(update={"paused_until": until})
    paused = state.model_copy(update={"activity": activity})
    return _reask_or(
        paused,
        ctx,
        ctx.say("paused", days=ctx.messages.plural(days, "day"), until=until.strftime("%a %d %b")),
    )


def _resume(state: Coachee, ctx: Ctx) -> Outcome:
    if state.position.safety_paused:
        return safety.settle(state, ctx)
    if state.activity.paused_until is None:
        return _reask_or(state, ctx, ctx.say("not_paused"))
    activity = state.activity.model_copy(update={"paused_until": None})
    return _reask_or(state.model_copy(update={"activity": activity}), ctx, ctx.say("resumed"))


# --- idle, safety pause, progress ---------------------------------------------------------------


def to_idle(state: Coachee, ctx: Ctx, *lead: str) -> Outcome:
    return ask(state, Step.IDLE, ctx, *lead, in_settings=False, session=None)


def _idle(state: Coachee, ctx: Ctx) -> Question:
    # On hold or on a day of rest, idle offers no session (and says when one can start).
    waiting = safety.waiting_question(state, ctx)
    return waiting or Question(ctx.say("idle"), (ctx.choice("start_session"),))


def _on_idle(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    if choice == "cleared":
        return safety.start_clearing(state, ctx)
    return start_session(state, ctx)


def _safety_paused(state: Coachee, ctx: Ctx) -> Question:
    waiting = safety.waiting_question(state, ctx)
    return waiting or Question(ctx.say("paused_waiting"), (ctx.choice("cleared"),))


def _on_safety_paused(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    return safety.start_clearing(state, ctx)


def _forget_confirm(state: Coachee, ctx: Ctx) -> Question:
    return Question(ctx.say("forget_confirm"), (ctx.choice("forget_yes"), ctx.choice("forget_no")))


def _on_forget_confirm(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    if choice == "forget_yes":
        return Outcome(new_coachee(), (Reply(ctx.say("forgotten")),), (ForgetUser(),))
    return to_idle(state, ctx, ctx.say("forget_kept"))


def next_nudge_text(state: Coachee, ctx: Ctx) -> str:
    """When the next nudge comes, in the user's own time zone."""
    fires = nudging.next_nudge(state, ctx.now, ctx.today(state))
    if fires is None:
        return ctx.say("no_nudge")
    local = fires.astimezone(ZoneInfo(state.profile.zone))
    return ctx.say(
        "next_nudge",
        day=local.strftime("%A"),
        time=format_time(local.time()),
        zone=state.profile.zone,
    )


def progress_text(state: Coachee, ctx: Ctx) -> str:
    """Stage, what it takes to move on, streak. The adapters add the history: sessions this
    week and in total, doses now against the start, the pain trend, the chart."""
    position = state.position
    stage = ctx.programme.stage(position.stage)
    read, total = lessons.read_count(state, ctx)
    text = ctx.say(
        "progress",
        stage=stage.number,
        stage_name=stage.name,
        to_advance=to_advance_text(ctx.programme, position, ctx.today(state)),
        streak=ctx.messages.plural(state.activity.streak, "day"),
    )
    return f"{text}\n{ctx.say('lessons_read', read=read, total=total)}" if total else text


SPECS.update(
    {
        Step.IDLE: StepSpec(_idle, _on_idle),
        Step.SAFETY_PAUSED: StepSpec(
            _safety_paused, _on_safety_paused, onboarding.on_blocked_text
        ),
        Step.FORGET_CONFIRM: StepSpec(_forget_confirm, _on_forget_confirm),
    }
)
SPECS.update(nudging.SPECS)
SPECS.update(onboarding.SPECS)
SPECS.update(guided_session.SPECS)
SPECS.update(settings_menu.SPECS)
SPECS.update(upkeep.SPECS)
SPECS.update(safety.SPECS)
