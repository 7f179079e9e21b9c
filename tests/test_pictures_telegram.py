"""Exercise pictures in Telegram, end to end against the fake Bot API: each exercise's animation
goes once per session with its how-to as its caption and the question's buttons under it, one
message (two only when the how-to is too long for a caption); each picture is uploaded once per
bot and sent by its file id after that; a file id Telegram refuses is replaced by a fresh
upload; a picture that cannot go leaves the how-to to a text message."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.pictures.book import PictureBook
from bot.service import CoachService
from bot.store.picture_files import known_file_id
from data.poses import ExerciseFigure, load_poses
from data.programme import DoseLadder, Programme, default_programme
from tests.fake_bot_api import BotMessage, FakeBotApi, UploadedFile
from tests.telegram_helpers import RunningCoach, TelegramUser, running_coach, until


def small_programme(*, long_how_to: bool = False) -> Programme:
    """Stage 1 with two exercises, one a side, one rep or hold each: a session in a few taps.
    With `long_how_to`, the cat-cow's how-to is too long for a caption (1,024 characters)."""
    programme = default_programme()
    stage = programme.stage(1)
    one = DoseLadder(floor=1, step=1, ceiling=2)
    exercises = tuple(
        e.model_copy(update={"dose": one})
        for e in stage.exercises
        if e.id in ("s1-cat-cow", "s1-side-plank-knees")
    )
    if long_how_to:
        cat_cow, *rest = exercises
        how_to = " ".join([cat_cow.how_to] * (1100 // len(cat_cow.how_to) + 1))
        exercises = (cat_cow.model_copy(update={"how_to": how_to}), *rest)
    stages = (stage.model_copy(update={"exercises": exercises}), *programme.stages[1:])
    return programme.model_copy(update={"stages": stages})


def stub_gif(figure: ExerciseFigure) -> bytes:
    """Distinct bytes per exercise, cheaply: these tests are about sending, not drawing."""
    return b"GIF89a" + figure.model_dump_json().encode()


@pytest.fixture
async def fake() -> Any:
    async with FakeBotApi() as api:
        yield api
    assert api.server_errors == []
    assert api.unknown_methods == []


@pytest.fixture
def book() -> PictureBook:
    pictures = PictureBook(load_poses(default_programme()), render=stub_gif)
    pictures.render_all()
    return pictures


NAMES = ["Segmental cat-cow", "Side plank from the knees"]
HOW_TO = re.compile(r"Exercise \d+ of \d+: ")


def service_for(engine: Engine) -> CoachService:
    return CoachService(engine, small_programme())


async def onboard(user: TelegramUser) -> None:
    user.command("/start")
    await user.next_question("safety check")
    for label in ("No", "No", "2", "A little", "Every day", "07:00"):
        await user.tap(label)
    await user.tap("UTC", expect="You're all set")


@pytest.fixture
async def onboarded(
    fake: FakeBotApi, tmp_path: Path, book: PictureBook
) -> AsyncIterator[tuple[TelegramUser, RunningCoach]]:
    """A running coach with pictures, and a user who has just onboarded."""
    async with running_coach(fake, tmp_path, service_for=service_for, pictures=book) as coach:
        user = TelegramUser(fake, 4242)
        await onboard(user)
        yield user, coach


async def to_first_how_to(user: TelegramUser) -> BotMessage:
    await user.tap("Start a session", expect="Find a mat")
    return await user.tap("Let's go", expect="tap Start")


async def play_session(user: TelegramUser) -> None:
    """/session through every set, answering steady and yes, to the summary."""
    question = await to_first_how_to(user)
    for _ in range(40):
        labels = question.button_labels
        if "Start" in labels:
            question = await user.tap("Start")
        elif "Done" in labels:
            question = await user.tap("Done")
        elif "Steady" in labels:
            question = await user.tap("Steady")
        elif "Yes" in labels:
            user.press("Yes")
            question = await user.next_question()
            if "Session done" in question.body:
                return
        else:
            raise AssertionError(f"unexpected question: {question.body} {labels}")
    raise AssertionError("the session did not end")


def animations(fake: FakeBotApi, chat_id: int) -> list[BotMessage]:
    return [m for m in fake.messages(chat_id) if m.kind == "animation"]


def how_tos(fake: FakeBotApi, chat_id: int) -> list[BotMessage]:
    """Every message that shows an exercise's how-to (and its Start button)."""
    return [m for m in fake.messages(chat_id) if HOW_TO.search(m.body)]


def labels_sent(message: BotMessage) -> list[str]:
    """The button labels a message had when it was sent (a pressed one loses them)."""
    rows = (message.params.get("reply_markup") or {}).get("inline_keyboard", [])
    return [button["text"] for row in rows for button in row]


def assert_one_message_each(fake: FakeBotApi, chat_id: int, names: list[str]) -> None:
    """Each exercise's animation carries its how-to and its buttons: one message."""
    shown = how_tos(fake, chat_id)
    assert [m.kind for m in shown] == ["animation"] * len(names)
    for message, name in zip(shown, names, strict=True):
        assert f"{name} (" in message.body
        assert "Start" in labels_sent(message)
        assert message.params.get("parse_mode") is None  # plain text, as every reply


def uploads(fake: FakeBotApi) -> list[dict[str, Any]]:
    return [call.params for call in fake.uploads("sendAnimation")]


async def test_each_exercise_goes_once_a_session_and_each_picture_uploads_once_per_bot(
    fake: FakeBotApi, tmp_path: Path, book: PictureBook
) -> None:
    async with running_coach(fake, tmp_path, service_for=service_for, pictures=book) as coach:
        first = TelegramUser(fake, 4242)
        await onboard(first)
        await play_session(first)
        sent = animations(fake, 4242)
        assert_one_message_each(fake, 4242, NAMES)
        assert len(uploads(fake)) == 2  # one upload per picture
        assert all(isinstance(u["animation"], UploadedFile) for u in uploads(fake))

        second = TelegramUser(fake, 4343)
        await onboard(second)
        await play_session(second)
        assert [m.file_id for m in animations(fake, 4343)] == [m.file_id for m in sent]
        assert len(uploads(fake)) == 2  # the second user's session uploaded nothing

        # Telegram forgets one of them: the next send uploads it again and keeps the new id.
        stale = sent[0].file_id
        assert stale is not None
        fake.reject_file_id(stale)
        third = TelegramUser(fake, 4444)
        await onboard(third)
        await play_session(third)
        renewed = animations(fake, 4444)
        assert_one_message_each(fake, 4444, NAMES)  # the refused send left nothing behind
        assert renewed[0].file_id != stale
        assert renewed[1].file_id == sent[1].file_id
        assert len(uploads(fake)) == 3
        bot_id = int(fake.token.split(":")[0])
        picture = book.get("s1-cat-cow")
        assert picture is not None
        stored = known_file_id(coach.service.engine, bot_id, picture.sha256)
        assert stored == renewed[0].file_id


async def test_after_three_sessions_the_picture_waits_for_show_me(
    fake: FakeBotApi, onboarded: tuple[TelegramUser, RunningCoach]
) -> None:
    user, _ = onboarded
    for _ in range(4):
        await play_session(user)
    assert len(animations(fake, 4242)) == 2 * 3  # three sessions with pictures, then none
    question = await to_first_how_to(user)
    assert "Show me" in question.button_labels
    await user.tap("Show me", expect="Here it is again")
    assert len(animations(fake, 4242)) == 2 * 3 + 1
    again = animations(fake, 4242)[-1]
    assert again.caption is not None
    assert "\n\nExercise 1 of 2: Segmental cat-cow (" in again.caption
    assert again.button_labels == ["Start", "It hurts", "Stop session"]
    assert fake.messages(4242)[-1] is again  # the picture is the question: nothing after it


async def test_a_picture_not_rendered_yet_is_left_out_and_the_session_goes_on(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    never_ready = PictureBook(load_poses(default_programme()), render=stub_gif)
    never_ready.done.set()  # as if rendering were still going on: nothing is ready
    async with running_coach(fake, tmp_path, service_for=service_for, pictures=never_ready):
        user = TelegramUser(fake, 4242)
        await onboard(user)
        await play_session(user)
        assert animations(fake, 4242) == []
        assert fake.uploads() == []
        assert [m.kind for m in how_tos(fake, 4242)] == ["text", "text"]


async def test_tapping_start_on_the_picture_writes_the_answer_into_its_caption(
    fake: FakeBotApi, tmp_path: Path, book: PictureBook
) -> None:
    async with running_coach(fake, tmp_path, service_for=service_for, pictures=book):
        user = TelegramUser(fake, 4242)
        # Typed answers: no pressed question waits for its edit (one per chat every 3.2 s).
        user.command("/start")
        await user.next_question("safety check")
        for answer in ("No", "No", "2", "A little", "Every day", "07:00", "UTC"):
            user.send(answer)
            await user.next_question()
        user.send("Start a session")
        await user.next_question("Find a mat")
        user.send("Let's go")
        question = await user.next_question("tap Start")
        assert question.kind == "animation"
        how_to = question.caption
        assert how_to is not None
        await user.tap("Start", expect="Rep 1 of 1")
        await until(lambda: fake.message(4242, question.message_id).edits, what="the edit")
        marked = fake.message(4242, question.message_id)
        assert marked.caption == f"{how_to}\n\n→ Start"
        assert marked.buttons == []  # cannot be pressed twice
        assert [c["message_id"] for c in fake.calls_to("editMessageCaption")] == [
            question.message_id
        ]
        # The set runs in a message of its own, never in the picture's.
        assert question.message_id not in {
            c["message_id"] for c in fake.calls_to("editMessageText")
        }


async def test_a_how_to_too_long_for_a_caption_follows_its_picture_as_text(
    fake: FakeBotApi, tmp_path: Path, book: PictureBook
) -> None:
    def long_how_to(engine: Engine) -> CoachService:
        return CoachService(engine, small_programme(long_how_to=True))

    async with running_coach(fake, tmp_path, service_for=long_how_to, pictures=book):
        user = TelegramUser(fake, 4242)
        await onboard(user)
        await play_session(user)
        first, second = how_tos(fake, 4242)
        assert len(first.body) > 1024
        assert first.kind == "text"
        assert "Start" in labels_sent(first)
        picture = fake.messages(4242)[first.index - 1]
        assert (picture.kind, picture.caption, picture.buttons) == ("animation", NAMES[0], [])
        assert second.kind == "animation"  # the other exercise's how-to fits: one message
        assert len(uploads(fake)) == 2


async def test_a_picture_telegram_refuses_leaves_the_how_to_to_a_text_message(
    fake: FakeBotApi, onboarded: tuple[TelegramUser, RunningCoach]
) -> None:
    user, _ = onboarded
    fake.fail_next("sendAnimation", 400, "Bad Request: wrong type of the web page content")
    question = await to_first_how_to(user)
    assert question.kind == "text"
    assert HOW_TO.search(question.body)
    assert animations(fake, 4242) == []
    await user.tap("Start", expect="Rep 1 of 1")  # and the session goes on


async def test_a_network_error_on_the_picture_is_retried_and_it_still_goes_as_one(
    fake: FakeBotApi, onboarded: tuple[TelegramUser, RunningCoach]
) -> None:
    user, _ = onboarded
    fake.drop_next("sendAnimation")
    question = await to_first_how_to(user)
    assert question.kind == "animation"
    assert len(fake.calls_to("sendAnimation")) == 2
    assert how_tos(fake, 4242) == [question]


async def test_a_user_who_blocked_the_bot_gets_neither_picture_nor_text(
    fake: FakeBotApi, onboarded: tuple[TelegramUser, RunningCoach]
) -> None:
    user, coach = onboarded
    await user.tap("Start a session", expect="Find a mat")
    fake.block(4242)
    user.press("Let's go")
    await until(lambda: not coach.user_row(4242).active, what="the user marked inactive")
    assert len(fake.calls_to("sendAnimation")) == 1  # refused, and not tried as text
    assert not [c for c in fake.calls_to("sendMessage") if HOW_TO.search(c["text"])]
    assert how_tos(fake, 4242) == []
