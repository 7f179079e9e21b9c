"""The pure coach, played as a user would: onboarding, a whole session, safety, and bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conversations.events import Choose, HoldTimeUp, Unsupported
from conversations.records import Decision, Feeling
from conversations.replies import CancelHoldTimer, LiveUpdate, RecordSession, WakeAt
from conversations.state import Step
from tests.coach_player import CoachPlayer


def records(player: CoachPlayer) -> list[RecordSession]:
    return [e for e in player.effects if isinstance(e, RecordSession)]


def test_first_hello_says_coach_not_clinician_and_starts_the_screen() -> None:
    player = CoachPlayer()
    player.command("start")
    assert "not a clinician" in player.last_text
    assert player.step is Step.SCREEN_URGENT
    assert player.labels == ["Yes", "No"]


def test_any_first_message_starts_onboarding() -> None:
    player = CoachPlayer()
    player.send("hello")
    assert player.step is Step.SCREEN_URGENT


def test_onboarding_records_every_answer() -> None:
    player = CoachPlayer()
    player.onboard(days="Weekdays", time="7:30 pm", zone="new york")
    profile = player.state.profile
    assert profile.onboarded
    assert profile.pain_at_start == 2
    assert profile.experience == "some"
    assert profile.training_days == frozenset(range(5))
    assert profile.nudge_time is not None
    assert profile.nudge_time.hour == 19
    assert profile.nudge_time.minute == 30
    assert profile.zone == "America/New_York"
    assert profile.screened_at is not None
    assert "19:30" in player.last_text


@pytest.mark.parametrize("tier", ["urgent", "clinician"])
def test_a_red_flag_blocks_training_until_cleared(tier: str) -> None:
    player = CoachPlayer()
    player.command("start")
    if tier == "clinician":
        player.tap("No")
    player.tap("Yes")
    assert player.step is Step.SCREEN_BLOCKED
    advice = player.programme.safety.urgent_advice
    if tier == "clinician":
        advice = player.programme.safety.clinician_advice
    assert advice.strip()[:40] in player.last_text
    assert not player.last_labels  # no clearing button beside the advice
    for attempt in ("/session", "Let's go", "Start", "/cleared"):
        player.send(attempt)
        assert player.step is Step.SCREEN_BLOCKED
        assert player.state.flow.session is None
    player.advance_days(1)
    player.command("start")
    player.tap("I've been seen and cleared")
    player.answer_screen()  # the whole screen again, both tiers
    if tier == "clinician":
        player.tap("No")  # no osteoporosis or vertebral fracture
    assert player.step is Step.ASK_PAIN_NOW


def test_a_whole_session_ends_in_a_summary_with_the_decision() -> None:
    player = CoachPlayer()
    player.onboard()
    summary = player.run_session()
    # The summary asks what next; the day's lesson may follow it.
    (text,) = [reply.text for reply in summary.replies if reply.choices]
    assert "Session done" in text
    assert "Next time:" in text
    assert player.step is Step.IDLE
    (record,) = records(player)
    assert record.record.completed
    assert record.record.decision is Decision.DOSE_UP
    stage = player.programme.stage(1)
    assert len(record.record.checkins) == len(stage.exercises)
    # One set per exercise, every side in it.
    assert len(record.record.sets) == len(stage.exercises)
    assert all(s.feeling is Feeling.STEADY for s in record.record.sets)
    assert player.state.activity.total_sessions == 1
    assert player.state.activity.streak == 1


def test_one_start_runs_the_whole_set_and_done_ends_it_early() -> None:
    player = CoachPlayer()
    player.onboard()
    player.begin_session()
    started = player.tap("Start")
    (timer,) = [e for e in started.effects if isinstance(e, WakeAt)]
    first = player.programme.stage(1).exercises[0]
    assert timer.at == player.clock + timedelta(seconds=first.seconds)
    assert started.replies[-1].live
    assert player.step is Step.HOLDING
    # The hold ends by itself: a rest, then the next hold, each one edit of the live message.
    rest = player.time_up()
    assert [e.text.splitlines()[-1] for e in rest.effects if isinstance(e, LiveUpdate)] == [
        f"Rest {first.rest_seconds} s"
    ]
    nxt = player.time_up()
    live = [e for e in nxt.effects if isinstance(e, LiveUpdate)]
    assert "Rep 2 of 4" in live[0].text
    assert nxt.replies == ()  # no new messages while a set runs
    outcome = player.event(Choose("done", player.state.flow.step_no), seconds=4)
    assert CancelHoldTimer() in outcome.effects
    assert player.step is Step.ASK_FEEL
    holds = player.state.flow.session.holds if player.state.flow.session else ()
    assert [(h.held_seconds, h.ended_early) for h in holds] == [
        (first.seconds, False),
        (4, True),
        (0, True),
        (0, True),
    ]


def test_a_set_resumes_at_the_right_hold_after_a_late_wake_and_closes_when_long_past() -> None:
    player = CoachPlayer()
    player.onboard()
    player.begin_session()
    player.tap("Start")
    first = player.programme.stage(1).exercises[0]
    step_no = player.state.flow.step_no
    # Down for 45 s: the wake comes late and finds the set in its third rep.
    player.event(HoldTimeUp(step_no), seconds=45)
    session = player.state.flow.session
    assert session is not None
    assert session.hold_index == 45 // (first.seconds + first.rest_seconds)
    # Down for an hour: the set is closed, its holds left counted as cut short.
    player.event(HoldTimeUp(step_no), seconds=3600)
    assert player.step is Step.ASK_FEEL
    assert "cut short" in player.last_text


def test_shaky_marks_the_current_hold_and_pause_waits_for_go_on() -> None:
    player = CoachPlayer()
    player.onboard()
    player.begin_session()
    player.tap("Start")
    marked = player.tap("Shaky")
    assert marked.replies == ()
    paused = player.tap("Pause")
    assert CancelHoldTimer() in paused.effects
    assert player.labels == ["Go on", "It hurts", "Done"]
    player.advance_days(0.01)
    going = player.tap("Go on")
    assert any(isinstance(e, WakeAt) for e in going.effects)
    player.run_set()
    player.tap("Steady")
    player.tap("Yes")
    session = player.state.flow.session
    assert session is not None
    assert session.shaky_holds == 1


def test_a_late_timer_for_an_answered_hold_changes_nothing() -> None:
    player = CoachPlayer()
    player.onboard()
    player.begin_session()
    player.tap("Start")
    stale = player.state.flow.step_no
    player.tap("Done")
    before = player.state
    outcome = player.event(HoldTimeUp(stale))
    assert outcome.state == before
    assert outcome.replies == ()


def test_sharp_pain_stops_the_session_and_steps_back() -> None:
    player = CoachPlayer()
    player.onboard()
    player.run_session()  # dose up once
    doses_before = dict(player.state.position.doses)
    player.advance_days(1)
    player.to_first_feel()
    player.tap("It hurts")
    player.tap("3")
    player.tap("Sharp")
    assert "stop here" in player.last_text
    assert player.step is Step.IDLE
    assert player.state.flow.session is None
    stopped = records(player)[-1].record
    assert stopped.decision is Decision.SAFETY_STOP
    assert not stopped.completed
    assert all(player.state.position.doses[k] < v for k, v in doses_before.items())
    assert player.state.position.screen_due


def test_pain_of_six_stops_at_once_without_asking_the_kind() -> None:
    player = CoachPlayer()
    player.onboard()
    player.to_first_feel()
    player.tap("It hurts")
    player.send("6")
    assert records(player)[-1].record.decision is Decision.SAFETY_STOP


def test_two_safety_stops_in_a_week_pause_the_programme_until_cleared() -> None:
    player = CoachPlayer()
    player.onboard()
    for day in range(2):
        player.advance_days(day)
        player.to_first_feel()
        player.tap("It hurts")
        player.tap("8")
        player.answer_screen()  # pain above 5 asks the screen at once
    assert player.step is Step.SAFETY_PAUSED
    assert player.state.position.safety_paused
    assert not player.last_labels  # nothing to clear on the day of the stop
    player.command("session")
    assert player.step is Step.SAFETY_PAUSED
    player.advance_days(1)
    player.command("session")
    player.tap("I've been seen and cleared")
    assert player.step is Step.SCREEN_URGENT
    player.answer_screen()
    assert not player.state.position.safety_paused


def test_dull_pain_of_four_carries_on_and_repeats_the_dose() -> None:
    player = CoachPlayer()
    player.onboard()
    player.command("session")
    player.tap("Let's go")
    pained = False
    while player.step is not Step.IDLE:
        if player.step is Step.HOLD_READY:
            player.tap("Start")
        elif player.step is Step.HOLDING:
            player.time_up()
        elif player.step is Step.ASK_FEEL:
            player.tap("Steady" if pained else "It hurts")
        elif player.step is Step.ASK_PAIN_SCORE:
            player.tap("4")
        elif player.step is Step.ASK_PAIN_KIND:
            player.tap("Dull ache")
            pained = True
            assert "not the same as harm" in player.last_text
        elif player.step is Step.ASK_CHECKIN:
            player.tap("Yes")
    record = records(player)[-1].record
    assert record.completed
    assert record.decision is Decision.REPEAT
    assert record.reason == "repeat_pain"
    assert player.state.position.morning_check_due


def test_stop_ends_the_session_and_keeps_what_was_done() -> None:
    player = CoachPlayer()
    player.onboard()
    player.begin_session()
    player.tap("Start")
    player.time_up()
    player.command("stop")
    assert player.step is Step.IDLE
    record = records(player)[-1].record
    assert not record.completed
    assert [h.ended_early for h in record.holds] == [False, True, True, True]
    assert player.state.position.sessions_in_stage == 0


def test_session_during_a_session_resumes_the_same_question() -> None:
    player = CoachPlayer()
    player.onboard()
    player.begin_session()
    player.tap("Start")
    player.time_up()
    waiting = player.question
    step, step_no = player.step, player.state.flow.step_no
    player.command("session")
    assert player.step is step
    assert player.state.flow.step_no == step_no
    assert player.question.choices == waiting.choices
    assert "carry on" in player.last_text


# --- bad input ----------------------------------------------------------------------------------


def onboarded_at(step: Step) -> CoachPlayer:
    player = CoachPlayer()
    player.command("start")
    script = {
        Step.SCREEN_URGENT: [],
        Step.ASK_PAIN_NOW: ["No", "No"],
        Step.ASK_TIME: ["No", "No", "2", "A little", "Every day"],
        Step.ASK_ZONE: ["No", "No", "2", "A little", "Every day", "07:00"],
    }[step]
    for label in script:
        player.tap(label)
    assert player.step is step
    return player


@pytest.mark.parametrize(
    ("step", "typed", "expected"),
    [
        (Step.SCREEN_URGENT, "maybe later", "tap a button"),
        (Step.ASK_PAIN_NOW, "eleven", "whole number from 0"),
        (Step.ASK_PAIN_NOW, "-3", "whole number from 0"),
        (Step.ASK_PAIN_NOW, "11", "whole number from 0"),
        (Step.ASK_TIME, "25:99", "7:30"),
        (Step.ASK_TIME, "tomorrow", "7:30"),
        (Step.ASK_ZONE, "Atlantis", "Europe/Berlin"),
        (Step.ASK_ZONE, "Mars/Olympus", "Europe/Berlin"),
    ],
)
def test_bad_input_gets_a_clear_answer_and_changes_nothing(
    step: Step, typed: str, expected: str
) -> None:
    player = onboarded_at(step)
    before = player.state
    player.send(typed)
    assert player.state == before
    assert expected in player.last_text
    assert player.question.choices  # the question is asked again, with its buttons


def test_a_stale_button_is_refused_politely() -> None:
    player = onboarded_at(Step.ASK_PAIN_NOW)
    old = player.state.flow.step_no - 1
    before = player.state
    outcome = player.event(Choose("yes", old))
    assert outcome.state == before
    assert "earlier question" in player.last_text


def test_a_forged_choice_is_refused_politely() -> None:
    player = onboarded_at(Step.ASK_PAIN_NOW)
    before = player.state
    outcome = player.event(Choose("p99", player.state.flow.step_no))
    assert outcome.state == before
    assert "earlier question" in player.last_text


def test_a_double_tap_counts_once() -> None:
    player = onboarded_at(Step.ASK_PAIN_NOW)
    step_no = player.state.flow.step_no
    player.event(Choose("p3", step_no))
    after_first = player.state
    player.event(Choose("p3", step_no))
    assert player.state == after_first
    assert player.state.profile.pain_at_start == 3


def test_a_sticker_gets_a_friendly_answer_and_the_question_again() -> None:
    player = onboarded_at(Step.ASK_TIME)
    before = player.state
    player.event(Unsupported("sticker"))
    assert player.state == before
    assert "only read text" in player.last_text
    assert "07:00" in player.labels


def test_typed_labels_work_in_any_case() -> None:
    player = onboarded_at(Step.SCREEN_URGENT)
    player.send("  nO ")
    assert player.step is Step.SCREEN_CLINICIAN


def test_unknown_command_is_explained() -> None:
    player = CoachPlayer()
    player.onboard()
    before = player.state
    player.send("/dance")
    assert player.state == before
    assert "/help" in player.last_text


def test_pause_and_resume() -> None:
    player = CoachPlayer()
    player.onboard()
    player.command("pause", "3")
    assert player.state.activity.paused_until is not None
    assert "3 day" in player.replies[-1].text
    player.command("pause", "99")
    assert "from 1 to 60" in player.last_text
    player.command("resume")
    assert player.state.activity.paused_until is None
    player.command("resume")
    assert "Nothing is paused" in player.last_text


def test_settings_change_the_nudge_time_and_come_back_to_the_menu() -> None:
    player = CoachPlayer()
    player.onboard()
    player.command("settings")
    assert player.step is Step.SETTINGS
    player.tap("Nudge time")
    player.send("6.45")
    assert player.step is Step.SETTINGS
    assert "06:45" in player.last_text
    player.tap("Time zone")
    player.send("Kolkata")
    assert player.state.profile.zone == "Asia/Kolkata"
    player.tap("Done")
    assert player.step is Step.IDLE


def test_help_works_everywhere_and_mentions_the_coach_is_not_a_clinician() -> None:
    player = onboarded_at(Step.ASK_ZONE)
    before = player.state
    player.command("help")
    assert "not a clinician" in player.last_text
    assert player.state == before


def test_pain_can_be_reported_in_the_middle_of_a_hold() -> None:
    player = CoachPlayer()
    player.onboard()
    player.begin_session()
    player.tap("Start")
    outcome = player.tap("It hurts")
    assert CancelHoldTimer() in outcome.effects
    assert player.step is Step.ASK_PAIN_SCORE
    player.tap("7")
    assert records(player)[-1].record.decision is Decision.SAFETY_STOP


def test_later_stages_keep_an_easy_foundation_hold_now_and_then() -> None:
    from schedules.progression import Position, stage_doses

    player = CoachPlayer()
    player.onboard()
    stage_two = Position(stage=2, doses=stage_doses(player.programme, 2), sessions_in_stage=1)
    player.state = player.state.model_copy(update={"position": stage_two})
    player.command("session")
    foundation = next(e for e in player.programme.stage(1).exercises if e.kind == "hold")
    assert foundation.name in player.last_text
    later = stage_two.model_copy(update={"sessions_in_stage": 2})
    player.state = player.state.model_copy(update={"position": later})
    player.tap("Not now")
    player.command("session")
    assert foundation.name not in player.last_text
