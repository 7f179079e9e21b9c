"""The short lessons: one offered after a finished session (at most one a day, never mid-set),
in the order of data/lessons.yaml once the user has reached each lesson's stage; /learn lists
them and shows any one again."""

from __future__ import annotations

from conversations.flow import Ctx, Outcome
from conversations.replies import RecordSession, Reply
from conversations.state import Coachee
from data.programme import Lesson


def next_lesson(state: Coachee, ctx: Ctx) -> Lesson | None:
    """The first lesson not read yet whose stage the user has reached."""
    read = set(state.learning.lessons_read)
    for lesson in ctx.programme.lessons:
        if lesson.id not in read and lesson.stage <= state.position.stage:
            return lesson
    return None


def lesson_reply(lesson: Lesson, ctx: Ctx) -> Reply:
    return Reply(ctx.say("lesson", title=lesson.title, text=lesson.text), picture=lesson.picture)


def _read(state: Coachee, lesson: Lesson, ctx: Ctx, *, offered: bool) -> Coachee:
    read = state.learning.lessons_read
    changes: dict[str, object] = {
        "lessons_read": read if lesson.id in read else (*read, lesson.id)
    }
    if offered:
        changes["last_lesson_on"] = ctx.today(state)
    learning = state.learning.model_copy(update=changes)
    return state.model_copy(update={"learning": learning})


def after_session(outcome: Outcome, ctx: Ctx) -> Outcome:
    """A session was finished (not stopped): the next lesson follows its summary, once a day."""
    finished = any(
        isinstance(effect, RecordSession) and effect.record.completed for effect in outcome.effects
    )
    state = outcome.state
    if not finished or state.learning.last_lesson_on == ctx.today(state):
        return outcome
    lesson = next_lesson(state, ctx)
    if lesson is None:
        return outcome
    return Outcome(
        _read(state, lesson, ctx, offered=True),
        (*outcome.replies, lesson_reply(lesson, ctx)),
        outcome.effects,
    )


def read_count(state: Coachee, ctx: Ctx) -> tuple[int, int]:
    known = {lesson.id for lesson in ctx.programme.lessons}
    return len(known & set(state.learning.lessons_read)), len(known)


def learn(state: Coachee, argument: str, ctx: Ctx) -> tuple[Coachee, str, Reply | None]:
    """/learn: the list; /learn N: lesson N (read or not, as long as its stage is reached)."""
    lessons = ctx.programme.lessons
    if argument:
        typed = argument.split()[0].lstrip("#")
        index = int(typed) - 1 if typed.isdigit() else -1
        if 0 <= index < len(lessons) and lessons[index].stage <= state.position.stage:
            lesson = lessons[index]
            return _read(state, lesson, ctx, offered=False), "", lesson_reply(lesson, ctx)
        return state, ctx.say("learn_unknown", number=argument.split()[0]), None
    read = set(state.learning.lessons_read)
    lines = []
    for position, lesson in enumerate(lessons, 1):
        if lesson.stage > state.position.stage:
            lines.append(f"  {position}. (from stage {lesson.stage})")
        else:
            mark = "\u2713" if lesson.id in read else "\u2022"
            lines.append(f"{mark} {position}. {lesson.title}")
    done, total = read_count(state, ctx)
    return state, ctx.say("learn_list", read=done, total=total, lessons="\n".join(lines)), None
