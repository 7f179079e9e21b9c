"""The shared vocabulary of the conversation steps: context, outcomes, questions and asking."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from conversations.replies import Choice, Effect, Reply
from conversations.state import Coachee, Step
from data.programme import Messages, Programme


@dataclass(frozen=True)
class Ctx:
    """What every step may look at besides the state: the programme and the current instant."""

    programme: Programme
    now: datetime

    @property
    def messages(self) -> Messages:
        return self.programme.messages

    def say(self, key: str, **values: Any) -> str:
        return self.programme.messages.say(key, **values)

    def label(self, key: str) -> str:
        return self.programme.messages.label(key)

    def choice(self, key: str) -> Choice:
        return Choice(key, self.label(key))

    def today(self, state: Coachee) -> date:
        return self.now.astimezone(ZoneInfo(state.profile.zone)).date()


@dataclass(frozen=True)
class Outcome:
    """The result of one event: the new state, what to say, and what the adapters should do."""

    state: Coachee
    replies: tuple[Reply, ...] = ()
    effects: tuple[Effect, ...] = ()

    def then(self, *texts: str) -> Outcome:
        return Outcome(self.state, self.replies + tuple(Reply(t) for t in texts), self.effects)

    def doing(self, *effects: Effect) -> Outcome:
        return Outcome(self.state, self.replies, self.effects + effects)


@dataclass(frozen=True)
class Question:
    """What the coach asks at one step, before any lead-in text."""

    text: str
    choices: tuple[Choice, ...] = ()
    columns: int = 1
    live: bool = False


# How one step reads an answer: a chosen id, or typed text when no label matched.
ChoiceHandler = Callable[[Coachee, str, Ctx], Outcome]
TextHandler = Callable[[Coachee, str, Ctx], Outcome | None]
QuestionMaker = Callable[[Coachee, Ctx], Question]


@dataclass(frozen=True)
class StepSpec:
    question: QuestionMaker
    on_choice: ChoiceHandler
    on_text: TextHandler | None = None


def reply_for(state: Coachee, question: Question, *lead: str) -> Reply:
    text = "\n\n".join(part for part in (*lead, question.text) if part)
    return Reply(text, question.choices, state.flow.step_no, question.columns, question.live)


def ask(
    state: Coachee,
    step: Step,
    ctx: Ctx,
    *lead: str,
    effects: tuple[Effect, ...] = (),
    **flow_changes: Any,
) -> Outcome:
    """Move to `step` and ask its question, after any lead-in text, in one message."""
    from conversations.steps import SPECS

    flow = state.flow.model_copy(
        update={"step": step, "step_no": state.flow.step_no + 1, **flow_changes}
    )
    moved = state.model_copy(update={"flow": flow})
    return Outcome(moved, (reply_for(moved, SPECS[step].question(moved, ctx), *lead),), effects)


def say_only(state: Coachee, *texts: str) -> Outcome:
    return Outcome(state, tuple(Reply(t) for t in texts))


def again(state: Coachee, ctx: Ctx, *lead: str) -> Outcome:
    """Leave the state as it is and ask the waiting question again, after a lead-in."""
    from conversations.steps import SPECS

    question = SPECS[state.flow.step].question(state, ctx)
    return Outcome(state, (reply_for(state, question, *lead),))
