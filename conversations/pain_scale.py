"""The 0-to-10 pain question, asked at onboarding and during a session: buttons or typed."""

from __future__ import annotations

from collections.abc import Callable

from conversations.flow import Ctx, Outcome, Question, StepSpec, again
from conversations.parsing import parse_pain_score
from conversations.replies import Choice
from conversations.state import Coachee

PAIN_SCALE = tuple(Choice(f"p{n}", str(n)) for n in range(11))

ScoreHandler = Callable[[Coachee, int, Ctx], Outcome]


def pain_scale_step(question_key: str, record: ScoreHandler) -> StepSpec:
    """A step asking `question_key` with the 0-10 scale; `record` takes the score."""

    def question(state: Coachee, ctx: Ctx) -> Question:
        return Question(ctx.say(question_key), PAIN_SCALE, 6)

    def on_choice(state: Coachee, choice: str, ctx: Ctx) -> Outcome:
        return record(state, int(choice.removeprefix("p")), ctx)

    def on_text(state: Coachee, text: str, ctx: Ctx) -> Outcome:
        score = parse_pain_score(text)
        if score is None:
            return again(state, ctx, ctx.say("bad_pain_score"))
        return record(state, score, ctx)

    return StepSpec(question, on_choice, on_text)
