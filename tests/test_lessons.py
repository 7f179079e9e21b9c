"""The lessons and the pictures in the pure coach: what is offered when, and what is counted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conversations.pictures import MAX_PICTURE_VIEWS
from conversations.state import Step, in_session
from data.programme import DATA_DIR, ProgrammeError, load_programme
from tests.coach_player import CoachPlayer
from tests.lesson_calendar import first_month, table, trains_on


def test_lessons_are_10_to_15_one_idea_each_in_stage_order() -> None:
    lessons = load_programme().lessons
    assert 10 <= len(lessons) <= 15
    assert [lesson.stage for lesson in lessons] == sorted(lesson.stage for lesson in lessons)
    assert {lesson.stage for lesson in lessons} == {1, 2, 3, 4}
    for lesson in lessons:
        sentences = lesson.text.count(". ") + 1
        assert 2 <= sentences <= 6, lesson.id


def test_the_first_month_brings_one_lesson_at_most_a_day_in_order_after_sessions() -> None:
    calendar = first_month()
    lessons = load_programme().lessons
    shown = [day.lesson for day in calendar if day.lesson]
    assert shown == [lesson.title for lesson in lessons][: len(shown)]  # in order, no repeats
    # A steady user meets every lesson of the stages they reach within the month (stages last
    # two weeks at least, so the later stages' lessons come later).
    reached = max(day.stage for day in calendar)
    assert len(shown) == sum(1 for lesson in lessons if lesson.stage <= reached)
    assert reached >= 2
    for day in calendar:
        if day.lesson is not None:
            assert day.trained  # only after a finished session
            stage_of = {lesson.title: lesson.stage for lesson in lessons}
            assert stage_of[day.lesson] <= day.stage  # never ahead of the user
    assert "| 1 | Mon 23 Nov | yes | 1 |" in table(calendar)
    assert trains_on(0)


def test_a_lesson_follows_the_summary_and_never_comes_mid_session() -> None:
    player = CoachPlayer()
    player.onboard()
    player.begin_session()
    while player.step is not Step.IDLE:
        assert all("A minute to learn" not in r.text for r in player.last_outcome.replies)  # type: ignore[union-attr]
        assert in_session(player.state) or player.step is Step.IDLE
        player.tap({Step.HOLD_READY: "Start", Step.HOLDING: "Done", Step.ASK_FEEL: "Steady",
                    Step.ASK_CHECKIN: "Yes"}[player.step])  # fmt: skip
    replies = player.last_outcome.replies  # type: ignore[union-attr]
    assert "Session done" in replies[0].text
    assert replies[-1].text.startswith("A minute to learn: The small muscles under the big ones")
    # A second session the same day: no second lesson.
    player.run_session()
    assert all("A minute to learn" not in r.text for r in player.last_outcome.replies)  # type: ignore[union-attr]
    assert player.state.learning.lessons_read == ("small-deep-muscles",)


def test_a_stopped_session_brings_no_lesson() -> None:
    player = CoachPlayer()
    player.onboard()
    player.begin_session()
    player.command("stop")
    assert player.state.learning.lessons_read == ()


def test_learn_lists_the_lessons_and_shows_any_reached_one_again() -> None:
    player = CoachPlayer()
    player.onboard()
    player.run_session()
    listing = player.command("learn").replies[0].text
    assert "1 of 13 read" in listing
    assert "\u2713 1. The small muscles under the big ones" in listing
    assert "\u2022 2. Why slow and small" in listing
    assert "(from stage 2)" in listing
    again = player.command("learn", "1").replies
    assert again[0].text.startswith("A minute to learn: The small muscles")
    assert player.step is Step.IDLE  # the waiting question follows
    shown = player.command("learn", "4").replies[0]
    assert shown.picture == "s1-dead-bug"  # "Feel it, don't force it" comes with a picture
    assert player.state.learning.lessons_read == ("small-deep-muscles", "feel-not-force")
    assert "no lesson 8" in player.command("learn", "8").replies[0].text  # stage 2: not yet
    assert "no lesson 99" in player.command("learn", "99").replies[0].text


def test_progress_says_how_many_lessons_were_read() -> None:
    player = CoachPlayer()
    player.onboard()
    assert "Lessons read: 0 of 13" in player.command("progress").replies[0].text
    player.run_session()
    assert "Lessons read: 1 of 13" in player.command("progress").replies[0].text


def test_each_exercise_picture_comes_once_a_session_for_the_first_three_sessions() -> None:
    player = CoachPlayer()
    player.onboard()
    plan_ids = [e.id for e in player.programme.stage(1).exercises]
    for session in range(MAX_PICTURE_VIEWS + 1):
        start = len(player.replies)
        player.run_session()
        pictured = [r.picture for r in player.replies[start:] if r.picture and r.choices]
        assert pictured == (plan_ids if session < MAX_PICTURE_VIEWS else [])
        player.advance_days(1)
    assert player.state.learning.pictures_seen == dict.fromkeys(plan_ids, MAX_PICTURE_VIEWS)


def test_show_me_brings_the_picture_back_once_asked() -> None:
    player = CoachPlayer()
    player.onboard()
    for _ in range(MAX_PICTURE_VIEWS):
        player.run_session()
        player.advance_days(1)
    player.begin_session()
    assert player.question.picture is None
    assert "Show me" in player.labels
    outcome = player.tap("Show me")
    (reply,) = outcome.replies
    assert reply.picture == player.programme.stage(1).exercises[0].id
    assert "Show me" not in player.labels  # once is enough for this session
    assert player.step is Step.HOLD_READY
    player.tap("Start")
    assert player.step is Step.HOLDING


def test_the_first_pictures_carry_no_show_me_button() -> None:
    player = CoachPlayer()
    player.onboard()
    player.begin_session()
    assert player.question.picture is not None
    assert "Show me" not in player.labels


def lessons_copy(tmp_path: Path) -> Path:
    for name in ("programme.yaml", "safety.yaml", "messages.yaml", "lessons.yaml", "poses.yaml"):
        shutil.copy(DATA_DIR / name, tmp_path / name)
    return tmp_path


def test_a_lesson_picture_naming_no_exercise_stops_start_up(tmp_path: Path) -> None:
    base = lessons_copy(tmp_path)
    path = base / "lessons.yaml"
    path.write_text(path.read_text().replace("picture: s1-cat-cow", "picture: s1-cat-moo"))
    with pytest.raises(ProgrammeError, match=r"lessons\.yaml: field lessons\.5\.picture"):
        load_programme(base)


def test_lessons_out_of_stage_order_stop_start_up(tmp_path: Path) -> None:
    base = lessons_copy(tmp_path)
    path = base / "lessons.yaml"
    path.write_text(path.read_text().replace("    stage: 2\n", "    stage: 4\n", 1))
    with pytest.raises(ProgrammeError, match=r"lessons\.yaml: field lessons\.\d+\.stage"):
        load_programme(base)
