"""The Telegram adapter in-process: the real PTB application, over HTTP, against the fake server.

Each test starts the application as `run_polling` would (`tests.telegram_helpers.running_coach`)
on an SQLite file, plays a user through `FakeBotApi`, and reads what the bot actually sent.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import threading
import time
from datetime import time as clock_time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from telegram import Update

from bot.delivery import DeliveryResult
from bot.health import MAX_AGE_SECONDS, is_alive
from bot.service import CoachService
from bot.settings import Settings
from bot.store.db import find_user, make_engine, save_user, unit_of_work
from bot.telegram.app import (
    ALLOWED_UPDATES,
    TelegramSettingsError,
    build_application,
    file_url_for,
    guard_logs,
    webhook_options,
)
from bot.telegram.render import (
    PressedButton,
    answered_text,
    callback_data,
    fits,
    goes_as_caption,
    keyboard,
    parse_callback_data,
    zone_near,
)
from bot.telegram.send import Sender, TelegramDelivery
from conversations.events import Event, Text
from conversations.flow import Outcome
from conversations.replies import Choice, Reply
from conversations.state import Step
from data.programme import COMMAND_KEYS, default_programme
from tests.clocks import SteadyClock
from tests.fake_bot_api import NOT_MODIFIED, FakeBotApi
from tests.telegram_helpers import (
    CHAT,
    RunningCoach,
    TelegramUser,
    coach_settings,
    running_coach,
    until,
)

STALE = default_programme().messages.say("stale_button")


@pytest.fixture
async def fake() -> Any:
    async with FakeBotApi() as api:
        yield api
    assert api.server_errors == []
    assert api.unknown_methods == []


def step_of(coach: RunningCoach, chat_id: int = CHAT) -> tuple[Step, int]:
    state = coach.service.state_of("telegram", str(chat_id))
    assert state is not None
    return state.flow.step, state.flow.step_no


async def onboard(user: TelegramUser) -> None:
    """Through onboarding by the buttons, to the idle question."""
    user.command("/start")
    await user.next_question("safety check")
    for label in ("No", "No", "2", "A little", "Every day", "07:00"):
        await user.tap(label)
    await user.tap("UTC", expect="You're all set")


async def to_first_hold(user: TelegramUser) -> None:
    await onboard(user)
    await user.tap("Start a session", expect="Find a mat")
    await user.tap("Let's go", expect="tap Start")


# --- callback data and rendering ------------------------------------------------------------


def test_callback_data_is_short_versioned_and_reads_back() -> None:
    data = callback_data(1795613347, "America/New_York")
    assert data == "v1:1795613347:America/New_York"
    assert len(data.encode()) <= 64
    assert parse_callback_data(data) == PressedButton(1795613347, "America/New_York")
    assert parse_callback_data("v1::yes") == PressedButton(None, "yes")
    assert parse_callback_data(callback_data(7, "07:00")) == PressedButton(7, "07:00")


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "yes",
        "v2:5:yes",
        "v1:5",
        "v1:five:yes",
        "v1:-5:yes",
        "v1:05:yes",
        "v1:5:",
        "v1:5:yes no",
        "v1:5:<script>",
        "v1:5:" + "x" * 60,
        "v1:5:yes\n",
    ],
)
def test_malformed_callback_data_is_refused(data: object) -> None:
    assert parse_callback_data(data) is None


def test_every_choice_the_programme_offers_fits_in_callback_data() -> None:
    messages = default_programme().messages
    for key in messages.labels:
        assert parse_callback_data(callback_data(2**40, key)) == PressedButton(2**40, key)


def test_keyboard_rows_follow_columns() -> None:
    choices = tuple(Choice(f"p{n}", str(n)) for n in range(11))
    markup = keyboard(Reply("How much?", choices, step_no=3, columns=6))
    assert markup is not None
    assert [len(row) for row in markup.inline_keyboard] == [6, 5]
    assert markup.inline_keyboard[1][0].callback_data == "v1:3:p6"
    assert keyboard(Reply("No choices")) is None
    assert answered_text("Ready?", "Yes") == "Ready?\n\n→ Yes"
    assert answered_text("x" * 4095, "Yes") is None


def test_a_reply_goes_as_its_pictures_caption_only_when_telegram_takes_it() -> None:
    assert goes_as_caption(Reply("x" * 1024, picture="s1-cat-cow"))
    assert not goes_as_caption(Reply("x" * 1025, picture="s1-cat-cow"))
    # Telegram counts UTF-16 code units: an emoji beyond the basic plane counts twice.
    assert fits("🙂" * 512, 1024)
    assert not fits("🙂" * 513, 1024)
    # A running set's live message is edited as text: never a caption.
    assert not goes_as_caption(Reply("Hold 1 of 3", live=True, picture="s1-cat-cow"))
    # A pressed caption gets the answer only while the whole still fits a caption.
    assert answered_text("x" * 1015, "Start", 1024) == "x" * 1015 + "\n\n→ Start"
    assert answered_text("x" * 1016, "Start", 1024) is None


def test_a_shared_location_reads_as_the_nearest_zone() -> None:
    assert zone_near(52.52, 13.40) == "Europe/Berlin"
    assert zone_near(40.71, -74.0) == "America/New_York"
    assert zone_near(-33.87, 151.21) == "Australia/Sydney"
    assert zone_near(91, 0) is None


def test_file_url_follows_the_api_url() -> None:
    assert file_url_for("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_url_for("http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081/file/bot"


# --- the conversation over buttons ------------------------------------------------------------


async def test_pressing_answers_at_once_shows_the_choice_and_asks_the_next(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    async with running_coach(fake, tmp_path) as coach:
        user = TelegramUser(fake)
        user.command("/start")
        question = await user.next_question("safety check")
        assert question.button_labels == ["Yes", "No"]
        assert [len(row) for row in question.buttons] == [2]

        pressed = user.press("No")
        following = await user.next_question("And do any of these apply")
        query_id = pressed["callback_query"]["id"]
        answer = fake.callback_answer(query_id)
        assert answer is not None
        assert answer.text is None
        # Marking the pressed question is an edit: it comes after the reply, in its own time.
        await until(lambda: fake.message(CHAT, question.message_id).edits, what="the edit")
        shown = fake.message(CHAT, question.message_id)
        assert shown.body.endswith("\n\n→ No")
        assert shown.buttons == []  # cannot be pressed twice
        assert following.button_labels == ["Yes", "No"]
        assert step_of(coach)[0] is Step.SCREEN_CLINICIAN
    commands = fake.my_commands()
    assert commands is not None
    assert [c["command"] for c in commands] == list(COMMAND_KEYS)


async def test_typed_labels_answer_wherever_buttons_are_shown(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    async with running_coach(fake, tmp_path) as coach:
        user = TelegramUser(fake)
        user.command("/start")
        await user.next_question("safety check")
        for typed, expect in [
            ("no", "And do any of these apply"),
            ("NO", "hurt right now"),
            ("2", "exercises like these"),
            ("a LITTLE", "which days"),
            ("Every Day", "What time"),
            ("7:30", "time zone"),
        ]:
            user.send(typed)
            await user.next_question(expect)
        user.send("berlin")
        done = await user.next_message("You're all set")
        assert "Europe/Berlin" in done.body
        assert step_of(coach)[0] is Step.IDLE
        assert fake.callback_answers == []


async def test_a_stale_button_gets_a_short_answer_and_changes_nothing(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    async with running_coach(fake, tmp_path) as coach:
        user = TelegramUser(fake)
        user.command("/start")
        old = await user.next_question("safety check")
        user.send("No")  # typed: the old keyboard stays on screen
        await user.next_question("And do any of these apply")
        before = step_of(coach)
        sent_before = len(fake.messages(CHAT))

        stale = user.press_data(old.message_id, old.buttons[0][0].callback_data or "")
        answer = await until(lambda: fake.callback_answer(stale["callback_query"]["id"]))
        assert answer.text == STALE
        assert step_of(coach) == before
        assert len(fake.messages(CHAT)) == sent_before
        assert fake.message(CHAT, old.message_id).edits == []


@pytest.mark.parametrize(
    "forged",
    [
        "v2:{step}:no",
        "v1:{step}:maybe",
        "v1:{step}:no;DROP TABLE user",
        "v1:{older}:no",
        "v1:{newer}:no",
        "no",
        "v1:abc:no",
        "v1:{step}:" + "n" * 70,
    ],
)
async def test_forged_callback_data_gets_a_short_answer_and_changes_nothing(
    fake: FakeBotApi, tmp_path: Path, forged: str
) -> None:
    async with running_coach(fake, tmp_path) as coach:
        user = TelegramUser(fake)
        user.command("/start")
        question = await user.next_question("safety check")
        step, step_no = step_of(coach)
        data = forged.format(step=step_no, older=step_no - 1, newer=step_no + 1)

        update = user.press_data(question.message_id, data)
        answer = await until(lambda: fake.callback_answer(update["callback_query"]["id"]))
        assert answer.text == STALE
        assert step_of(coach) == (step, step_no)
        assert len(fake.messages(CHAT)) == 1
        assert fake.message(CHAT, question.message_id).edits == []


async def test_a_double_tap_advances_once(fake: FakeBotApi, tmp_path: Path) -> None:
    async with running_coach(fake, tmp_path) as coach:
        user = TelegramUser(fake)
        user.command("/start")
        question = await user.next_question("safety check")
        _, step_no = step_of(coach)
        data = question.buttons[0][1].callback_data or ""
        first = user.press_data(question.message_id, data)
        second = fake.press(CHAT, question.message_id, data)  # before the bot saw the first

        ids = [u["callback_query"]["id"] for u in (first, second)]
        await until(lambda: all(fake.callback_answer(i) for i in ids), what="both answers")
        answers = [fake.callback_answer(i) for i in ids]
        await user.next_question("And do any of these apply")
        assert [a.text for a in answers if a is not None] == [None, STALE]
        assert step_of(coach) == (Step.SCREEN_CLINICIAN, step_no + 1)
        assert len(fake.messages(CHAT)) == 2  # the first question and the next one
        await until(lambda: fake.message(CHAT, question.message_id).edits, what="the edit")
        assert len(fake.message(CHAT, question.message_id).edits) == 1


@pytest.mark.parametrize("kind", ["sticker", "photo"])
async def test_a_sticker_or_photo_where_text_was_expected_is_answered(
    fake: FakeBotApi, tmp_path: Path, kind: str
) -> None:
    async with running_coach(fake, tmp_path) as coach:
        user = TelegramUser(fake)
        await onboard(user)
        await user.tap("Start a session", expect="Find a mat")
        before = step_of(coach)
        user.since = fake.mark(CHAT)
        if kind == "sticker":
            fake.send_sticker(CHAT)
        else:
            fake.send_photo(CHAT, caption="my mat")
        again = await user.next_question("I can only read text and buttons")
        assert again.button_labels == ["Let's go", "Not now"]
        assert step_of(coach) == before


async def test_a_message_with_nothing_readable_still_gets_an_answer(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    async with running_coach(fake, tmp_path):
        user = TelegramUser(fake)
        user.command("/start")
        await user.next_question("safety check")
        person = {"id": CHAT, "is_bot": False, "first_name": "Ann"}
        chat = {"id": CHAT, "type": "private", "first_name": "Ann"}
        user.push({"message_id": 99, "from": person, "chat": chat, "date": int(time.time())})
        reply = await user.next_question("I can only read text and buttons")
        assert reply.button_labels == ["Yes", "No"]


async def test_a_shared_location_answers_the_time_zone_question(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    async with running_coach(fake, tmp_path) as coach:
        user = TelegramUser(fake)
        user.command("/start")
        await user.next_question("safety check")
        for label in ("No", "No", "2", "A little", "Every day"):
            await user.tap(label)
        await user.tap("08:00", expect="time zone")
        user.since = fake.mark(CHAT)
        fake.send_location(CHAT, 52.39, 13.06)  # Potsdam
        done = await user.next_message("You're all set")
        assert "Europe/Berlin" in done.body
        state = coach.service.state_of("telegram", str(CHAT))
        assert state is not None
        assert state.profile.zone == "Europe/Berlin"


async def test_unknown_commands_and_arguments_reach_the_coach(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    async with running_coach(fake, tmp_path) as coach:
        user = TelegramUser(fake)
        await onboard(user)
        user.command("/teleport")
        await user.next_message("I don't know that command")
        user.command("/pause 3")
        await user.next_message("no nudges for 3 days")
        state = coach.service.state_of("telegram", str(CHAT))
        assert state is not None
        assert state.activity.paused_until is not None


# --- a running set -----------------------------------------------------------------------------


async def test_start_runs_the_set_in_one_live_message_and_done_ends_it(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    clock = SteadyClock()
    async with running_coach(fake, tmp_path, clock=clock) as coach:
        user = TelegramUser(fake)
        await to_first_hold(user)
        live = await user.tap("Start", expect="Rep 1 of 4")
        assert live.button_labels == ["Shaky", "It hurts", "Pause", "Done"]
        assert len(coach.hold_jobs()) == 1  # one timer for the chat
        job = coach.hold_jobs()[0]
        assert job.data.step_no == step_of(coach)[1]
        # The rep ends by itself: the same message now shows the rest (no new message).
        sent = len(fake.messages(CHAT))
        await until(lambda: "Rest" in fake.message(CHAT, live.message_id).body, 20, "the rest")
        assert len(fake.messages(CHAT)) == sent
        answers = len(fake.callback_answers)
        user.press("Shaky")
        await until(lambda: len(fake.callback_answers) > answers, what="the pop-up")
        assert fake.callback_answers[-1].text == "Noted: hold 1 was shaky."
        await user.tap("Done", expect="How did that set")
        await until(lambda: not coach.hold_jobs(), what="the timer to go")
        await until(
            lambda: fake.message(CHAT, live.message_id).body.endswith("1 of 4 complete."),
            what="the live message closed",
        )
        assert fake.message(CHAT, live.message_id).button_labels == []
        assert step_of(coach)[0] is Step.ASK_FEEL
        assert all(gap >= 3 for gap in fake.edit_gaps(CHAT))


async def test_a_set_running_at_a_restart_goes_on_from_the_database(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    clock = SteadyClock()
    async with running_coach(fake, tmp_path, clock=clock) as coach:
        user = TelegramUser(fake)
        await to_first_hold(user)
        await user.tap("Start", expect="Rep 1 of 4")
        assert step_of(coach)[0] is Step.HOLDING

    # Restarted 12 s later: the first rep is over, the rest runs; the set goes on from there.
    clock.shift(timedelta(seconds=12))
    user.since = fake.mark(CHAT)
    async with running_coach(fake, tmp_path, clock=clock) as coach:
        live = await user.next_question("Rest 5 s")
        assert step_of(coach)[0] is Step.HOLDING
        await until(lambda: "Rep 2 of 4" in fake.message(CHAT, live.message_id).body, 20)
        assert len(coach.hold_jobs()) == 1


async def test_a_set_long_past_at_a_restart_is_closed_as_cut_short(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    clock = SteadyClock()
    async with running_coach(fake, tmp_path, clock=clock) as coach:
        user = TelegramUser(fake)
        await to_first_hold(user)
        await user.tap("Start", expect="Rep 1 of 4")

    clock.shift(timedelta(hours=1))
    user.since = fake.mark(CHAT)
    async with running_coach(fake, tmp_path, clock=clock) as coach:
        await user.next_question("count as cut short")
        assert step_of(coach)[0] is Step.ASK_FEEL
        assert coach.hold_jobs() == ()


async def test_a_deleted_live_message_is_sent_again(fake: FakeBotApi, tmp_path: Path) -> None:
    async with running_coach(fake, tmp_path):
        user = TelegramUser(fake)
        await to_first_hold(user)
        live = await user.tap("Start", expect="Rep 1 of 4")
        fake.user_deletes(CHAT, live.message_id)
        again = await user.next_question("Rest 5 s", seconds=20)
        assert again.message_id != live.message_id
        assert again.button_labels == ["Shaky", "It hurts", "Pause", "Done"]


# --- Telegram's errors --------------------------------------------------------------------------


async def test_flood_control_429_waits_the_time_named_then_sends(
    fake: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # else RetryAfter warns (an error in this suite)
    async with running_coach(fake, tmp_path):
        user = TelegramUser(fake)
        fake.fail_next("sendMessage", 429, retry_after=1)
        user.command("/start")
        welcome = await user.next_question("safety check")
        assert welcome.button_labels == ["Yes", "No"]
        assert len(fake.calls_to("sendMessage")) == 2
        assert len(fake.messages(CHAT)) == 1


async def test_403_on_send_marks_the_user_inactive(fake: FakeBotApi, tmp_path: Path) -> None:
    async with running_coach(fake, tmp_path) as coach:
        user = TelegramUser(fake)
        await to_first_hold(user)
        await user.tap("Start", expect="Rep 1 of 4")
        assert coach.user_row().active
        assert coach.user_row().next_nudge_at is not None
        assert coach.hold_jobs()

        fake.block(CHAT)
        user.command("/session")  # the coach answers; Telegram says the user blocked the bot
        await until(lambda: not coach.user_row().active, what="the user marked inactive")
        assert coach.user_row().next_nudge_at is None  # no more nudges
        assert coach.hold_jobs() == ()
        assert fake.calls_to("sendMessage")[-1]["chat_id"] == CHAT

        fake.unblock(CHAT)  # they come back and write: active again
        user.command("/session")
        await user.next_question("carry on")
        assert coach.user_row().active


async def test_403_on_editing_a_pressed_question_marks_the_user_inactive(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    async with running_coach(fake, tmp_path) as coach:
        user = TelegramUser(fake)
        user.command("/start")
        await user.next_question("safety check")
        fake.fail_next("editMessageText", 403, "Forbidden: bot was blocked by the user")
        user.press("No")
        await until(lambda: not coach.user_row().active, what="the user marked inactive")
        # The next question went out before the (unhurried) edit of the pressed one; after it,
        # nothing more.
        assert len(fake.messages(CHAT)) == 2


async def test_a_network_error_on_send_is_retried(fake: FakeBotApi, tmp_path: Path) -> None:
    async with running_coach(fake, tmp_path):
        user = TelegramUser(fake)
        fake.drop_next("sendMessage")
        user.command("/start")
        welcome = await user.next_question("safety check")
        calls = fake.calls_to("sendMessage")
        assert len(calls) == 2
        assert calls[0]["text"] == calls[1]["text"] == welcome.body
        assert len(fake.messages(CHAT)) == 1


async def test_message_not_modified_is_ignored(
    fake: FakeBotApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_coach(fake, tmp_path) as coach:
        user = TelegramUser(fake)
        user.command("/start")
        await user.next_question("safety check")
        fake.fail_next("editMessageText", 400, NOT_MODIFIED)
        await user.tap("No", expect="And do any of these apply")
        assert step_of(coach)[0] is Step.SCREEN_CLINICIAN
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_rejected_command_menu_is_logged_and_the_conversation_works(
    fake: FakeBotApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next("setMyCommands", 400, "Bad Request: BOT_COMMAND_INVALID")
    async with running_coach(fake, tmp_path):
        user = TelegramUser(fake)
        user.command("/start")
        await user.next_question("safety check")
        await user.tap("No", expect="And do any of these apply")
    assert fake.my_commands() is None
    assert any("setMyCommands failed" in r.getMessage() for r in caplog.records)


async def test_progress_sends_details_and_the_chart_even_when_an_optional_call_is_refused(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    fake.fail_next("sendChatAction", 404, "Not Found: method not found")
    async with running_coach(fake, tmp_path):
        user = TelegramUser(fake)
        await onboard(user)
        user.command("/progress")
        text = await user.next_message("To reach stage 2")
        details = await user.next_message("Sessions this week")
        chart = await until(
            lambda: next((m for m in fake.messages(CHAT) if m.kind == "photo"), None),
            what="the progress chart",
        )
        assert details.index > text.index
        assert chart.index > details.index
        assert chart.file_size > 1000
        assert fake.chat_actions(CHAT) == []  # refused, logged, and nothing else changed


async def test_when_the_chart_fails_the_facts_still_come_as_text(
    fake: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_chart(*args: object) -> bytes:
        raise RuntimeError("no chart today")

    monkeypatch.setattr("bot.telegram.chat.progress_photo", broken_chart)
    async with running_coach(fake, tmp_path):
        user = TelegramUser(fake)
        await onboard(user)
        user.command("/progress")
        await user.next_message("To reach stage 2")
        await user.next_message("Sessions this week")
        user.command("/help")  # answered after anything /progress sent: one chat, in order
        await user.next_message("What you can ask me")
    assert fake.calls_to("sendPhoto") == []


async def test_export_sends_the_stored_data_as_files(fake: FakeBotApi, tmp_path: Path) -> None:
    async with running_coach(fake, tmp_path):
        user = TelegramUser(fake)
        await onboard(user)
        user.command("/export")
        said = await user.next_message()

        def documents() -> list[Any]:
            return [m for m in fake.messages(CHAT) if m.kind == "document"]

        await until(lambda: len(documents()) >= 2, what="both export files")
        files = documents()
        names = [f.file_name for f in files]
        assert names == ["spine-coach-export.json", "spine-coach-sessions.csv"]
        assert all(f.index > said.index for f in files)
        assert all(f.file_size > 0 for f in files)


# --- ordering and concurrency -------------------------------------------------------------------


class RecordingService(CoachService):
    """Notes when each event starts and ends, to see overlaps; can hold back one chat."""

    def __init__(self, engine: Engine, *, held_chat: str | None = None) -> None:
        super().__init__(engine, default_programme())
        # This service blocks (it waits for another chat, it sleeps): run it in threads, as
        # the adapter does for PostgreSQL, so the other chats' updates can go past it.
        self.inline = False
        self.held_chat = held_chat
        self.released = threading.Event()
        self.waited: list[bool] = []
        self.running: dict[str, int] = {}
        self.overlaps: list[str] = []
        self.texts: list[str] = []
        self._lock = threading.Lock()

    def handle(
        self, platform: str, chat_id: str, event: Event, *, update_id: int | None = None
    ) -> Outcome:
        with self._lock:
            self.running[chat_id] = self.running.get(chat_id, 0) + 1
            if self.running[chat_id] > 1:
                self.overlaps.append(chat_id)
        try:
            if chat_id == self.held_chat and not self.waited:
                self.waited.append(self.released.wait(timeout=5))
            if isinstance(event, Text):
                self.texts.append(event.text)
                time.sleep(0.05)  # a slow transaction: a chance for a second one to overlap
            return super().handle(platform, chat_id, event, update_id=update_id)
        finally:
            with self._lock:
                self.running[chat_id] -= 1
            if chat_id != self.held_chat:
                self.released.set()


async def test_one_users_updates_run_in_order_while_users_run_concurrently(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    services: list[RecordingService] = []

    def recording(engine: Engine) -> CoachService:
        services.append(RecordingService(engine, held_chat=str(CHAT)))
        return services[0]

    async with running_coach(fake, tmp_path, service_for=recording) as coach:
        service = services[0]
        user, neighbour = TelegramUser(fake), TelegramUser(fake, 5151)
        user.command("/start")  # held back until the neighbour has been answered
        neighbour.command("/start")
        await neighbour.next_question("safety check")
        await user.next_question("safety check")
        assert service.waited == [True]

        answers = ["No", "No", "2", "A little", "Every day"]
        for text in answers:  # typed fast, in one go
            user.send(text)
        await user.next_question("What time")
        assert step_of(coach)[0] is Step.ASK_TIME
        assert service.texts == answers
        assert service.overlaps == []


# --- errors are logged without user data ------------------------------------------------------


class ExplodingService(CoachService):
    def handle(
        self, platform: str, chat_id: str, event: Event, *, update_id: int | None = None
    ) -> Outcome:
        raise ValueError(f"cannot read {event!r}")


async def test_a_failing_update_is_logged_without_what_the_user_wrote(
    fake: FakeBotApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def exploding(engine: Engine) -> CoachService:
        return ExplodingService(engine, default_programme())

    async with running_coach(fake, tmp_path, service_for=exploding):
        fake.send_text(CHAT, "my back hurts a lot today")
        record = await until(
            lambda: next((r for r in caplog.records if r.levelno == logging.ERROR), None),
            what="an error line",
        )
    assert "ValueError" in record.getMessage()
    assert "back hurts" not in caplog.text


def test_guarded_logs_never_show_the_token_even_in_tracebacks() -> None:
    token = "7312345678:AAFakeSecretPart_ForTests-0123456789abc"
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:]
    levels = {name: logging.getLogger(name).level for name in ("telegram", "httpx")}
    root.handlers[:] = [logging.StreamHandler(stream)]
    try:
        guard_logs(token)
        try:
            raise RuntimeError(f"GET https://api.telegram.org/bot{token}/getMe failed")
        except RuntimeError:
            logging.getLogger("telegram.ext.Updater").exception("polling failed for %s", token)
        assert logging.getLogger("telegram").getEffectiveLevel() >= logging.INFO
    finally:
        root.handlers[:] = saved
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    output = stream.getvalue()
    assert "polling failed" in output
    assert "RuntimeError" in output
    assert token not in output
    assert token.split(":", 1)[1] not in output


# --- webhook mode -------------------------------------------------------------------------------


def test_webhook_mode_needs_a_secret(tmp_path: Path) -> None:
    polling = Settings(_env_file=None, telegram_bot_token=SecretStr("1:x"))  # type: ignore[call-arg]
    assert webhook_options(polling) is None
    unsafe = polling.model_copy(update={"webhook_url": "https://coach.example/hook"})
    with pytest.raises(TelegramSettingsError, match="WEBHOOK_SECRET"):
        webhook_options(unsafe)
    bad_secret = unsafe.model_copy(update={"webhook_secret": SecretStr("no spaces allowed")})
    with pytest.raises(TelegramSettingsError, match="WEBHOOK_SECRET"):
        webhook_options(bad_secret)
    secured = unsafe.model_copy(update={"webhook_secret": SecretStr("s3cret_token-1")})
    options = webhook_options(secured)
    assert options is not None
    assert (options.url_path, options.secret_token) == ("hook", "s3cret_token-1")
    assert (options.listen, options.port) == ("0.0.0.0", 8443)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_webhook_mode_checks_the_secret_on_every_request(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    port = _free_port()
    settings = coach_settings(
        fake,
        tmp_path,
        webhook_url=f"https://coach.example/hook-{port}",
        webhook_secret=SecretStr("s3cret_token-1"),
        webhook_listen="127.0.0.1",
        webhook_port=port,
    )
    options = webhook_options(settings)
    assert options is not None
    service = CoachService(make_engine(settings.database_url), default_programme(), SteadyClock())
    app = build_application(settings, service)
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "from": {"id": CHAT, "is_bot": False, "first_name": "Ann"},
            "chat": {"id": CHAT, "type": "private", "first_name": "Ann"},
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }
    url = f"http://127.0.0.1:{port}/{options.url_path}"
    async with app:
        assert app.updater is not None
        await app.updater.start_webhook(
            listen=options.listen,
            port=options.port,
            url_path=options.url_path,
            webhook_url=options.webhook_url,
            secret_token=options.secret_token,
            allowed_updates=ALLOWED_UPDATES,
        )
        await app.start()
        try:
            async with httpx.AsyncClient() as client:
                forged = await client.post(
                    url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
                )
                missing = await client.post(url, json=update)
                real = await client.post(
                    url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret_token-1"}
                )
            assert (forged.status_code, missing.status_code, real.status_code) == (403, 403, 200)
            welcome = await fake.await_message(CHAT, "safety check", after=0)
            assert welcome.button_labels == ["Yes", "No"]
            assert len(fake.messages(CHAT)) == 1  # only the real request was handled
        finally:
            await app.updater.stop()
            await app.stop()
    service.engine.dispose()
    hook = fake.calls_to("setWebhook")[-1]
    assert hook["url"] == options.webhook_url
    assert hook["secret_token"] == "s3cret_token-1"


# --- nudges ---------------------------------------------------------------------------------


async def test_delivery_says_sent_blocked_later_or_failed(
    fake: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    async with running_coach(fake, tmp_path, rate_limit_retries=0) as coach:
        delivery = TelegramDelivery(Sender(coach.app.bot, retry_delays=(0.01,)))
        nudge = (Reply("Time for your spine session.", (Choice("start_now", "Start now"),), 9),)
        assert delivery.platform == "telegram"
        assert await delivery.deliver(str(CHAT), nudge) is DeliveryResult.SENT
        sent = fake.last_message(CHAT)
        assert sent is not None
        assert sent.button_labels == ["Start now"]

        fake.fail_next("sendMessage", 429, retry_after=1)
        assert await delivery.deliver(str(CHAT), nudge) is DeliveryResult.LATER
        fake.drop_next("sendMessage", times=2)
        assert await delivery.deliver(str(CHAT), nudge) is DeliveryResult.FAILED
        fake.block(CHAT)
        assert await delivery.deliver(str(CHAT), nudge) is DeliveryResult.BLOCKED
    assert len(fake.messages(CHAT)) == 1


async def test_the_nudge_tick_runs_on_the_job_queue(fake: FakeBotApi, tmp_path: Path) -> None:
    async with running_coach(fake, tmp_path, nudge_tick_seconds=0.5) as coach:
        assert coach.app.job_queue is not None
        jobs = coach.app.job_queue.get_jobs_by_name("nudge-tick")
        assert len(jobs) == 1
        assert jobs[0].trigger.interval == timedelta(seconds=0.5)
        assert jobs[0].job.misfire_grace_time >= 60
        assert jobs[0].job.coalesce


async def test_a_due_nudge_goes_out_through_the_tick(
    fake: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_coach(fake, tmp_path) as coach:
        user = TelegramUser(fake)
        await onboard(user)
        with unit_of_work(coach.service.engine) as session:
            row = find_user(session, "telegram", str(CHAT))
            assert row is not None
            row.next_nudge_at = coach.service.clock() - timedelta(minutes=1)
            # The service runs on the real clock: without quiet hours the nudge is due at any
            # hour this test runs (22:00 to 07:00 UTC would hold it back).
            quiet = {"quiet_start": clock_time(0, 0), "quiet_end": clock_time(0, 0)}
            row.coachee = row.coachee.model_copy(
                update={"profile": row.coachee.profile.model_copy(update=quiet)}
            )
            save_user(session, row)
        assert coach.app.job_queue is not None
        (tick,) = coach.app.job_queue.get_jobs_by_name("nudge-tick")
        user.since = fake.mark(CHAT)
        await tick.run(coach.app)
        nudge = await user.next_question()
        assert nudge.button_labels  # the nudge asks what to do now
        with unit_of_work(coach.service.engine) as session:
            row = find_user(session, "telegram", str(CHAT))
            assert row is not None
            assert row.next_nudge_at is not None
            assert row.next_nudge_at > coach.service.clock()


async def test_the_running_bot_keeps_the_liveness_file_fresh(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    alive = tmp_path / "alive"
    async with running_coach(fake, tmp_path, liveness_file=alive) as coach:
        assert is_alive(alive, MAX_AGE_SECONDS)
        assert coach.app.job_queue is not None
        (job,) = coach.app.job_queue.get_jobs_by_name("liveness")
        os.utime(alive, (0, 0))  # as if the loop had been stuck for ages
        assert not is_alive(alive, MAX_AGE_SECONDS)
        await job.run(coach.app)
        assert is_alive(alive, MAX_AGE_SECONDS)


async def test_an_update_delivered_again_after_a_crash_is_not_applied_twice(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    async with running_coach(fake, tmp_path) as coach:
        user = TelegramUser(fake)
        user.command("/start")
        await user.next_question("safety check")
        typed = user.send("No")
        await user.next_question("And do any of these apply")
        after_first = step_of(coach)
        assert after_first[0] is Step.SCREEN_CLINICIAN
        # Telegram redelivers an update it never heard we had handled (we died in between).
        user.since = fake.mark(CHAT)
        await coach.app.process_update(Update.de_json(typed, coach.app.bot))
        again = await user.next_question("And do any of these apply")
        assert again.button_labels == ["Yes", "No"]
        assert step_of(coach) == after_first  # the "No" counted once, not for this question too
