"""The thin edge both chats share: load a user, run the pure coach, persist, all in one
transaction per event. Adapters render the replies and carry out timers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select, update

from bot.nudge_tick import save_and_reschedule
from bot.store import (
    coachee_from_document,
    find_user,
    forget_user,
    get_or_create_user,
    load_coachee,
    record_session,
    unit_of_work,
    users,
)
from conversations.coach import prompt, transition
from conversations.events import Event, HoldTimeUp, NudgeDue
from conversations.flow import Outcome
from conversations.replies import ForgetUser, RecordSession, Reply
from conversations.state import Coachee, Step
from data.programme import Programme

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PendingHold:
    """A running set whose timer must run (again) after a start-up: wake it at `due_at`."""

    platform: str
    chat_id: str
    step_no: int
    due_at: datetime


class CoachService:
    """Runs events through the coach for any platform's users, persisting each in one go."""

    def __init__(self, engine: Engine, programme: Programme, clock: Clock = system_clock):
        self.engine = engine
        self.programme = programme
        self.clock = clock

    def handle(
        self, platform: str, chat_id: str, event: Event, *, update_id: int | None = None
    ) -> Outcome:
        """Handle one event for one user in one transaction; return what to say and do.

        `update_id` is the platform's number for the incoming message, where it has one. An
        update seen before (redelivered after a crash between our commit and the platform
        hearing of it) changes nothing: the waiting question is shown again instead."""
        with unit_of_work(self.engine) as session:
            now = self.clock()
            user = get_or_create_user(session, platform, chat_id, now=now)
            coachee = load_coachee(session, user)
            if update_id is not None:
                if user.last_update_id is not None and update_id <= user.last_update_id:
                    waiting = prompt(coachee, now=now, programme=self.programme)
                    return Outcome(coachee, (waiting,) if waiting else ())
                user.last_update_id = update_id
            outcome = transition(coachee, event, now=now, programme=self.programme)
            if any(isinstance(effect, ForgetUser) for effect in outcome.effects):
                forget_user(session, user.id)
                return outcome
            if not isinstance(event, NudgeDue | HoldTimeUp):
                user.active = True  # they wrote to us, so they have not blocked the bot
                user.last_seen_at = now
            save_and_reschedule(session, user, outcome.state, now=now)
            for effect in outcome.effects:
                if isinstance(effect, RecordSession):
                    record_session(session, user.id, effect.record)
            return outcome

    def mark_inactive(self, platform: str, chat_id: str) -> None:
        """The user blocked the bot: no more nudges until they write to us again."""
        with unit_of_work(self.engine) as db:
            db.execute(
                update(users)
                .where(users.c.platform == platform, users.c.chat_id == chat_id)
                .values(active=False, next_nudge_at=None)
            )

    def state_of(self, platform: str, chat_id: str) -> Coachee | None:
        with unit_of_work(self.engine) as session:
            user = find_user(session, platform, chat_id)
            return None if user is None else load_coachee(session, user)

    def waiting_question(self, platform: str, chat_id: str) -> Reply | None:
        coachee = self.state_of(platform, chat_id)
        if coachee is None:
            return None
        return prompt(coachee, now=self.clock(), programme=self.programme)

    def pending_holds(self, platform: str) -> list[PendingHold]:
        """Holds that were running when the process stopped: their timers must be rebuilt."""
        holds: list[PendingHold] = []
        with unit_of_work(self.engine) as db:
            rows = db.execute(
                select(users.c.chat_id, users.c.state).where(
                    users.c.platform == platform, users.c.step == Step.HOLDING.value
                )
            ).all()
        for chat_id, document in rows:
            flow = coachee_from_document(document).flow
            session_state = flow.session
            if session_state is None:
                continue
            if session_state.phase is None:
                # Stored before sets ran by themselves: wake it now, and it starts over.
                due = self.clock()
            elif session_state.phase_ends_at is None:
                continue  # paused: nothing to wake until the user taps Go on
            else:
                due = session_state.phase_ends_at
            holds.append(PendingHold(platform, chat_id, flow.step_no, due))
        return holds
