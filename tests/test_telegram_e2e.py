"""The coach on Telegram end to end: the real `python -m bot` process, over HTTP on loopback,
against the fake Bot API server, with a user pressing the buttons the bot actually sent.

The main test onboards, plays a whole stage-1 session to the summary (one hold ends by its real
timer), starts another, is killed with SIGKILL in the middle of a hold, restarts, sees the hold
end by the timer rebuilt from the database, and carries on with /session to the summary. The
bot's whole log is then searched for the token.
"""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path

import pytest

from tests.clocks import wall_clock_now
from tests.fake_bot_api import BotMessage, FakeBotApi
from tests.telegram_helpers import CHAT, TOKEN, BotProcess, TelegramUser, onboard_answers

STARTUP_SECONDS = 30
HOLD_SECONDS = 25  # a 10 s hold, with room for a slow machine


def play_to_summary(
    user: TelegramUser, question: BotMessage, *, timed_holds: int = 0
) -> BotMessage:
    """Answer whatever the bot asks, by its buttons, until the session summary.

    The first `timed_holds` holds end by the bot's own timer; the rest by pressing Done."""
    while "Session done" not in question.body:
        labels = question.button_labels
        if "Let's go" in labels:
            question = user.wait_tap("Let's go")
        elif "Start" in labels:
            question = user.wait_tap("Start", "Go!")
        elif "Done" in labels and timed_holds:
            timed_holds -= 1
            question = user.wait_question("Time's up", seconds=HOLD_SECONDS)
            held = user.fake.messages(CHAT)[question.index - 1]
            assert "Go!" in held.body
            assert "Done" not in held.button_labels  # time's up took the button away
        elif "Done" in labels:
            question = user.wait_tap("Done")
        elif "Steady" in labels:
            question = user.wait_tap("Steady")
        elif "Not sure" in labels:
            question = user.wait_tap("Yes")
        else:
            raise AssertionError(f"unexpected question: {question.body!r} {labels}")
    return question


def onboard(user: TelegramUser) -> None:
    """/start and every onboarding answer, pressing the buttons the bot sent."""
    user.command("/start")
    user.wait_question("safety check")
    for action, value in onboard_answers():
        if action == "press":
            user.wait_tap(value)
        else:
            user.send(value)
            user.wait_question()


def wait_started(fake: FakeBotApi, after: int) -> None:
    fake.wait_for_call("getUpdates", timeout=STARTUP_SECONDS, after=after)


@pytest.mark.slow
def test_a_user_trains_on_telegram_and_a_killed_bot_carries_on(tmp_path: Path) -> None:
    log_file = tmp_path / "bot.log"
    with FakeBotApi(token=TOKEN) as fake:
        user = TelegramUser(fake)
        bot = BotProcess(fake, tmp_path, log_file)
        try:
            wait_started(fake, after=0)
            onboard(user)
            assert "You're all set" in fake.messages(CHAT)[-1].body

            # A dropped connection and a flood-control answer on the way: both recovered.
            fake.drop_next("sendMessage")
            intro = user.wait_tap("Start a session", "Find a mat")
            fake.fail_next("editMessageText", 429, retry_after=1)
            first = user.wait_tap("Let's go", "tap Start")
            assert "→ Let's go" in fake.message(CHAT, intro.message_id).body
            summary = play_to_summary(user, first, timed_holds=1)
            assert "Next time:" in summary.body

            # The next session, killed in the middle of its second hold.
            user.wait_tap("Start a session", "Find a mat")
            user.wait_tap("Let's go", "tap Start")
            user.wait_tap("Start", "Go!")
            user.wait_tap("Done", "Rest for about")
            holding = user.wait_tap("Start", "Go!")
            fake.wait_for(lambda: not fake.pending_updates, description="updates confirmed")
        finally:
            bot.kill()

        calls = len(fake.calls)
        user.since = fake.mark(CHAT)
        bot = BotProcess(fake, tmp_path, log_file)
        try:
            wait_started(fake, after=calls)
            # The hold's timer comes back from the database and ends it without a press.
            time_up = user.wait_question("Time's up", seconds=HOLD_SECONDS)
            assert time_up.index > holding.index
            user.command("/session")
            resumed = user.wait_question("carry on")
            assert "tap Start" in resumed.body
            summary = play_to_summary(user, resumed)
            assert "Next time:" in summary.body
            assert summary.button_labels == ["Start a session"]
            bot.proc.send_signal(signal.SIGTERM)  # a clean stop, this time
            assert bot.wait() == 0
        finally:
            if bot.proc.poll() is None:
                bot.kill()

        presses = [u for u in fake.updates if "callback_query" in u]
        assert len(fake.callback_answers) == len(presses)
        assert all(answer.text is None for answer in fake.callback_answers)  # none was stale
        assert fake.unknown_methods == []
        assert fake.server_errors == []

    log = log_file.read_text(encoding="utf-8")
    assert "Application started" in log  # the log did capture the bot's lines
    assert "Rebuilt 1 hold timer" in log
    assert "retrying" in log  # the dropped send
    assert "Rate limit hit" in log  # the 429, waited out by PTB's rate limiter
    assert TOKEN not in log
    assert TOKEN.split(":", 1)[1] not in log


def test_a_rejected_token_stops_the_bot_without_printing_it(tmp_path: Path) -> None:
    log_file = tmp_path / "bot.log"
    wrong = "7399999999:AAAnotherSecretNobodyKnows_0123456789"
    with FakeBotApi(token=TOKEN) as fake:
        bot = BotProcess(fake, tmp_path, log_file, TELEGRAM_BOT_TOKEN=wrong)
        code = bot.wait(timeout=STARTUP_SECONDS)
        assert [call.method for call in fake.calls] == ["getMe"]
    log = log_file.read_text(encoding="utf-8")
    assert code == 2
    assert "rejected the bot token" in log
    assert wrong not in log
    assert wrong.split(":", 1)[1] not in log


def test_webhook_mode_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    log_file = tmp_path / "bot.log"
    with FakeBotApi(token=TOKEN) as fake:
        bot = BotProcess(fake, tmp_path, log_file, WEBHOOK_URL="https://coach.example/hook")
        code = bot.wait(timeout=STARTUP_SECONDS)
        assert fake.calls == []
    assert code != 0
    assert "WEBHOOK_SECRET" in log_file.read_text(encoding="utf-8")


@pytest.mark.slow
def test_a_nudge_set_for_the_next_minute_arrives_within_that_minute(tmp_path: Path) -> None:
    with FakeBotApi(token=TOKEN) as fake:
        user = TelegramUser(fake)
        bot = BotProcess(fake, tmp_path, tmp_path / "bot.log", NUDGE_TICK_SECONDS="2")
        try:
            wait_started(fake, after=0)
            onboard(user)
            user.command("/settings")
            user.wait_question("Your settings")
            user.wait_tap("Quiet hours", "never nudge")
            user.wait_tap("None", "Your settings")
            user.wait_tap("Nudge time", "What time")
            now = wall_clock_now()
            # The next whole minute, with enough of it left to finish setting it.
            minute = now.replace(second=0, microsecond=0) + timedelta(
                minutes=1 if now.second < 40 else 2
            )
            user.send(minute.strftime("%H:%M"))
            user.wait_question("Saved")
            user.wait_tap("Done")
            nudge = user.wait_question("Time for your spine session", seconds=150)
            arrived = wall_clock_now()
            assert minute <= arrived < minute + timedelta(minutes=1, seconds=5)
            assert nudge.button_labels == ["Start now", "In 30 min", "In 2 hours", "Skip today"]
            user.wait_tap("Start now", "Find a mat")
        finally:
            bot.kill()


@pytest.mark.slow
def test_an_urgent_flag_means_nothing_trains_that_day_even_by_session_or_start(
    tmp_path: Path,
) -> None:
    """Spreading pain in a session asks the urgent signs at once; a yes gives the advice with no
    button to clear it, and nothing the user sends trains again that day."""
    training = {"Let's go", "Start", "Start a session", "Start now", "I've been seen and cleared"}
    with FakeBotApi(token=TOKEN) as fake:
        user = TelegramUser(fake)
        bot = BotProcess(fake, tmp_path, tmp_path / "bot.log")
        try:
            wait_started(fake, after=0)
            onboard(user)
            user.wait_tap("Start a session", "Find a mat")
            user.wait_tap("Let's go", "tap Start")
            user.wait_tap("Start", "Go!")
            user.wait_tap("Done")  # the next hold, or how the set felt
            while "How did that set" not in fake.messages(CHAT)[-1].body:
                user.wait_tap("Start", "Go!")
                user.wait_tap("Done")
            user.wait_tap("Pain", "How strong")
            user.wait_tap("3", "What kind")
            screen = user.wait_tap("Spreads or tingles", "spreads down a leg")
            assert screen.button_labels == ["Yes", "No"]  # urgent signs first, at once
            user.press("Yes")
            advice = user.wait_message("urgent care")
            assert advice.buttons == []  # no clearing button beside the advice
            flagged = advice.index

            for attempt in ("/session", "/start", "/cleared"):
                user.command(attempt)
                user.wait_message("training")
            for typed in ("Start a session", "Let's go", "I've been seen and cleared"):
                user.send(typed)
                user.wait_message("training")
            fake.wait_for(lambda: not fake.pending_updates, description="updates confirmed")
        finally:
            bot.kill()

    after = fake.messages(CHAT)[flagged:]
    assert len(after) >= 7  # every attempt was answered
    for message in after:
        assert not training & set(message.button_labels), message.body
        assert "Find a mat" not in message.body
        assert "Go!" not in message.body
        assert "good to have you back" not in message.body.casefold()
