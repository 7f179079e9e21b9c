"""The session budget and the pace, measured by playing sessions through the pure coach.

COACHING.md: every session at every stage's floor and ceiling, with the foundation hold, takes at
most 15 minutes (stage 4: 12), 25 user inputs and 40 bot messages; the intro's "about N minutes"
is the same measure. Only a day's first session counts, and stages 1 to 3 last 14 days at least.
"""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from bench.sessions import MAX_INPUTS, MAX_MESSAGES, MAX_MINUTES, play
from conversations.flow import Outcome
from conversations.session_plan import holds_in_set, plan_for, session_seconds, todays_exercises
from conversations.state import Step
from data.programme import default_programme
from schedules.progression import Position
from tests.coach_player import CoachPlayer

PROGRAMME = default_programme()


def summary_of(outcome: Outcome) -> str:
    """The session summary among the outcome's replies (a lesson may follow it)."""
    return next(r.text for r in outcome.replies if "Session done" in r.text)


CASES = [
    (stage.number, ceiling, rotation, foundation)
    for stage in PROGRAMME.stages
    for ceiling in (False, True)
    for rotation in range(len(stage.exercises))
    for foundation in ((False, True) if stage.number > 1 else (False,))
]


@pytest.mark.parametrize(("stage", "ceiling", "rotation", "foundation"), CASES)
def test_every_session_keeps_to_the_budget(
    stage: int, ceiling: bool, rotation: int, foundation: bool
) -> None:
    count = play(PROGRAMME, stage, ceiling=ceiling, rotation=rotation, foundation=foundation)
    assert count.seconds <= MAX_MINUTES[stage] * 60
    assert count.inputs <= MAX_INPUTS
    assert count.messages <= MAX_MESSAGES
    # The intro says what playing it took, rounded up: one measure, not two formulas.
    assert count.intro_minutes == math.ceil(count.seconds / 60)


def test_a_sets_edits_are_bounded_by_its_phases() -> None:
    """One edit per phase change (a hold, a rest) and one to close: never a countdown."""
    for stage in PROGRAMME.stages:
        doses = {e.id: e.dose.ceiling for e in stage.exercises}
        plan = plan_for(
            PROGRAMME, Position(stage=stage.number, doses=doses), rotation=0, short=False
        )
        count = play(PROGRAMME, stage.number, ceiling=True, rotation=0, foundation=False)
        for (exercise_id, holds), edits in zip(plan, count.edits_per_set, strict=True):
            assert edits <= 2 * holds_in_set(PROGRAMME.exercise(exercise_id), holds)


@pytest.mark.parametrize("stage", [s.number for s in PROGRAMME.stages])
@pytest.mark.parametrize("days_a_week", [3, 7])
def test_every_exercise_comes_at_least_twice_a_week(stage: int, days_a_week: int) -> None:
    exercises = PROGRAMME.stage(stage).exercises
    for first in range(len(exercises)):
        week = [todays_exercises(PROGRAMME.stage(stage), first + i) for i in range(days_a_week)]
        for exercise in exercises:
            assert sum(exercise in day for day in week) >= 2, (exercise.id, first)


def test_session_seconds_adds_reading_answers_holds_and_rests() -> None:
    dead_bug = PROGRAMME.exercise("s1-dead-bug")
    # /session and Let's go, 20 s to read and start, 2 answers, 3 holds and 2 rests.
    expected = 2 + 20 + 2 + 3 * dead_bug.seconds + 2 * dead_bug.rest_seconds
    assert session_seconds(PROGRAMME, (("s1-dead-bug", 3),)) == expected


# --- pace ---------------------------------------------------------------------------------------


def _stage_days(sessions_a_day: int, days: int = 60) -> dict[int, int]:
    """A perfect user: every set steady, every check-in yes, one or two sessions a day. The day
    (1 = the first) on which each stage was reached."""
    player = CoachPlayer()
    player.onboard()
    reached = {1: 1}
    start = player.clock
    for day in range(1, days + 1):
        player.clock = start + timedelta(days=day - 1, hours=1)
        for extra in range(sessions_a_day):
            player.clock += timedelta(hours=4 * extra)
            player.run_session()
            if player.state.position.stage not in reached:
                reached[player.state.position.stage] = day
    return reached


def test_a_perfect_daily_user_takes_two_weeks_a_stage() -> None:
    reached = _stage_days(1)
    assert reached[2] >= 14
    assert reached[4] >= 42
    assert reached == {1: 1, 2: 14, 3: 28, 4: 42}


def test_reaching_stage_four_asks_about_three_days_a_week() -> None:
    player = CoachPlayer()
    player.onboard()
    doses = {e.id: e.dose.ceiling for e in player.programme.stage(3).exercises}
    start = player.clock.date() - timedelta(days=20)
    ready = Position(
        stage=3,
        doses=doses,
        sessions_in_stage=9,
        ceiling_clean_dates=(start,),
        stage_started_on=start,
    )
    player.state = player.state.model_copy(update={"position": ready})
    player.run_session()
    assert player.state.position.stage == 4
    assert player.step is Step.ASK_UPKEEP_DAYS
    assert player.state.profile.training_days == frozenset(range(7))  # not changed unasked
    assert player.labels == ["Mon, Wed, Fri", "Keep my days"]
    player.tap("Mon, Wed, Fri")
    assert player.state.profile.training_days == frozenset({0, 2, 4})
    assert player.step is Step.IDLE


def test_training_twice_a_day_is_no_faster() -> None:
    assert _stage_days(2) == _stage_days(1)


def test_a_second_session_that_day_is_extra_practice_and_says_so() -> None:
    player = CoachPlayer()
    player.onboard()
    player.run_session()
    first = player.state.position
    player.clock += timedelta(hours=3)
    summary = summary_of(player.run_session())
    assert "extra practice" in summary
    assert player.state.position == first
    assert player.state.activity.total_sessions == 2  # recorded all the same


def test_progress_counts_the_days_still_to_go() -> None:
    player = CoachPlayer()
    player.onboard()
    player.run_session()
    player.command("progress")
    assert "with 13 days still to go in this stage" in player.replies[-1].text


def test_a_set_ended_early_with_done_counts_as_shaky() -> None:
    player = CoachPlayer()
    player.onboard()
    player.begin_session()
    player.tap("Start")
    player.time_up()  # into the first rest
    player.tap("Done")
    assert player.step is Step.ASK_FEEL
    holds = player.state.flow.session.holds if player.state.flow.session else ()
    assert [h.ended_early for h in holds] == [False, True, True, True]
    outcome = player.play_out({Step.ASK_FEEL: "Steady", Step.ASK_CHECKIN: "Yes"}, by_timer=True)
    assert "the same dose again" in summary_of(outcome)


def test_a_missed_check_in_gives_its_own_cue_as_the_next_focus() -> None:
    player = CoachPlayer()
    player.onboard()
    player.run_session(checkin="No")
    missed = player.state.position.cue_next_time
    assert missed is not None
    assert missed.startswith("checkin:")
    cue = player.programme.checkin_cues[missed.removeprefix("checkin:")]
    player.advance_days(1)
    player.command("session")
    assert f"Focus today: {cue}" in player.last_text


def test_the_nudge_says_the_minutes_the_intro_says() -> None:
    from conversations.events import NudgeDue

    player = CoachPlayer()
    player.onboard()
    player.advance_days(1)
    nudge = player.event(NudgeDue()).replies[-1].text
    player.tap("Start now")
    intro = player.last_text
    minutes = nudge.split("about ")[1].split(" minutes")[0]
    assert f"about {minutes} minutes" in intro


# --- wording ------------------------------------------------------------------------------------


def test_a_safety_check_is_called_a_quick_safety_check_once() -> None:
    player = CoachPlayer()
    player.onboard()
    player.begin_session()
    player.report_pain("7")  # strong pain: the screen comes at once
    assert player.last_text.lower().count("a quick safety check") == 1
    later = CoachPlayer()
    later.onboard()
    later.advance_days(60)  # the screen is due again before the next session
    later.command("session")
    assert later.step is Step.SCREEN_URGENT
    assert later.last_text.lower().count("a quick safety check") == 1


def test_counts_read_in_words() -> None:
    player = CoachPlayer()
    player.onboard()
    player.command("pause", "1")
    assert "no nudges for 1 day," in player.last_text
    player.command("pause", "3")
    assert "no nudges for 3 days," in player.last_text
    player.command("resume")
    player.run_session()
    summary = next(r.text for r in player.replies if "Session done" in r.text)
    assert "Streak: 1 day in a row." in summary
    assert "(s)" not in summary
