"""The /progress details and the weekly summary for the nudge: report texts from the stored
history. The user-facing sentences are in data/messages.yaml, section `reports`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from bot.reports.history import Db, SessionPoint, _points, _sessions, _short_date, say
from bot.service import CoachService
from bot.store.db import (
    StoredUser,
    find_user,
    load_coachee,
    unit_of_work,
)
from conversations.progress import to_advance_text
from conversations.session_plan import dose_text
from data.programme import Exercise, default_programme
from schedules.local_time import local_date
from schedules.progression import (
    Decision,
    current_doses,
)

# Pain trend: the last few sessions against the few before them.
PAIN_WINDOW = 5


# --- /progress details --------------------------------------------------------------------------


def _dose_words(exercise: Exercise, count: int) -> str:
    return dose_text(default_programme(), exercise.id, count)


def _pain_trend(points: Sequence[SessionPoint]) -> str:
    if not any(p.max_pain is not None for p in points):
        return say("pain_none_ever")
    recent = points[-PAIN_WINDOW:]
    before = points[-2 * PAIN_WINDOW : -PAIN_WINDOW] if len(points) > PAIN_WINDOW else []
    hurt = [p.max_pain for p in recent if p.max_pain is not None]
    hurt_before = sum(1 for p in before if p.max_pain is not None)
    if not hurt:
        return say("pain_none_recent", n=len(recent), before=hurt_before, m=len(before))
    trend = ""
    if before:
        if len(hurt) < hurt_before:
            trend = say("pain_fewer", m=len(before), before=hurt_before)
        elif len(hurt) > hurt_before:
            trend = say("pain_more", m=len(before), before=hurt_before)
        else:
            trend = say("pain_same", m=len(before))
    return say("pain_recent", r=len(hurt), n=len(recent), top=max(hurt), trend=trend)


def progress_details(service: CoachService, platform: str, chat_id: str) -> str:
    """What the core's progress text leaves out: sessions this week, each exercise's dose now
    against the start of the stage, and the pain trend. Empty for a user we don't know."""
    programme = service.programme
    with unit_of_work(service.engine) as db:
        user = find_user(db, platform, chat_id)
        if user is None:
            return ""
        coachee = load_coachee(db, user)
        points = _points(db, user.id)
    today = local_date(service.clock(), coachee.profile.zone)
    monday = today - timedelta(days=today.weekday())
    week = sum(1 for p in points if p.local_date >= monday)
    lines = [say("details_week", week=week, total=len(points))]
    extra = sum(1 for p in points if p.local_date >= monday and p.extra_practice)
    if extra:
        lines[0] += " " + say("details_extra", extra=extra)
    position = coachee.position
    if points and points[0].stage != position.stage:
        lines.append(
            say(
                "details_started",
                day=_short_date(points[0].local_date),
                first=points[0].stage,
                stage=position.stage,
            )
        )
    stage = programme.stage(position.stage)
    now = current_doses(programme, position)
    began = next((p.doses for p in points if p.stage == position.stage), {})
    lines.append(say("details_doses_head"))
    for exercise in stage.exercises:
        count = now[exercise.id]
        start = began.get(exercise.id, exercise.dose.floor)
        words = _dose_words(exercise, count)
        if start != count:
            lines.append(say("details_dose_up", name=exercise.name, now=words, start=start))
        else:
            lines.append(say("details_dose_same", name=exercise.name, now=words))
    lines.append(_pain_trend(points))
    return "\n".join(lines)


# --- the weekly summary -------------------------------------------------------------------------


def week_summary(db: Db, user: StoredUser, today: date) -> str | None:
    """Last week in a few warm lines, for the nudge on the user's first training day of the
    week (`today` is the user's local date). None on any other day, on a second nudge the same
    day (after a snooze), for a user without settings, and when last week (Monday to Sunday)
    had no session: nothing to sum up, and no guilt either."""
    coachee = load_coachee(db, user)
    if coachee.activity.last_nudged_on == today:  # a snoozed nudge comes again
        return None
    days = sorted(coachee.profile.training_days)
    if not days or today.weekday() != days[0]:
        return None
    monday = today - timedelta(days=today.weekday() + 7)
    last_week = [
        row
        for row in _sessions(db, user.id)
        if monday <= row.local_date < monday + timedelta(days=7)
    ]
    if not last_week:
        return None
    programme = default_programme()
    count = len(last_week)
    stopped = sum(1 for row in last_week if not row.completed)
    lines = [
        say(
            "week_sessions",
            times=programme.messages.plural(count, "time"),
            stopped=say("week_stopped", stopped=stopped) if stopped else "",
        )
    ]
    steps = sum(1 for row in last_week if row.decision == Decision.DOSE_UP)
    advanced = [row.stage_after for row in last_week if row.decision == Decision.ADVANCE]
    step_word = programme.messages.plural(steps, "step")
    if advanced:
        stage = programme.stage(advanced[-1])
        key = "week_advanced_and_up" if steps else "week_advanced"
        values = {"stage": stage.number, "stage_name": stage.name}
        lines.append(say(key, steps=step_word, **values))
    elif steps:
        lines.append(say("week_dose_up", steps=step_word))
    elif any(row.decision in (Decision.STEP_BACK, Decision.SAFETY_STOP) for row in last_week):
        lines.append(say("week_eased"))
    else:
        lines.append(say("week_kept"))
    position = coachee.position
    lines.append(say("week_next", next=to_advance_text(programme, position, today)))
    return "\n".join(lines)
