"""A small player for the pure coach: plays the user, keeps the state, reads what the coach said.

No fakes but the clock: `player.clock` moves only when a test moves it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.telegram.render import goes_as_caption
from conversations.coach import transition
from conversations.events import Choose, Command, Event, HoldTimeUp, NudgeDue, Text
from conversations.flow import Outcome
from conversations.replies import Effect, LiveUpdate, Reply, WakeAt
from conversations.session_plan import READ_SECONDS, TAP_SECONDS
from conversations.state import SESSION_STEPS, Coachee, Step, new_coachee
from data.programme import Programme, default_programme

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # a Monday


@dataclass
class SessionCount:
    """A session as a person on a phone meets it: taps, messages, edits, minutes."""

    inputs: int = 0
    messages: int = 0
    edits_per_set: list[int] = field(default_factory=list)
    seconds: float = 0.0
    intro_minutes: int = 0


class CoachPlayer:
    def __init__(
        self,
        programme: Programme | None = None,
        *,
        now: datetime = START,
        state: Coachee | None = None,
    ) -> None:
        self.programme = programme or default_programme()
        self.clock = now
        self.state = state or new_coachee()
        self.replies: list[Reply] = []
        self.effects: list[Effect] = []
        self.last_outcome: Outcome | None = None

    # --- acting -------------------------------------------------------------------------------

    def event(self, event: Event, *, seconds: float = 1) -> Outcome:
        self.clock += timedelta(seconds=seconds)
        outcome = transition(self.state, event, now=self.clock, programme=self.programme)
        self.state = outcome.state
        self.replies.extend(outcome.replies)
        for effect in outcome.effects:
            if isinstance(effect, LiveUpdate):
                self._edit_live(effect)
        self.effects.extend(outcome.effects)
        self.last_outcome = outcome
        return outcome

    def _edit_live(self, update: LiveUpdate) -> None:
        """A set's live message shows what it was last edited to, as in Telegram."""
        for index in range(len(self.replies) - 1, -1, -1):
            if self.replies[index].live:
                self.replies[index] = Reply(
                    update.text, update.choices, update.step_no, update.columns, live=True
                )
                return

    def send(self, text: str) -> Outcome:
        return self.event(Text(text))

    def command(self, name: str, argument: str = "") -> Outcome:
        return self.event(Command(name, argument))

    def tap(self, label: str, *, seconds: float = 1) -> Outcome:
        """Press the button with this label on the newest question, as a Telegram user would."""
        question = self.question
        for choice in question.choices:
            if choice.label.casefold() == label.casefold():
                return self.event(Choose(choice.id, question.step_no), seconds=seconds)
        raise AssertionError(f"no button {label!r} in {[c.label for c in question.choices]}")

    def time_up(self) -> Outcome:
        """The coach's newest timer fires, at the moment it asked for."""
        timer = next(e for e in reversed(self.effects) if isinstance(e, WakeAt))
        return self.event(
            HoldTimeUp(timer.step_no), seconds=max(0.0, (timer.at - self.clock).total_seconds())
        )

    def run_set(self) -> None:
        """Let the running set run by its timers until it is over."""
        while self.step is Step.HOLDING:
            self.time_up()

    def advance_days(self, days: float) -> None:
        self.clock += timedelta(days=days)

    # --- reading ------------------------------------------------------------------------------

    @property
    def question(self) -> Reply:
        for reply in reversed(self.replies):
            if reply.choices:
                return reply
        raise AssertionError("the coach has asked nothing yet")

    @property
    def last_text(self) -> str:
        return self.replies[-1].text

    @property
    def last_labels(self) -> list[str]:
        """The buttons on the newest message (none when it offers nothing to tap)."""
        return [c.label for c in self.replies[-1].choices]

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.question.choices]

    @property
    def step(self) -> Step:
        return self.state.flow.step

    # --- whole stretches ----------------------------------------------------------------------

    def onboard(self, *, days: str = "Every day", time: str = "07:00", zone: str = "UTC") -> None:
        self.command("start")
        self.tap("No")
        self.tap("No")
        self.tap("2")
        self.tap("A little")
        self.tap(days)
        self.send(time)
        self.send(zone)
        assert self.step is Step.IDLE, self.last_text

    def begin_session(self, *, morning: str = "About the same", via: str = "/session") -> None:
        """Into a session by one of its entry points (`via`, see `enter`), through a re-screen
        and a morning check if they are due, to the first hold."""
        self.enter(via)
        self.to_intro(morning=morning)
        self.tap("Let's go")

    def enter(self, via: str = "/session") -> Outcome:
        """One way into a session: "/session" (a command), "typed" (/session typed as text, as
        the terminal sends it), "idle" (the idle button, after /start shows it), "nudge" (the
        nudge falls due and its Start now is tapped; a morning check is answered "same" on the
        way)."""
        if via == "/session":
            return self.command("session")
        if via == "typed":
            return self.send("/session")
        if via == "idle":
            self.command("start")
            if "Start a session" not in self.labels:
                return self.last_outcome  # type: ignore[return-value]
            return self.tap("Start a session")
        if via == "nudge":
            self.event(NudgeDue())
            if self.step is Step.MORNING_CHECK:
                self.tap("About the same")
            if self.step is not Step.NUDGE:
                return self.last_outcome  # type: ignore[return-value]
            return self.tap("Start now")
        raise ValueError(via)

    def to_intro(self, *, morning: str = "About the same") -> None:
        """Answer the re-screen (no flags) and the morning check until the session intro."""
        while self.step is not Step.SESSION_INTRO:
            if self.step in (Step.SCREEN_URGENT, Step.SCREEN_CLINICIAN):
                self.tap("No")
            elif self.step is Step.MORNING_CHECK:
                self.tap(morning)
            else:
                raise AssertionError(f"no session offered: {self.step}: {self.last_text}")

    def answer_screen(self, *, urgent: str = "No", clinician: str = "No") -> None:
        """Answer the red-flag screen that is waiting (urgent signs first)."""
        assert self.step is Step.SCREEN_URGENT, self.last_text
        self.tap(urgent)
        if urgent == "No":
            self.tap(clinician)

    def to_first_feel(self) -> None:
        """Start a session and hold through the first set, up to "How did that feel?"."""
        self.begin_session()
        self.to_feel()

    def to_feel(self) -> None:
        """In a session: one Start, and the set runs by its timers to "How did that feel?"."""
        if self.step is Step.HOLD_READY:
            self.tap("Start")
        self.run_set()

    def report_pain(self, score: str, kind: str | None = None) -> Outcome:
        """In a session: through the current set, then "It hurts", its score and (if asked)
        kind."""
        self.to_feel()
        self.tap("It hurts")
        outcome = self.tap(score)
        return self.tap(kind) if kind is not None else outcome

    def run_session_with_pain(
        self, score: str, kind: str, *, morning: str = "About the same"
    ) -> Outcome:
        """A whole session with pain (not a stop) on the first set, steady and good form after."""
        self.begin_session(morning=morning)
        self.report_pain(score, kind)
        return self.play_out({Step.ASK_FEEL: "Steady", Step.ASK_CHECKIN: "Yes"}, by_timer=True)

    def play_out(self, answers: dict[Step, str], *, by_timer: bool = True) -> Outcome:
        """Answer every question by its step until the session ends (sets run by their timers,
        or, with `by_timer=False`, end at once by Done)."""
        while self.step in SESSION_STEPS:
            if self.step is Step.HOLDING and by_timer:
                self.run_set()
            else:
                self.tap({Step.HOLD_READY: "Start", Step.HOLDING: "Done", **answers}[self.step])
        assert self.last_outcome is not None
        return self.last_outcome

    def run_session(
        self,
        *,
        feeling: str = "Steady",
        checkin: str = "Yes",
        by_timer: bool = True,
    ) -> Outcome:
        """One whole session from /session to the summary with the same answers throughout."""
        self.begin_session()
        return self.play_out(
            {Step.ASK_FEEL: feeling, Step.ASK_CHECKIN: checkin}, by_timer=by_timer
        )

    def count_session(self, *, foundation_ok: bool = True) -> SessionCount:
        """Play one whole session as a person would, from /session to the summary: read and get
        ready before each Start, answer every question in a tap, let every set run by its
        timer. Counts inputs, messages (edits apart) and the minutes it took."""
        count = SessionCount()
        began = self.clock
        first = len(self.replies)
        self.command("session")
        count.inputs += 1
        if self.step is Step.SESSION_INTRO:
            count.intro_minutes = _minutes_in(self.question.text)
        edits = 0
        while self.step in SESSION_STEPS:
            if self.step is Step.HOLDING:
                before = len(self.effects)
                self.time_up()
                edits += sum(1 for e in self.effects[before:] if isinstance(e, LiveUpdate))
                continue
            if self.step is Step.ASK_FEEL:
                count.edits_per_set.append(edits)
                edits = 0
            answers = {
                Step.SESSION_INTRO: "Let's go",
                Step.HOLD_READY: "Start",
                Step.ASK_FEEL: "Steady",
                Step.ASK_CHECKIN: "Yes",
            }
            if self.step not in answers:
                raise AssertionError(f"unexpected question at {self.step}: {self.last_text}")
            read = READ_SECONDS if self.step is Step.HOLD_READY else TAP_SECONDS
            self.tap(answers[self.step], seconds=read)
            count.inputs += 1
        # In Telegram a reply with a picture is one message, the animation with the reply as
        # its caption; a text too long for a caption is two: the animation, then the text.
        sent = self.replies[first:]
        count.messages = len(sent) + sum(
            1 for reply in sent if reply.picture and not goes_as_caption(reply)
        )
        count.seconds = (self.clock - began).total_seconds()
        return count


def _minutes_in(text: str) -> int:
    import re

    found = re.search(r"about (\d+) minute", text)
    assert found, text
    return int(found.group(1))
