"""The progression policy: after a session, dose up, repeat, step back, advance, or stop.

The rules are COACHING.md's table. `decide` is pure: the user's position, what the session showed,
and the user's local date in; the new position and a verdict (decision, reason, cue) out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from data.programme import Programme


class Feeling(StrEnum):
    STEADY = "steady"
    WORKING = "working"
    SHAKY = "shaky"
    PAIN = "pain"


class PainKind(StrEnum):
    DULL = "dull"
    SHARP = "sharp"
    SPREADING = "spreading"


class Answer(StrEnum):
    YES = "yes"
    NO = "no"
    NOT_SURE = "not_sure"


class Decision(StrEnum):
    DOSE_UP = "dose_up"
    REPEAT = "repeat"
    STEP_BACK = "step_back"
    ADVANCE = "advance"
    SAFETY_STOP = "safety_stop"


# Pain up to this score still counts as a clean session (COACHING.md: "no pain above 2/10").
CLEAN_PAIN_LIMIT = 2
# From this score on, or sharp or spreading pain, the session stops at once.
SAFETY_STOP_SCORE = 6
SAFETY_STOP_WINDOW = timedelta(days=7)
# This many "worse" morning checks in a row hold dose-ups until the back is no longer worse.
WORSE_IN_ROW_HOLD = 2


class Position(BaseModel):
    """Where the user stands in the programme and what the progression rules remember."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: int = 1
    doses: dict[str, int] = Field(default_factory=dict)
    sessions_in_stage: int = 0
    ceiling_clean_dates: tuple[date, ...] = ()
    shaky_sessions_in_row: int = 0
    safety_stops: tuple[datetime, ...] = ()
    safety_paused: bool = False
    hold_back_sessions: int = 0
    screen_due: bool = False
    morning_check_due: bool = False
    cue_next_time: str | None = None
    # Pace: the local day whose first finished session counted (later ones are extra practice),
    # and the local day of the first counted session in this stage.
    counted_on: date | None = None
    stage_started_on: date | None = None
    # Safety (conversations/safety.py): a red-flag tier answered yes, until the user is cleared;
    # the local day with no training (a safety stop, a flag); when they were last cleared.
    flag: str | None = None
    flagged_at: datetime | None = None
    rest_day: date | None = None
    cleared_on: date | None = None
    worse_in_row: int = 0
    # High pain at onboarding: the gentle first week ends after this local date.
    gentle_until: date | None = None
    # Cleared with osteoporosis or a vertebral fracture: loaded flexion is swapped out.
    neutral_spine: bool = False


@dataclass(frozen=True)
class SessionFacts:
    """What a finished session showed: one feeling per set, every check-in answer, any pain."""

    feelings: tuple[Feeling, ...]
    answers: tuple[Answer, ...]
    pain_scores: tuple[int, ...] = ()
    pain_kinds: tuple[PainKind, ...] = ()
    # Holds run, and of them the ones marked shaky or cut short (Done before their time).
    holds: int = 0
    shaky_holds: int = 0

    @property
    def max_pain(self) -> int:
        return max(self.pain_scores, default=0)

    @property
    def any_pain(self) -> bool:
        return Feeling.PAIN in self.feelings or bool(self.pain_scores)

    @property
    def clean(self) -> bool:
        # A set marked "pain" still counts when the pain was mild (the score rules below).
        return (
            Feeling.SHAKY not in self.feelings
            and self.shaky_holds == 0
            and all(a == Answer.YES for a in self.answers)
            and self.max_pain <= CLEAN_PAIN_LIMIT
            and PainKind.SHARP not in self.pain_kinds
            and PainKind.SPREADING not in self.pain_kinds
        )

    def share(self, feeling: Feeling) -> float:
        return self.feelings.count(feeling) / len(self.feelings) if self.feelings else 0.0

    @property
    def mostly_steady(self) -> bool:
        return self.share(Feeling.STEADY) > 0.5

    @property
    def mostly_shaky(self) -> bool:
        held_shaky = self.shaky_holds / self.holds if self.holds else 0.0
        return max(self.share(Feeling.SHAKY), held_shaky) > 0.5

    @property
    def cue(self) -> str | None:
        """Which cue addresses what went wrong, for the next session."""
        if Feeling.SHAKY in self.feelings or self.shaky_holds:
            return "shaky"
        if Answer.NO in self.answers:
            return "checkin_no"
        if Answer.NOT_SURE in self.answers:
            return "checkin_not_sure"
        return None


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: str


def is_safety_stop(score: int | None, kind: PainKind | None) -> bool:
    """Sharp pain, pain that spreads or tingles, or a score of 6 or more ends training at once."""
    return kind in (PainKind.SHARP, PainKind.SPREADING) or (
        score is not None and score >= SAFETY_STOP_SCORE
    )


def stage_doses(programme: Programme, stage: int) -> dict[str, int]:
    """Every exercise of a stage at its floor."""
    return {e.id: e.dose.floor for e in programme.stage(stage).exercises}


def current_doses(programme: Programme, position: Position) -> dict[str, int]:
    """The doses for the position's stage, filling in floors for exercises not yet dosed."""
    doses = stage_doses(programme, position.stage)
    for exercise in programme.stage(position.stage).exercises:
        if exercise.id in position.doses:
            doses[exercise.id] = exercise.dose.clamp(position.doses[exercise.id])
    return doses


def at_ceiling(programme: Programme, position: Position) -> bool:
    doses = current_doses(programme, position)
    return all(doses[e.id] >= e.dose.ceiling for e in programme.stage(position.stage).exercises)


def _shift_doses(programme: Programme, position: Position, direction: int) -> dict[str, int]:
    doses = current_doses(programme, position)
    for exercise in programme.stage(position.stage).exercises:
        ladder = exercise.dose
        count = doses[exercise.id]
        doses[exercise.id] = ladder.up(count) if direction > 0 else ladder.down(count)
    return doses


def safety_stop(programme: Programme, position: Position, *, now: datetime) -> Position:
    """End training for today; next time one dose step lower; two stops in 7 days pause it all."""
    recent = tuple(t for t in position.safety_stops if now - t < SAFETY_STOP_WINDOW) + (now,)
    return position.model_copy(
        update={
            "doses": _shift_doses(programme, position, -1),
            "safety_stops": recent,
            "safety_paused": len(recent) >= 2,
            "screen_due": True,
            "ceiling_clean_dates": (),
            "shaky_sessions_in_row": 0,
            "morning_check_due": True,
            "cue_next_time": None,
        }
    )


def is_extra_practice(position: Position, today: date) -> bool:
    """A session finished on a day whose first session already counted: practice, no change."""
    return position.counted_on == today


def days_in_stage(position: Position, today: date) -> int:
    """Local days since the stage's first counted session, that day and today included."""
    if position.stage_started_on is None:
        return 0
    return (today - position.stage_started_on).days + 1


def decide(
    programme: Programme, position: Position, facts: SessionFacts, *, today: date
) -> tuple[Position, Verdict]:
    """The decision for next time after a completed session (safety stops go through
    `safety_stop`). Only a day's first finished session counts (COACHING.md, Pace)."""
    if is_extra_practice(position, today):
        return position, Verdict(Decision.REPEAT, "extra_practice")
    stage = programme.stage(position.stage)
    sessions = position.sessions_in_stage + 1
    was_at_ceiling = at_ceiling(programme, position)
    worse_again = position.worse_in_row >= WORSE_IN_ROW_HOLD
    gentle = position.gentle_until is not None and today <= position.gentle_until
    held_back = position.hold_back_sessions > 0 or worse_again or gentle
    shaky_in_row = position.shaky_sessions_in_row + 1 if facts.mostly_shaky else 0
    base = position.model_copy(
        update={
            "sessions_in_stage": sessions,
            "doses": current_doses(programme, position),
            "shaky_sessions_in_row": shaky_in_row,
            "hold_back_sessions": max(0, position.hold_back_sessions - 1),
            "cue_next_time": facts.cue,
            # After "worse" twice in a row, every session asks first, until it is not worse.
            "morning_check_due": (facts.any_pain and facts.max_pain > CLEAN_PAIN_LIMIT)
            or worse_again,
            "screen_due": position.screen_due or facts.max_pain > 5,
            "counted_on": today,
            "stage_started_on": position.stage_started_on or today,
        }
    )

    if facts.max_pain > CLEAN_PAIN_LIMIT:
        return base.model_copy(update={"ceiling_clean_dates": ()}), Verdict(
            Decision.REPEAT, "repeat_pain"
        )
    if not facts.clean:
        reset = base.model_copy(update={"ceiling_clean_dates": ()})
        if shaky_in_row >= 2:
            stepped = reset.model_copy(
                update={
                    "doses": _shift_doses(programme, base, -1),
                    "shaky_sessions_in_row": 0,
                }
            )
            # At the stage's floor there is no easier step: the dose stays, and says so.
            at_floor = stepped.doses == base.doses
            return stepped, Verdict(
                Decision.STEP_BACK, "step_back_floor" if at_floor else "step_back"
            )
        return reset, Verdict(Decision.REPEAT, "repeat_not_clean")
    if held_back:
        reason = "repeat_gentle_start" if gentle else "repeat_held_back"
        return base, Verdict(Decision.REPEAT, "repeat_worse_again" if worse_again else reason)

    if was_at_ceiling:
        dates = tuple(sorted(set(base.ceiling_clean_dates) | {today}))
        ready = (
            len(dates) >= stage.clean_days_at_ceiling
            and sessions >= stage.min_sessions
            and days_in_stage(base, today) >= stage.min_days
            and not facts.any_pain
        )
        if ready and position.stage < programme.last_stage:
            advanced = base.model_copy(
                update={
                    "stage": position.stage + 1,
                    "doses": stage_doses(programme, position.stage + 1),
                    "sessions_in_stage": 0,
                    "ceiling_clean_dates": (),
                    "shaky_sessions_in_row": 0,
                    "stage_started_on": None,
                }
            )
            return advanced, Verdict(Decision.ADVANCE, "advance")
        kept = base.model_copy(update={"ceiling_clean_dates": dates})
        if ready:
            return kept, Verdict(Decision.REPEAT, "final_stage")
        return kept, Verdict(Decision.REPEAT, "at_ceiling")

    if facts.mostly_steady:
        upped = base.model_copy(update={"doses": _shift_doses(programme, base, +1)})
        return upped, Verdict(Decision.DOSE_UP, "dose_up")
    return base, Verdict(Decision.REPEAT, "repeat_consolidate")


_STEADY = SessionFacts(feelings=(Feeling.STEADY,), answers=(Answer.YES,))
# Far more steady sessions than any stage could need: a guard, not a rule.
_SIMULATION_LIMIT = 200


@dataclass(frozen=True)
class ToAdvance:
    """Exactly what stands between a position and the next stage, if every session goes well
    (all sets steady, every form check yes, no pain) and each is on a day of its own."""

    sessions: int
    steps_to_top: int
    days_at_top: int
    another_day: bool
    held_back: int
    min_sessions: int
    by_count: bool
    days_left: int = 0


def to_advance(programme: Programme, position: Position, today: date) -> ToAdvance | None:
    """None on the last stage or while training is paused; otherwise the exact count, found by
    running `decide` on steady sessions, one a day (so it can never disagree with the rules)."""
    if position.stage >= programme.last_stage or position.safety_paused:
        return None
    stage = programme.stage(position.stage)
    doses = current_doses(programme, position)
    steps = 0
    for exercise in stage.exercises:
        count, ladder, taken = doses[exercise.id], exercise.dose, 0
        while count < ladder.ceiling:
            count, taken = ladder.up(count), taken + 1
        steps = max(steps, taken)
    # Days of this stage behind the user: today only once today's session has counted.
    behind = days_in_stage(position, today) - (0 if position.counted_on == today else 1)
    days_left = max(0, stage.min_days - max(0, behind))
    dates = set(position.ceiling_clean_dates)
    days = stage.clean_days_at_ceiling - (len(dates) if steps == 0 else 0)
    day = today + timedelta(days=1) if today in dates or position.counted_on == today else today
    simulated, sessions = position, 0
    while simulated.stage == position.stage and sessions < _SIMULATION_LIMIT:
        simulated, _ = decide(programme, simulated, _STEADY, today=day)
        sessions, day = sessions + 1, day + timedelta(days=1)
    held = position.hold_back_sessions
    return ToAdvance(
        sessions=sessions,
        steps_to_top=steps,
        days_at_top=max(0, days),
        another_day=(today in dates and days > 0)
        or (days_left > 0 and position.counted_on == today),
        held_back=held,
        min_sessions=stage.min_sessions,
        by_count=sessions > max(held + steps + max(1, days), days_left),
        days_left=days_left,
    )
