"""The terminal chat end to end: the real `python -m bot` process, piped input, an SQLite file."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from data.programme import default_programme
from tests.clocks import nudge_time_far_from_now
from tests.terminal_process import TerminalProcess, coach_env


def onboarding() -> list[str]:
    """Onboarding answers, with a nudge time that does not fall due while the test runs."""
    return ["/start", "No", "No", "3", "A little", "Weekdays", nudge_time_far_from_now(), "UTC"]


def session_script(feeling: str = "Steady") -> list[str]:
    """Every answer of a whole stage-1 session: one Start per set, each set ended with Done."""
    lines = ["/session", "Let's go"]
    for _exercise in default_programme().stage(1).exercises:
        lines += ["Start", "Done", feeling, "Yes"]
    return lines


def run_script(tmp_path: Path, lines: list[str], timeout: float = 60) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        env=coach_env(tmp_path),
        cwd=tmp_path,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_piped_script_goes_through_onboarding_and_a_whole_session(tmp_path: Path) -> None:
    out = run_script(tmp_path, onboarding() + session_script())
    assert "not a clinician" in out
    assert "You're all set" in out
    assert "Exercise 5 of 5" in out
    assert "Session done" in out
    summary = out[out.index("Session done") :]
    # Every set was ended early with Done: the holds not done count as shaky.
    assert "Next time: the same dose again" in summary
    assert out.rstrip().endswith("run me again to carry on.")


def test_numbers_pick_choices_and_bad_input_is_answered(tmp_path: Path) -> None:
    out = run_script(tmp_path, ["/start", "2", "2", "eleven", "-3", "4", "1", "1", "25:99"])
    assert "whole number from 0" in out
    assert "can't read “25:99” as a time" in out


def test_killed_mid_session_the_coach_resumes_at_the_same_step(tmp_path: Path) -> None:
    coach = TerminalProcess(tmp_path)
    try:
        for line in onboarding():
            coach.say(line)
        coach.expect("You're all set")
        for line in ["/session", "Let's go", "Start"]:
            coach.say(line)
        coach.expect("Rep 1 of 4")
    finally:
        coach.kill()

    again = TerminalProcess(tmp_path)
    try:
        again.expect("Rep 1 of 4")  # the running set is shown at start-up
        # Its timer is rebuilt from the database: the set goes on by itself.
        again.expect("Rep 2 of 4", timeout=60)
        again.say("/session")
        again.expect("carry on")
    finally:
        again.kill()


@pytest.mark.slow
def test_a_hold_is_timed_for_real(tmp_path: Path) -> None:
    coach = TerminalProcess(tmp_path)
    try:
        for line in [*onboarding(), "/session", "Let's go", "Start"]:
            coach.say(line)
        started = time.monotonic()
        coach.expect("Rep 1 of 4")
        first = default_programme().stage(1).exercises[0]
        coach.expect(f"Rest {first.rest_seconds} s", timeout=30)
        assert time.monotonic() - started >= first.seconds - 1
        coach.expect("Rep 2 of 4", timeout=30)
    finally:
        coach.kill()


def test_in_the_terminal_spreading_pain_and_an_urgent_sign_train_nothing_more_that_day(
    tmp_path: Path,
) -> None:
    attempts = ["/session", "/start", "Start a session", "Let's go", "Start", "/cleared"]
    script = ["/session", "Let's go", "It hurts", "2", "Spreads or tingles", "Yes", *attempts]
    out = run_script(tmp_path, onboarding() + script)
    assert "spreads down a leg" in out  # the urgent signs asked at once
    flagged = out[out.index("urgent care") :]
    assert "Find a mat" not in flagged
    assert "Go!" not in flagged
    assert "[1] I've been seen and cleared" not in flagged
    assert flagged.count("training") >= len(attempts)
