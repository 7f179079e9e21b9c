"""The programme as typed, frozen objects, loaded and validated from the YAML files beside this
module.

`load_programme()` reads `programme.yaml`, `safety.yaml` and `messages.yaml` and returns one
`Programme`. Any problem stops start-up with a `ProgrammeError` that names the file and the field,
so a coach editing the content sees exactly what to fix.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from data import placeholders

DATA_DIR = Path(__file__).resolve().parent

_Model = TypeVar("_Model", bound=BaseModel)


class ProgrammeError(Exception):
    """The programme files are broken; the message names the file and the field."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DoseLadder(_Frozen):
    """How many holds (or slow reps) per side, from the stage's floor up to its ceiling."""

    floor: int = Field(ge=1)
    step: int = Field(ge=1)
    ceiling: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> DoseLadder:
        if self.ceiling < self.floor:
            raise ValueError("ceiling must be at least the floor")
        return self

    def up(self, count: int) -> int:
        return min(self.ceiling, count + self.step)

    def down(self, count: int) -> int:
        return max(self.floor, count - self.step)

    def clamp(self, count: int) -> int:
        return min(self.ceiling, max(self.floor, count))


class Exercise(_Frozen):
    """One exercise variant as it is done in one stage."""

    id: str = Field(pattern=r"^[a-z0-9-]{2,40}$")
    name: str = Field(min_length=2)
    how_to: str = Field(min_length=20)
    cues: tuple[str, ...] = Field(min_length=2, max_length=4)
    kind: Literal["hold", "rep"]
    seconds: int = Field(ge=3, le=30, description="length of one hold, or of one slow rep")
    # A running set changes phase at most every 3 s (Telegram's edit limit per chat).
    rest_seconds: int = Field(ge=3, le=90)
    sides: Literal["none", "both"]
    dose: DoseLadder
    checkins: tuple[str, ...] = Field(min_length=1)

    @property
    def side_names(self) -> tuple[str, ...]:
        return ("left", "right") if self.sides == "both" else ("",)


class Stage(_Frozen):
    number: int = Field(ge=1, le=9)
    name: str
    aim: str
    min_sessions: int = Field(ge=1, description="sessions in this stage before it can advance")
    min_days: int = Field(
        default=1, ge=1, description="local days from the stage's first session to advancing"
    )
    clean_days_at_ceiling: int = Field(ge=1)
    per_session: int | None = Field(
        default=None, ge=1, description="exercises per session, rotating; None: all of them"
    )
    exercises: tuple[Exercise, ...] = Field(min_length=1)


class RedFlag(_Frozen):
    id: str
    text: str


class OnboardingPain(_Frozen):
    """What the pain score given at onboarding changes."""

    gentle_from: int = Field(ge=0, le=10)
    gentle_days: int = Field(ge=1, le=28)
    gentle_exercises: tuple[str, ...] = Field(min_length=1)
    clinician_first_from: int = Field(ge=0, le=10)


class SafetyScreen(_Frozen):
    urgent: tuple[RedFlag, ...] = Field(min_length=1)
    urgent_advice: str
    clinician: tuple[RedFlag, ...] = Field(min_length=1)
    clinician_advice: str
    rescreen_after_days: int = Field(ge=1)
    onboarding_pain: OnboardingPain
    experienced_steps_up: int = Field(ge=0, le=3)


class NeutralSwap(_Frozen):
    """A neutral-spine exercise standing in for loaded flexion, for users who need it."""

    replaces: tuple[str, ...] = Field(min_length=1)
    stages: tuple[int, ...] = Field(min_length=1)
    exercise: Exercise

    def swaps(self, stage: int, exercise_id: str) -> bool:
        return stage in self.stages and any(key in exercise_id for key in self.replaces)


# Every message the coach says. A missing key in messages.yaml fails validation, naming it.
MESSAGE_KEYS: tuple[str, ...] = (
    "welcome",
    "not_a_clinician",
    "help",
    "screen_urgent_question",
    "screen_clinician_question",
    "screen_blocked",
    "ask_pain_now",
    "ask_experience",
    "ask_days",
    "ask_time",
    "ask_zone",
    "onboarding_done",
    "idle",
    "session_intro",
    "exercise_intro",
    "set_ready",
    "set_hold",
    "set_rep",
    "set_rest",
    "set_paused_hold",
    "set_paused_rep",
    "set_done",
    "set_restart",
    "set_long_past",
    "marked_shaky",
    "side",
    "dose_hold",
    "dose_rep",
    "dose_hold_sides",
    "dose_rep_sides",
    "feel_meanings",
    "went_well",
    "focus_checkin",
    "advance_days_left",
    "ask_feel",
    "ask_pain_score",
    "ask_pain_kind",
    "pain_ok_continue",
    "ask_checkin",
    "checkin_thanks",
    "summary",
    "safety_stop",
    "safety_paused",
    "session_stopped",
    "session_resume",
    "no_session",
    "need_onboarding",
    "progress",
    "settings_menu",
    "settings_saved",
    "paused",
    "resumed",
    "not_paused",
    "bad_choice",
    "bad_pain_score",
    "bad_time",
    "bad_zone",
    "bad_days",
    "bad_pause_days",
    "unsupported_input",
    "stale_button",
    "unknown_command",
    "finish_session_first",
    "rescreen",
    "no_nudge",
    "next_nudge",
    "morning_check",
    "morning_better",
    "morning_same",
    "morning_worse",
    "nudge_daily",
    "nudge_welcome_back",
    "nudge_weekly",
    "skipped",
    "snoozed",
    "offer_new_time",
    "time_kept",
    "export",
    "forget_confirm",
    "forgotten",
    "forget_kept",
    "location_not_needed",
    "advance_head",
    "advance_at_top_one",
    "advance_at_top",
    "advance_below_top",
    "advance_days",
    "advance_at_least_days",
    "advance_another_day",
    "advance_min_sessions",
    "advance_held_back",
    "advance_steady_means",
    "advance_final",
    "advance_paused",
    "ask_quiet",
    "bad_quiet",
    "ask_upkeep_days",
    "upkeep_days_kept",
    "blocked_today",
    "paused_waiting",
    "nothing_to_clear",
    "clear_from_tomorrow",
    "clearing_screen",
    "screen_clinician_since_cleared",
    "cleared_thanks",
    "ask_bone_health",
    "bone_health_yes",
    "bone_health_no",
    "rest_today",
    "rest_today_check",
    "stop_strong",
    "stop_spreading",
    "after_check_strong",
    "after_check_spreading",
    "pain_now_gentle",
    "pain_now_clinician_first",
    "experienced_start",
    "welcome_back_session",
    "morning_worse_again",
    "gentle_week",
    "lesson",
    "learn_list",
    "learn_unknown",
    "lessons_read",
    "showing_picture",
)


class Messages(_Frozen):
    texts: Mapping[str, str]
    labels: Mapping[str, str]
    reasons: Mapping[str, str]
    cues_for: Mapping[str, str]
    reports: Mapping[str, str]
    commands: Mapping[str, str]
    plurals: Mapping[str, tuple[str, str]] = Field(default_factory=dict)

    def plural(self, count: int, word: str) -> str:
        """A count with its word, in the form the count takes: "1 day", "2 days"."""
        one, many = self.plurals[word]
        return f"{count} {one if count == 1 else many}"

    def say(self, key: str, **values: Any) -> str:
        return self.texts[key].format(**values).strip()

    def label(self, key: str) -> str:
        return self.labels[key]


class Lesson(_Frozen):
    """One short lesson: a single idea in a few sentences, offered from its stage on."""

    id: str = Field(pattern=r"^[a-z0-9-]{2,40}$")
    stage: int = Field(ge=1, le=9)
    title: str = Field(min_length=3, max_length=80)
    text: str = Field(min_length=40, max_length=900)
    picture: str | None = None


class _LessonsFile(_Frozen):
    lessons: tuple[Lesson, ...] = Field(min_length=1)


class Programme(_Frozen):
    stages: tuple[Stage, ...]
    checkins: Mapping[str, str]
    # Each check-in's own cue for a "no": the next session's focus line.
    checkin_cues: Mapping[str, str] = Field(default_factory=dict)
    safety: SafetyScreen
    messages: Messages
    neutral_swaps: tuple[NeutralSwap, ...] = ()
    lessons: tuple[Lesson, ...] = ()

    def stage(self, number: int) -> Stage:
        return self.stages[number - 1]

    @property
    def last_stage(self) -> int:
        return len(self.stages)

    def exercise(self, exercise_id: str) -> Exercise:
        for stage in self.stages:
            for exercise in stage.exercises:
                if exercise.id == exercise_id:
                    return exercise
        for swap in self.neutral_swaps:
            if swap.exercise.id == exercise_id:
                return swap.exercise
        raise KeyError(exercise_id)

    def neutral_swap(self, stage: int, exercise_id: str) -> Exercise | None:
        """The neutral-spine stand-in for a loaded-flexion exercise of this stage, if any."""
        for swap in self.neutral_swaps:
            if swap.swaps(stage, exercise_id):
                return swap.exercise
        return None


LABEL_KEYS: tuple[str, ...] = (
    "yes",
    "no",
    "not_sure",
    "start",
    "done",
    "go",
    "not_now",
    "stop_session",
    "it_hurts",
    "steady",
    "working",
    "shaky",
    "pain",
    "sharp",
    "dull",
    "spreading",
    "cleared",
    "new",
    "some",
    "regular",
    "every_day",
    "weekdays",
    "mon_wed_fri",
    "settings_time",
    "settings_zone",
    "settings_days",
    "settings_quiet",
    "settings_done",
    "start_session",
    "later",
    "better",
    "same",
    "worse",
    "start_now",
    "snooze_30",
    "snooze_2h",
    "skip_today",
    "change_time",
    "keep_time",
    "forget_yes",
    "forget_no",
    "pause",
    "go_on",
    "keep_days",
    "show_me",
)

# Why a decision was made; shown in the summary.
REASON_KEYS: tuple[str, ...] = (
    "dose_up",
    "at_ceiling",
    "advance",
    "final_stage",
    "repeat_not_clean",
    "repeat_consolidate",
    "repeat_stopped",
    "welcome_back",
    "repeat_pain",
    "repeat_held_back",
    "repeat_worse_again",
    "repeat_gentle_start",
    "step_back",
    "step_back_floor",
    "extra_practice",
    "safety_stop",
)

# Words that take a count ("1 day", "2 days"), as [one, many].
PLURAL_KEYS: tuple[str, ...] = (
    "day",
    "hold",
    "rep",
    "session",
    "exercise",
    "set",
    "time",
    "step",
    "minute",
)

# The reports: /progress details, the weekly summary, the chart's labels, terminal lines.
REPORT_KEYS: tuple[str, ...] = (
    "details_week",
    "details_extra",
    "details_started",
    "details_doses_head",
    "details_dose_up",
    "details_dose_same",
    "pain_none_ever",
    "pain_none_recent",
    "pain_recent",
    "pain_fewer",
    "pain_more",
    "pain_same",
    "week_sessions",
    "week_stopped",
    "week_advanced",
    "week_dose_up",
    "week_advanced_and_up",
    "week_kept",
    "week_eased",
    "week_next",
    "chart_title",
    "chart_y",
    "chart_y2",
    "chart_x",
    "chart_x_date",
    "chart_x_dates",
    "chart_stage",
    "chart_pain",
    "chart_safety_stop",
    "chart_empty",
    "terminal_chart",
    "terminal_saved",
    "terminal_not_written",
    "terminal_forgotten_files",
)

# The command menu a chat app shows, in this order: command -> short description.
COMMAND_KEYS: tuple[str, ...] = (
    "start",
    "session",
    "progress",
    "settings",
    "pause",
    "resume",
    "cleared",
    "stop",
    "export",
    "forget",
    "help",
    "learn",
)

# Which cue to give next time for what went wrong.
CUE_KEYS: tuple[str, ...] = ("shaky", "checkin_no", "checkin_not_sure")


def _read_yaml(name: str, base: Path) -> Any:
    path = base / name
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ProgrammeError(f"{path}: cannot be read ({error.strerror})") from error
    except yaml.YAMLError as error:
        raise ProgrammeError(f"{path}: is not valid YAML: {error}") from error


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _validated(model: type[_Model], raw: Any, path: Path) -> _Model:
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        raise ProgrammeError(
            f"{path}: field {_field(first['loc'])}: {first['msg']}"
            + (
                f" (and {error.error_count() - 1} more problems)"
                if error.error_count() > 1
                else ""
            )
        ) from error


def _require_keys(
    path: Path, section: str, have: Mapping[str, str], keys: tuple[str, ...]
) -> None:
    for key in keys:
        if not isinstance(have.get(key), str) or not have[key].strip():
            raise ProgrammeError(f"{path}: field {section}.{key}: missing or empty")


def _check_placeholders(path: Path, section: str, texts: Mapping[str, str]) -> None:
    for key, text in texts.items():
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
        except ValueError as error:
            raise ProgrammeError(f"{path}: field {section}.{key}: {error}") from error
        filled = placeholders.allowed(section, key)
        for name in fields:
            root = re.split(r"[.\[]", name, maxsplit=1)[0]
            if root not in filled:
                offered = ", ".join(f"{{{n}}}" for n in sorted(filled)) or "none"
                raise ProgrammeError(
                    f"{path}: field {section}.{key}: placeholder {{{name}}} is not one the"
                    f" coach fills in here (it fills in: {offered})"
                )


class _ProgrammeFile(_Frozen):
    stages: tuple[Stage, ...] = Field(min_length=1)
    checkins: Mapping[str, str]
    checkin_cues: Mapping[str, str]
    neutral_swaps: tuple[NeutralSwap, ...] = ()


class _MessagesFile(_Frozen):
    texts: Mapping[str, str]
    labels: Mapping[str, str]
    reasons: Mapping[str, str]
    cues_for: Mapping[str, str]
    reports: Mapping[str, str]
    commands: Mapping[str, str]
    plurals: Mapping[str, tuple[str, str]]


def load_programme(base: Path = DATA_DIR) -> Programme:
    """Read and validate the three programme files; raise ProgrammeError naming file and field."""
    programme_path = base / "programme.yaml"
    programme = _validated(_ProgrammeFile, _read_yaml("programme.yaml", base), programme_path)
    for index, stage in enumerate(programme.stages):
        if stage.number != index + 1:
            raise ProgrammeError(
                f"{programme_path}: field stages.{index}.number: expected {index + 1}"
            )
    seen: set[str] = set()
    for index, stage in enumerate(programme.stages):
        for position, exercise in enumerate(stage.exercises):
            where = f"stages.{index}.exercises.{position}"
            if exercise.id in seen:
                raise ProgrammeError(f"{programme_path}: field {where}.id: {exercise.id} twice")
            seen.add(exercise.id)
            for checkin in exercise.checkins:
                if checkin not in programme.checkins:
                    raise ProgrammeError(
                        f"{programme_path}: field {where}.checkins: unknown check-in {checkin!r}"
                    )

    for checkin in programme.checkins:
        if not programme.checkin_cues.get(checkin, "").strip():
            raise ProgrammeError(
                f"{programme_path}: field checkin_cues.{checkin}: missing or empty"
            )
    for index, swap in enumerate(programme.neutral_swaps):
        where = f"neutral_swaps.{index}"
        if swap.exercise.id in seen:
            raise ProgrammeError(f"{programme_path}: field {where}.exercise.id: used twice")
        seen.add(swap.exercise.id)
        for checkin in swap.exercise.checkins:
            if checkin not in programme.checkins:
                raise ProgrammeError(
                    f"{programme_path}: field {where}.exercise.checkins: unknown {checkin!r}"
                )
        for number in swap.stages:
            if not 1 <= number <= len(programme.stages):
                raise ProgrammeError(f"{programme_path}: field {where}.stages: no stage {number}")

    safety_path = base / "safety.yaml"
    safety = _validated(SafetyScreen, _read_yaml("safety.yaml", base), safety_path)
    stage_one = {e.id for e in programme.stages[0].exercises}
    for index, exercise_id in enumerate(safety.onboarding_pain.gentle_exercises):
        if exercise_id not in stage_one:
            raise ProgrammeError(
                f"{safety_path}: field onboarding_pain.gentle_exercises.{index}: "
                f"{exercise_id!r} is not a stage-1 exercise"
            )

    messages_path = base / "messages.yaml"
    messages = _validated(_MessagesFile, _read_yaml("messages.yaml", base), messages_path)
    _require_keys(messages_path, "texts", messages.texts, MESSAGE_KEYS)
    _require_keys(messages_path, "labels", messages.labels, LABEL_KEYS)
    _require_keys(messages_path, "reasons", messages.reasons, REASON_KEYS)
    _require_keys(messages_path, "cues_for", messages.cues_for, CUE_KEYS)
    _require_keys(messages_path, "reports", messages.reports, REPORT_KEYS)
    _require_keys(messages_path, "commands", messages.commands, COMMAND_KEYS)
    for key in PLURAL_KEYS:
        if key not in messages.plurals:
            raise ProgrammeError(f"{messages_path}: field plurals.{key}: missing")
    _check_placeholders(messages_path, "texts", messages.texts)
    _check_placeholders(messages_path, "reasons", messages.reasons)
    _check_placeholders(messages_path, "reports", messages.reports)

    lessons = _load_lessons(base, programme.stages)

    return Programme(
        lessons=lessons,
        stages=programme.stages,
        checkins=programme.checkins,
        checkin_cues=programme.checkin_cues,
        safety=safety,
        neutral_swaps=programme.neutral_swaps,
        messages=Messages(
            texts=messages.texts,
            labels=messages.labels,
            reasons=messages.reasons,
            cues_for=messages.cues_for,
            reports=messages.reports,
            commands=messages.commands,
            plurals=messages.plurals,
        ),
    )


def _load_lessons(base: Path, stages: tuple[Stage, ...]) -> tuple[Lesson, ...]:
    path = base / "lessons.yaml"
    lessons = _validated(_LessonsFile, _read_yaml("lessons.yaml", base), path).lessons
    exercise_ids = {e.id for stage in stages for e in stage.exercises}
    seen: set[str] = set()
    previous_stage = 1
    for index, lesson in enumerate(lessons):
        where = f"{path}: field lessons.{index}"
        if lesson.id in seen:
            raise ProgrammeError(f"{where}.id: {lesson.id} twice")
        seen.add(lesson.id)
        if lesson.stage > len(stages):
            raise ProgrammeError(f"{where}.stage: there are only {len(stages)} stages")
        if lesson.stage < previous_stage:
            raise ProgrammeError(f"{where}.stage: lessons go in stage order")
        previous_stage = lesson.stage
        if lesson.picture is not None and lesson.picture not in exercise_ids:
            raise ProgrammeError(f"{where}.picture: no exercise {lesson.picture!r}")
    return lessons


@cache
def default_programme() -> Programme:
    """The programme shipped in data/, loaded once per process."""
    return load_programme()
