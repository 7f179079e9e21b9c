"""The nudge as the user meets it, in the pure coach: start, snooze, skip, the morning check,
welcome back after missed days, and the offer of a new time after repeated snoozes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from conversations.events import NudgeDue, SharedZone
from conversations.nudging import missed_training_days, next_nudge
from conversations.records import Decision
from conversations.replies import ExportData, ForgetUser, RecordSession
from conversations.state import Coachee, Step
from tests.coach_player import CoachPlayer


def nudge(player: CoachPlayer, summary: str | None = None) -> None:
    player.event(NudgeDue(summary))


def onboarded(**kwargs: str) -> CoachPlayer:
    player = CoachPlayer()
    player.onboard(**kwargs)
    return player


def test_the_nudge_offers_start_snooze_and_skip() -> None:
    player = onboarded()
    nudge(player)
    assert player.step is Step.NUDGE
    assert player.labels == ["Start now", "In 30 min", "In 2 hours", "Skip today"]
    assert player.state.activity.last_nudged_on == player.clock.date()
    player.tap("Start now")
    assert player.step is Step.SESSION_INTRO


def test_a_second_nudge_the_same_day_says_nothing() -> None:
    player = onboarded()
    nudge(player)
    player.tap("Skip today")
    before = player.state
    outcome = player.event(NudgeDue())
    assert outcome.replies == ()
    assert outcome.state == before


def test_no_nudge_on_a_day_already_trained() -> None:
    player = onboarded()
    player.run_session()
    outcome = player.event(NudgeDue())
    assert outcome.replies == ()


def test_no_nudge_in_the_middle_of_a_session_and_nothing_is_lost() -> None:
    player = onboarded()
    player.command("session")
    player.tap("Let's go")
    player.tap("Start")
    step, session = player.step, player.state.flow.session
    outcome = player.event(NudgeDue())
    assert outcome.replies == ()
    assert player.step is step
    assert player.state.flow.session == session


def test_snooze_sets_the_time_and_the_next_nudge_follows_it() -> None:
    player = onboarded()
    nudge(player)
    player.tap("In 30 min")
    snoozed = player.state.activity.snoozed_until
    assert snoozed == player.clock + timedelta(minutes=30)
    assert "08:3" in player.last_text  # the clock is 08:00 UTC in the player
    fires = next_nudge(player.state, player.clock, player.clock.date())
    assert fires == snoozed
    player.clock = snoozed
    nudge(player)
    assert player.step is Step.NUDGE
    assert player.state.activity.snoozed_until is None


def test_three_snoozes_in_a_row_offer_a_new_time_but_never_change_it_silently() -> None:
    player = onboarded()
    for _ in range(3):
        nudge(player)
        player.tap("In 30 min")
        player.clock += timedelta(minutes=31)
    assert player.step is Step.NUDGE_TIME_OFFER
    assert player.state.profile.nudge_time == time(7, 0)
    player.tap("Pick a new time")
    player.send("9:15")
    assert player.state.profile.nudge_time == time(9, 15)
    assert player.state.activity.snoozes_in_row == 0


def test_after_a_painful_session_the_next_nudge_asks_about_the_back_first() -> None:
    player = onboarded()
    player.begin_session()
    painful = {
        Step.ASK_FEEL: "It hurts",
        Step.ASK_PAIN_SCORE: "4",
        Step.ASK_PAIN_KIND: "Dull ache",
        Step.ASK_CHECKIN: "Yes",
    }
    player.play_out(painful)
    assert player.state.position.morning_check_due
    player.advance_days(1)
    nudge(player)
    assert player.step is Step.MORNING_CHECK
    player.tap("Worse")
    assert player.state.position.hold_back_sessions == 1
    assert not player.state.position.morning_check_due
    assert player.step is Step.NUDGE
    player.tap("Start now")
    player.tap("Let's go")
    player.play_out({Step.ASK_FEEL: "Steady", Step.ASK_CHECKIN: "Yes"})
    record = [e for e in player.effects if isinstance(e, RecordSession)][-1].record
    assert record.reason == "repeat_held_back"


def test_missed_days_count_only_training_days() -> None:
    player = onboarded(days="Mon, Wed, Fri")  # onboarded on Monday 2026-11-23
    today = player.clock.date() + timedelta(days=7)  # the next Monday
    # Wednesday 25th and Friday 27th were missed; the start day and today do not count.
    assert missed_training_days(player.state, today) == 2


def test_three_missed_days_bring_a_gentle_welcome_back_and_a_short_session() -> None:
    player = onboarded()
    player.run_session()
    doses = dict(player.state.position.doses)
    player.advance_days(4)
    nudge(player)
    assert "Welcome back" in player.last_text
    player.tap("Start now")
    intro = player.last_text
    assert "3 holds" in intro
    player.tap("Let's go")
    player.play_out({Step.ASK_FEEL: "Steady", Step.ASK_CHECKIN: "Yes"})
    record = [e for e in player.effects if isinstance(e, RecordSession)][-1].record
    assert record.decision is Decision.REPEAT
    assert record.reason == "welcome_back"
    assert player.state.position.doses == doses


def test_after_seven_missed_days_the_nudge_is_weekly() -> None:
    player = onboarded()
    player.run_session()
    player.advance_days(9)
    nudge(player)
    assert "once a week" in player.last_text
    player.tap("Skip today")
    fires = next_nudge(player.state, player.clock, player.clock.date())
    assert fires is not None
    assert fires - player.clock >= timedelta(days=6)


def test_the_week_summary_comes_with_the_nudge() -> None:
    player = onboarded()
    nudge(player, "Last week: 3 sessions.")
    assert player.last_text.startswith("Last week: 3 sessions.")
    assert player.step is Step.NUDGE


def test_paused_users_get_no_nudge() -> None:
    player = onboarded()
    player.command("pause", "2")
    assert next_nudge(player.state, player.clock, player.clock.date()) is not None
    fires = next_nudge(player.state, player.clock, player.clock.date())
    assert fires is not None
    assert fires.date() >= (player.clock + timedelta(days=2)).date()


def test_quiet_hours_can_be_set_in_settings() -> None:
    player = onboarded()
    player.command("settings")
    player.tap("Quiet hours")
    player.send("21:30 - 6:45")
    profile = player.state.profile
    assert (profile.quiet_start, profile.quiet_end) == (time(21, 30), time(6, 45))
    player.tap("Quiet hours")
    player.send("whenever")
    assert "can't read" in player.last_text
    player.tap("None")
    assert player.state.profile.quiet_start == player.state.profile.quiet_end


def test_a_shared_location_sets_the_zone_only_when_asked() -> None:
    player = CoachPlayer()
    player.command("start")
    for label in ("No", "No", "2", "A little", "Every day", "07:00"):
        player.tap(label)
    assert player.step is Step.ASK_ZONE
    player.event(SharedZone("Asia/Kolkata"))
    assert player.state.profile.zone == "Asia/Kolkata"
    before = player.state
    player.event(SharedZone("Europe/Berlin"))
    assert player.state == before
    assert "only use a location" in player.last_text


def test_forget_asks_first_and_then_starts_from_scratch() -> None:
    player = onboarded()
    player.run_session()
    player.command("forget")
    assert player.step is Step.FORGET_CONFIRM
    player.tap("No, keep it")
    assert player.state.activity.total_sessions == 1
    player.command("forget")
    outcome = player.tap("Yes, delete everything")
    assert ForgetUser() in outcome.effects
    assert player.state == Coachee()
    player.command("start")
    assert player.step is Step.SCREEN_URGENT


def test_export_is_an_effect_and_changes_nothing() -> None:
    player = onboarded()
    before = player.state
    outcome = player.command("export")
    assert ExportData() in outcome.effects
    assert outcome.state == before


def test_nudge_times_are_in_the_users_zone_across_dst() -> None:
    player = CoachPlayer(now=datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    player.onboard(time="07:30", zone="Berlin")
    fires = next_nudge(player.state, player.clock, player.clock.date())
    assert fires == datetime(2026, 10, 25, 6, 30, tzinfo=UTC)  # 07:30 CET after the change


def test_buttons_from_before_a_forget_never_match_new_questions() -> None:
    player = onboarded()
    old_numbers = player.state.flow.step_no
    player.command("forget")
    player.tap("Yes, delete everything")
    player.clock += timedelta(seconds=5)
    player.command("start")
    assert player.state.flow.step_no > old_numbers + 1


def test_a_nudge_falling_due_in_quiet_hours_says_nothing() -> None:
    player = onboarded()
    player.clock = player.clock.replace(hour=23, minute=0)
    before = player.state
    outcome = player.event(NudgeDue())
    assert outcome.replies == ()
    assert outcome.state == before


def test_a_snooze_left_from_yesterday_does_not_skip_the_morning_check() -> None:
    player = onboarded()
    stale = player.clock - timedelta(days=1)
    activity = player.state.activity.model_copy(update={"snoozed_until": stale})
    position = player.state.position.model_copy(update={"morning_check_due": True})
    player.state = player.state.model_copy(update={"activity": activity, "position": position})
    nudge(player)
    assert player.step is Step.MORNING_CHECK
