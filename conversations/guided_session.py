"""A guided session, one step at a time: intro, holds, how each set felt, pain, form check-ins,
and the summary with the decision for next time."""

from __future__ import annotations

from datetime import timedelta

from conversations import pictures, running_set, safety, upkeep
from conversations.flow import Ctx, Outcome, Question, StepSpec, again, ask
from conversations.pain_scale import pain_scale_step
from conversations.records import (
    Answer,
    CheckInLog,
    Decision,
    Feeling,
    PainKind,
    SessionRecord,
    SetLog,
)
from conversations.replies import CancelHoldTimer, RecordSession
from conversations.running_set import current_exercise, session_of, with_session
from conversations.session_plan import (
    Plan,
    dose_text,
    holds_in_set,
    plan_for,
    session_minutes,
)
from conversations.state import Activity, Coachee, SessionInProgress, Step
from schedules import progression
from schedules.progression import SessionFacts, Verdict, current_doses


def _plan(state: Coachee, ctx: Ctx) -> Plan:
    plan = plan_for(
        ctx.programme,
        state.position,
        rotation=state.activity.total_sessions,
        short=state.flow.short,
    )
    return safety.shape_plan(state, ctx, plan)


# --- starting -----------------------------------------------------------------------------------


def offer_session(state: Coachee, ctx: Ctx, *lead: str, short: bool = False) -> Outcome:
    """The session intro: stage, exercises and time, with Let's go / Not now. A short session
    (welcome back after missed days) keeps every exercise at the stage's floor."""
    return ask(state, Step.SESSION_INTRO, ctx, *lead, session=None, short=short)


def _intro(state: Coachee, ctx: Ctx) -> Question:
    stage = ctx.programme.stage(state.position.stage)
    plan = _plan(state, ctx)
    names = "\n".join(
        f"• {ctx.programme.exercise(exercise_id).name} ({_dose_text(ctx, exercise_id, count)})"
        for exercise_id, count in plan
    )
    text = ctx.say(
        "session_intro",
        stage=stage.number,
        stage_name=stage.name,
        aim=stage.aim,
        count=ctx.messages.plural(len(plan), "exercise"),
        minutes=ctx.messages.plural(session_minutes(ctx.programme, plan), "minute"),
        exercises=names,
    )
    focus = _focus(state, ctx)
    if focus:
        text = f"{text}\n\n{focus}"
    return Question(text, (ctx.choice("go"), ctx.choice("not_now")), 2)


def todays_minutes(state: Coachee, ctx: Ctx) -> int:
    """How long today's session takes: the figure the intro says and the budget test checks."""
    return session_minutes(ctx.programme, _plan(state, ctx))


CHECKIN_CUE = "checkin:"


def _focus(state: Coachee, ctx: Ctx) -> str:
    """The focus line for this session: the missed check-in's own cue, or one for what else
    went wrong last time."""
    cue_key = state.position.cue_next_time
    if not cue_key:
        return ""
    if cue_key.startswith(CHECKIN_CUE):
        cue = ctx.programme.checkin_cues.get(cue_key.removeprefix(CHECKIN_CUE))
        return ctx.say("focus_checkin", cue=cue) if cue else ""
    return ctx.messages.cues_for.get(cue_key, "")


def _dose_text(ctx: Ctx, exercise_id: str, count: int) -> str:
    return dose_text(ctx.programme, exercise_id, count)


def _on_intro(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    if choice == "not_now":
        from conversations.coach import to_idle

        return to_idle(state, ctx)
    if not safety.may_start(state, ctx):
        # An intro left waiting does not get round the safety rules (session_entry).
        return safety.settle(state, ctx)
    session = SessionInProgress(started_at=ctx.now, plan=_plan(state, ctx), short=state.flow.short)
    return ask(state, Step.HOLD_READY, ctx, session=session)


# --- sets -------------------------------------------------------------------------------------


def _set_ready(state: Coachee, ctx: Ctx) -> Question:
    session = session_of(state)
    exercise, count = current_exercise(state, ctx)
    cue = exercise.cues[ctx.today(state).toordinal() % len(exercise.cues)]
    intro = ctx.say(
        "exercise_intro",
        number=session.exercise_index + 1,
        total=len(session.plan),
        name=exercise.name,
        how_to=exercise.how_to,
        cue=cue,
        dose=_dose_text(ctx, exercise.id, count),
    )
    ready = ctx.say(
        "set_ready", holds=ctx.messages.plural(holds_in_set(exercise, count), exercise.kind)
    )
    choices = (ctx.choice("start"), ctx.choice("it_hurts"), ctx.choice("stop_session"))
    return Question(f"{intro}\n\n{ready}", choices + pictures.show_me_choices(state, ctx), 2)


def _on_set_ready(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    if choice == "stop_session":
        return stop(state, ctx)
    if choice == "it_hurts":
        return _hurts(state, ctx)
    if choice == pictures.SHOW_ME:
        return pictures.show_me(state, ctx)
    return running_set.start_set(state, ctx)


def _on_running(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    return running_set.on_running(state, choice, ctx)


def _hurts(state: Coachee, ctx: Ctx) -> Outcome:
    """Pain can be reported at any moment, not only when a set ends."""
    ended = with_session(state, pending_feeling=Feeling.PAIN)
    return ask(ended, Step.ASK_PAIN_SCORE, ctx)


# --- how it felt --------------------------------------------------------------------------------


def _feel(state: Coachee, ctx: Ctx) -> Question:
    exercise, _ = current_exercise(state, ctx)
    text = ctx.say("ask_feel", name=exercise.name)
    if state.activity.total_sessions == 0 and not session_of(state).sets:
        # The first time: one line on what the four answers mean.
        text = f"{text}\n{ctx.say('feel_meanings')}"
    keys = ("steady", "working", "shaky", "pain")
    return Question(text, tuple(ctx.choice(k) for k in keys), 2)


def _on_feel(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    feeling = Feeling(choice)
    if feeling is Feeling.PAIN:
        pending = with_session(state, pending_feeling=feeling)
        return ask(pending, Step.ASK_PAIN_SCORE, ctx)
    return _after_set(_log_set(state, ctx, feeling), ctx)


def _log_set(
    state: Coachee,
    ctx: Ctx,
    feeling: Feeling,
    score: int | None = None,
    kind: PainKind | None = None,
) -> Coachee:
    session = session_of(state)
    exercise, count = current_exercise(state, ctx)
    log = SetLog(
        exercise_id=exercise.id,
        side="",
        count=count,
        feeling=feeling,
        pain_score=score,
        pain_kind=kind,
    )
    return with_session(
        state, sets=(*session.sets, log), pending_feeling=None, pending_pain_score=None
    )


def _after_set(state: Coachee, ctx: Ctx, *lead: str) -> Outcome:
    # One set per exercise (every side in it): the form check-in follows.
    return ask(state, Step.ASK_CHECKIN, ctx, *lead)


def _with_pain_score(state: Coachee, score: int, ctx: Ctx) -> Outcome:
    if progression.is_safety_stop(score, None):
        return safety_stop(_log_set(state, ctx, Feeling.PAIN, score), ctx)
    return ask(with_session(state, pending_pain_score=score), Step.ASK_PAIN_KIND, ctx)


def _pain_kind(state: Coachee, ctx: Ctx) -> Question:
    choices = (ctx.choice("dull"), ctx.choice("sharp"), ctx.choice("spreading"))
    return Question(ctx.say("ask_pain_kind"), choices)


def _on_pain_kind(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    kind = PainKind(choice)
    score = session_of(state).pending_pain_score
    logged = _log_set(state, ctx, Feeling.PAIN, score, kind)
    if progression.is_safety_stop(score, kind):
        return safety_stop(logged, ctx)
    return _after_set(logged, ctx, ctx.say("pain_ok_continue"))


# --- form check-in ------------------------------------------------------------------------------


def _checkin_id(state: Coachee, ctx: Ctx) -> str:
    exercise, _ = current_exercise(state, ctx)
    return exercise.checkins[state.activity.total_sessions % len(exercise.checkins)]


def _checkin(state: Coachee, ctx: Ctx) -> Question:
    question = ctx.programme.checkins[_checkin_id(state, ctx)]
    choices = (ctx.choice("yes"), ctx.choice("no"), ctx.choice("not_sure"))
    return Question(ctx.say("ask_checkin", question=question), choices, 3)


def _on_checkin(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
    session = session_of(state)
    exercise, _ = current_exercise(state, ctx)
    log = CheckInLog(
        exercise_id=exercise.id, question_id=_checkin_id(state, ctx), answer=Answer(choice)
    )
    logged = with_session(state, checkins=(*session.checkins, log))
    if session.exercise_index + 1 < len(session.plan):
        nxt = with_session(logged, exercise_index=session.exercise_index + 1, side_index=0)
        nxt = with_session(nxt, hold_index=0)
        return ask(nxt, Step.HOLD_READY, ctx, ctx.say("checkin_thanks"))
    return finish(logged, ctx)


# --- the end ------------------------------------------------------------------------------------


def _facts(session: SessionInProgress) -> SessionFacts:
    return SessionFacts(
        feelings=tuple(s.feeling for s in session.sets),
        answers=tuple(c.answer for c in session.checkins),
        pain_scores=tuple(s.pain_score for s in session.sets if s.pain_score is not None),
        pain_kinds=tuple(s.pain_kind for s in session.sets if s.pain_kind is not None),
        holds=len(session.holds),
        shaky_holds=session.shaky_holds,
    )


def _trained(activity: Activity, ctx: Ctx, state: Coachee) -> Activity:
    today = ctx.today(state)
    last = activity.last_trained_on
    if last == today:
        streak = activity.streak
    elif last is not None and today - last == timedelta(days=1):
        streak = activity.streak + 1
    else:
        streak = 1
    return activity.model_copy(
        update={
            "total_sessions": activity.total_sessions + 1,
            "streak": streak,
            "last_trained_on": today,
        }
    )


def _record(
    state: Coachee, after: Coachee, ctx: Ctx, verdict: Verdict, *, completed: bool
) -> RecordSession:
    session = session_of(state)
    return RecordSession(
        SessionRecord(
            started_at=session.started_at,
            ended_at=ctx.now,
            local_date=ctx.today(state),
            stage=state.position.stage,
            doses=dict(session.plan),
            holds=session.holds,
            sets=session.sets,
            checkins=session.checkins,
            completed=completed,
            decision=verdict.decision,
            reason=verdict.reason,
            stage_after=after.position.stage,
            doses_after=current_doses(ctx.programme, after.position),
        )
    )


def _went_well(session: SessionInProgress, ctx: Ctx) -> str:
    steady = sum(1 for s in session.sets if s.feeling in (Feeling.STEADY, Feeling.WORKING))
    plural = ctx.messages.plural
    return ctx.say(
        "went_well",
        exercises=plural(len(session.plan), "exercise"),
        holds=plural(len(session.holds), "hold"),
        steady=steady,
        sets=plural(len(session.sets), "set"),
    )


def _reason(ctx: Ctx, verdict: Verdict, after: Coachee) -> str:
    stage = ctx.programme.stage(after.position.stage)
    return ctx.messages.reasons[verdict.reason].format(stage=stage.number, stage_name=stage.name)


def finish(state: Coachee, ctx: Ctx) -> Outcome:
    """The last check-in is in: decide what comes next, record the session, sum up."""
    session = session_of(state)
    if session.short:
        # A welcome-back session eases back in; it neither moves the dose nor counts to advance.
        position, verdict = state.position, Verdict(Decision.REPEAT, "welcome_back")
    else:
        position, verdict = progression.decide(
            ctx.programme, state.position, _facts(session), today=ctx.today(state)
        )
        missed = next((c for c in session.checkins if c.answer is Answer.NO), None)
        if position.cue_next_time == "checkin_no" and missed is not None:
            # The next intro's focus is the cue of the check-in that was missed.
            position = position.model_copy(
                update={"cue_next_time": CHECKIN_CUE + missed.question_id}
            )
    after = state.model_copy(
        update={"position": position, "activity": _trained(state.activity, ctx, state)}
    )
    record = _record(state, after, ctx, verdict, completed=True)
    from conversations.coach import next_nudge_text, to_idle

    summary = ctx.say(
        "summary",
        went_well=_went_well(session, ctx),
        decision=_reason(ctx, verdict, after),
        streak=ctx.messages.plural(after.activity.streak, "day"),
        next_nudge=next_nudge_text(after, ctx),
    )
    if upkeep.wants_upkeep_question(state, after, ctx.programme.last_stage):
        return upkeep.offer_upkeep_days(after, ctx, summary).doing(record)
    return to_idle(after, ctx, summary).doing(record)


def stop(state: Coachee, ctx: Ctx) -> Outcome:
    """/stop: end the session now, keeping what was recorded; no progression either way."""
    from conversations.coach import to_idle

    ended, effects = running_set.end_running(state, ctx)
    verdict = Verdict(Decision.REPEAT, "repeat_stopped")
    record = _record(ended, ended, ctx, verdict, completed=False)
    return to_idle(ended, ctx, ctx.say("session_stopped")).doing(*effects, record)


def safety_stop(state: Coachee, ctx: Ctx) -> Outcome:
    """Sharp, spreading or strong pain: end the session at once and step the dose back."""
    position = progression.safety_stop(ctx.programme, state.position, now=ctx.now)
    after = state.model_copy(
        update={"position": position, "activity": _trained(state.activity, ctx, state)}
    )
    record = _record(
        state, after, ctx, Verdict(Decision.SAFETY_STOP, "safety_stop"), completed=False
    )
    last = session_of(state).sets[-1] if session_of(state).sets else None
    return safety.after_stop(
        after,
        ctx,
        score=last.pain_score if last else None,
        kind=last.pain_kind if last else None,
        effects=(CancelHoldTimer(), record),
    )


def resume_text(state: Coachee, ctx: Ctx) -> str:
    session = session_of(state)
    exercise, _ = current_exercise(state, ctx)
    return ctx.say(
        "session_resume",
        name=exercise.name,
        number=session.exercise_index + 1,
        total=len(session.plan),
    )


def resume(state: Coachee, ctx: Ctx) -> Outcome:
    """/session during a session: the waiting question again, exactly where it stopped."""
    return again(state, ctx, resume_text(state, ctx))


SPECS: dict[Step, StepSpec] = {
    Step.SESSION_INTRO: StepSpec(_intro, _on_intro),
    Step.HOLD_READY: StepSpec(_set_ready, _on_set_ready),
    Step.HOLDING: StepSpec(running_set.running_question, _on_running),
    Step.ASK_FEEL: StepSpec(_feel, _on_feel),
    Step.ASK_PAIN_SCORE: pain_scale_step("ask_pain_score", _with_pain_score),
    Step.ASK_PAIN_KIND: StepSpec(_pain_kind, _on_pain_kind),
    Step.ASK_CHECKIN: StepSpec(_checkin, _on_checkin),
}
