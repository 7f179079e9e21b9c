"""The coach on Telegram end to end: the real `python -m bot` process, over HTTP on loopback,
against the fake Bot API server, with a user pressing the buttons the bot actually sent.

The main test onboards and plays a whole stage-1 session to the summary: one Start per set, each
set one live message edited at its phase changes (the first two sets run by their own timers,
the others end with Done), at most 25 user actions, and never two edits of the chat within 3 s
as measured at the server. It then starts another session, is killed with SIGKILL in the middle
of a set, restarts, and sees the set go on by the timer rebuilt from the database, to the
summary. The bot's whole log is then searched for the token.
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
SET_SECONDS = 150  # the longest stage-1 set at the floor runs 100 s; room for a slow machine
PHASE_SECONDS = 30  # a hold of 10 s, with room for a slow machine
LIVE_BUTTONS = ["Shaky", "It hurts", "Pause", "Done"]


def wait_edited(user: TelegramUser, live: BotMessage, contains: str, seconds: float) -> None:
    """Wait until the set's live message shows `contains` (the set went on by itself)."""
    user.fake.wait_for(
        lambda: contains in user.fake.message(CHAT, live.message_id).body,
        timeout=seconds,
        description=f"the live message to show {contains!r}",
    )


def play_to_summary(
    user: TelegramUser, question: BotMessage, *, timed_sets: int = 0
) -> tuple[BotMessage, list[BotMessage]]:
    """Answer whatever the bot asks, by its buttons, until the session summary; return it and
    the live message of every set.

    The first `timed_sets` sets run to their end by the bot's own timers; the others end by
    Done once the live message has shown the first rest."""
    lives: list[BotMessage] = []
    while "Session done" not in question.body:
        labels = question.button_labels
        if "Let's go" in labels:
            question = user.wait_tap("Let's go")
        elif "Start" in labels:
            live = user.wait_tap("Start", " 1 of ")
            assert live.button_labels == LIVE_BUTTONS
            lives.append(live)
            if timed_sets:
                timed_sets -= 1
                question = user.wait_question("How did that set", seconds=SET_SECONDS)
            else:
                wait_edited(user, live, "Rest", PHASE_SECONDS)
                question = user.wait_tap("Done", "How did that set")
        elif "Steady" in labels:
            question = user.wait_tap("Steady")
        elif "Not sure" in labels:
            question = user.wait_tap("Yes")
        else:
            raise AssertionError(f"unexpected question: {question.body!r} {labels}")
    return question, lives


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


def user_actions(fake: FakeBotApi, since: int) -> int:
    """Messages and button presses the user sent since update number `since`."""
    return len(fake.updates[since:])


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
            began, sent_before = len(fake.updates), len(fake.messages(CHAT))
            intro = user.wait_tap("Start a session", "Find a mat")
            fake.fail_next("editMessageText", 429, retry_after=1)
            first = user.wait_tap("Let's go", "tap Start")
            summary, lives = play_to_summary(user, first, timed_sets=2)
            assert "Next time:" in summary.body
            fake.wait_for(
                lambda: "→ Let's go" in fake.message(CHAT, intro.message_id).body,
                description="the intro marked as answered",
            )

            # The whole first session: 5 sets, one Start each, within the budget.
            assert len(lives) == 5
            assert user_actions(fake, began) <= 25
            assert len(fake.messages(CHAT)) - sent_before <= 40
            # Each set is one live message, edited at its phase changes: the timed sets show
            # every phase (hold, rest, ... set done), never a countdown.
            for live in lives[:2]:
                shown = fake.message(CHAT, live.message_id)
                assert shown.body.splitlines()[-1].startswith("Set done")
                assert len(shown.edits) >= 3
                assert shown.button_labels == []
            live_messages = [m for m in fake.messages(CHAT) if m.message_id >= lives[0].message_id]
            assert sum(1 for m in live_messages if "Pause" in str(m.params)) == 5

            # The next session, killed in the middle of its first set.
            user.wait_tap("Start a session", "Find a mat")
            user.wait_tap("Let's go", "tap Start")
            live = user.wait_tap("Start", " 1 of ")
            wait_edited(user, live, "Rest", PHASE_SECONDS)
            fake.wait_for(lambda: not fake.pending_updates, description="updates confirmed")
        finally:
            bot.kill()

        calls = len(fake.calls)
        user.since = fake.mark(CHAT)
        bot = BotProcess(fake, tmp_path, log_file)
        try:
            wait_started(fake, after=calls)
            # The set's timer comes back from the database: the set goes on by itself, in a
            # live message of its own (the old one's id died with the process), to its end.
            resumed = user.wait_question("of 4", seconds=PHASE_SECONDS)
            assert resumed.button_labels == LIVE_BUTTONS
            feel = user.wait_question("How did that set", seconds=SET_SECONDS)
            assert feel.index > resumed.index
            summary, _ = play_to_summary(user, feel)
            assert "Next time:" in summary.body
            assert summary.button_labels == ["Start a session"]
            bot.proc.send_signal(signal.SIGTERM)  # a clean stop, this time
            assert bot.wait() == 0
        finally:
            if bot.proc.poll() is None:
                bot.kill()

        # Never two edits of the chat within 3 s, measured where Telegram would measure them.
        gaps = fake.edit_gaps(CHAT)
        assert gaps
        assert min(gaps) >= 3.0, sorted(gaps)[:5]
        presses = [u for u in fake.updates if "callback_query" in u]
        assert len(fake.callback_answers) == len(presses)
        assert all(answer.text is None for answer in fake.callback_answers)  # none was stale
        assert fake.unknown_methods == []
        assert fake.server_errors == []

    log = log_file.read_text(encoding="utf-8")
    assert "Application started" in log  # the log did capture the bot's lines
    assert "Rebuilt 1 set timer" in log
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
            user.wait_tap("Start", " 1 of ")  # the set runs in its live message
            user.wait_tap("Done", "How did that set")  # ends it early
            user.wait_tap("It hurts", "How strong")
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
