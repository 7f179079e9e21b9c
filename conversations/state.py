"""Everything the coach knows about one user, as one frozen, serialisable value."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from conversations.records import CheckInLog, Feeling, HoldLog, SetLog
from schedules.progression import Position

ALL_DAYS: frozenset[int] = frozenset(range(7))


class Step(StrEnum):
    """Where the conversation stands: which question is waiting for an answer."""

    NEW = "new"
    SCREEN_URGENT = "screen_urgent"
    SCREEN_CLINICIAN = "screen_clinician"
    SCREEN_BLOCKED = "screen_blocked"
    ASK_PAIN_NOW = "ask_pain_now"
    ASK_EXPERIENCE = "ask_experience"
    ASK_DAYS = "ask_days"
    ASK_TIME = "ask_time"
    ASK_ZONE = "ask_zone"
    ASK_QUIET = "ask_quiet"
    IDLE = "idle"
    SETTINGS = "settings"
    SESSION_INTRO = "session_intro"
    HOLD_READY = "hold_ready"
    HOLDING = "holding"
    ASK_FEEL = "ask_feel"
    ASK_PAIN_SCORE = "ask_pain_score"
    ASK_PAIN_KIND = "ask_pain_kind"
    ASK_CHECKIN = "ask_checkin"
    SAFETY_PAUSED = "safety_paused"
    NUDGE = "nudge"
    MORNING_CHECK = "morning_check"
    ASK_BONE_HEALTH = "ask_bone_health"
    NUDGE_TIME_OFFER = "nudge_time_offer"
    FORGET_CONFIRM = "forget_confirm"
    ASK_UPKEEP_DAYS = "ask_upkeep_days"


ONBOARDING_STEPS = frozenset(
    {
        Step.NEW,
        Step.SCREEN_URGENT,
        Step.SCREEN_CLINICIAN,
        Step.SCREEN_BLOCKED,
        Step.ASK_PAIN_NOW,
        Step.ASK_EXPERIENCE,
        Step.ASK_DAYS,
        Step.ASK_TIME,
        Step.ASK_ZONE,
    }
)
SESSION_STEPS = frozenset(
    {
        Step.SESSION_INTRO,
        Step.HOLD_READY,
        Step.HOLDING,
        Step.ASK_FEEL,
        Step.ASK_PAIN_SCORE,
        Step.ASK_PAIN_KIND,
        Step.ASK_CHECKIN,
    }
)


ACTIVE_SESSION_STEPS = SESSION_STEPS - {Step.SESSION_INTRO}


class _State(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Profile(_State):
    """The user's answers and settings."""

    onboarded: bool = False
    pain_at_start: int | None = None
    experience: str | None = None
    training_days: frozenset[int] = ALL_DAYS
    nudge_time: time | None = None
    zone: str = "UTC"
    quiet_start: time = time(22, 0)
    quiet_end: time = time(7, 0)
    screened_at: datetime | None = None


class Activity(_State):
    """Counts and dates that make streaks and nudges."""

    total_sessions: int = 0
    streak: int = 0
    last_trained_on: date | None = None
    paused_until: date | None = None
    started_on: date | None = None
    last_nudged_on: date | None = None
    snoozed_until: datetime | None = None
    snoozes_in_row: int = 0


class SetPhase(StrEnum):
    """Where a running set stands: a hold (or slow rep), the rest after it, or paused."""

    HOLD = "hold"
    REST = "rest"
    PAUSED = "paused"


class SessionInProgress(_State):
    """A guided session that has started; pointers say which set comes next.

    While a set runs, `phase` and `phase_ends_at` say where it is; `hold_index` counts the
    holds of the whole set (every side), and `shaky_marks` are the holds the user marked."""

    started_at: datetime
    plan: tuple[tuple[str, int], ...]
    exercise_index: int = 0
    side_index: int = 0
    hold_index: int = 0
    # Only in state stored before sets ran by themselves; read, then never written again.
    hold_started_at: datetime | None = None
    phase: SetPhase | None = None
    phase_ends_at: datetime | None = None
    shaky_marks: tuple[int, ...] = ()
    shaky_holds: int = 0
    holds: tuple[HoldLog, ...] = ()
    sets: tuple[SetLog, ...] = ()
    checkins: tuple[CheckInLog, ...] = ()
    pending_feeling: Feeling | None = None
    pending_pain_score: int | None = None
    short: bool = False
    pictures_shown: tuple[str, ...] = ()  # exercises whose picture this session already showed


class Flow(_State):
    """The waiting question. `step_no` grows with every question asked, to spot stale buttons."""

    step: Step = Step.NEW
    step_no: int = 0
    in_settings: bool = False
    short: bool = False
    session: SessionInProgress | None = None
    # Why the red-flag screen is being asked: None (onboarding, routine), "clearing", or after a
    # safety stop "stop_strong" / "stop_spreading"; it decides what follows a screen passed.
    screen_reason: str | None = None
    # The morning check was asked on the way into a session (not by a nudge): carry on into it.
    entering: bool = False


class Learning(_State):
    """What the user has been shown: pictures per exercise, and the lessons read."""

    pictures_seen: dict[str, int] = {}
    lessons_read: tuple[str, ...] = ()
    last_lesson_on: date | None = None


class Coachee(_State):
    """One user, as the pure coach sees them."""

    profile: Profile = Profile()
    position: Position = Position()
    activity: Activity = Activity()
    flow: Flow = Flow()
    learning: Learning = Learning()


def in_session(state: Coachee) -> bool:
    """A session has started (past its intro) and not yet ended."""
    return state.flow.step in ACTIVE_SESSION_STEPS and state.flow.session is not None


def new_coachee() -> Coachee:
    return Coachee()


def utc(value: datetime) -> datetime:
    """Refuse naive datetimes: every instant inside the coach is aware UTC."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given where an aware one was expected")
    return value.astimezone(UTC)
