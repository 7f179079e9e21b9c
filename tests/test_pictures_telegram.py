"""Exercise pictures in Telegram, end to end against the fake Bot API: each exercise's animation
goes once per session, just before its how-to; each picture is uploaded once per bot and sent by
its file id after that; a file id Telegram refuses is replaced by a fresh upload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.picture_files import known_file_id
from bot.pictures import PictureBook
from bot.service import CoachService
from data.poses import ExerciseFigure, load_poses
from data.programme import DoseLadder, Programme, default_programme
from tests.fake_bot_api import BotMessage, FakeBotApi, UploadedFile
from tests.telegram_helpers import TelegramUser, running_coach


def small_programme() -> Programme:
    """Stage 1 with two exercises, one a side, one rep or hold each: a session in a few taps."""
    programme = default_programme()
    stage = programme.stage(1)
    one = DoseLadder(floor=1, step=1, ceiling=2)
    exercises = tuple(
        e.model_copy(update={"dose": one})
        for e in stage.exercises
        if e.id in ("s1-cat-cow", "s1-side-plank-knees")
    )
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


def service_for(engine: Engine) -> CoachService:
    return CoachService(engine, small_programme())


async def onboard(user: TelegramUser) -> None:
    user.command("/start")
    await user.next_question("safety check")
    for label in ("No", "No", "2", "A little", "Every day", "07:00"):
        await user.tap(label)
    await user.tap("UTC", expect="You're all set")


async def play_session(user: TelegramUser) -> None:
    """/session through every set, answering steady and yes, to the summary."""
    question = await user.tap("Start a session", expect="Find a mat")
    question = await user.tap("Let's go", expect="tap Start")
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
        assert [m.caption for m in sent] == ["Segmental cat-cow", "Side plank from the knees"]
        # Each picture comes just before the how-to of its exercise.
        for media in sent:
            after = fake.messages(4242)[media.index + 1]
            assert "Exercise" in after.body
            assert media.caption is not None
            assert media.caption in after.body
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
        assert len(renewed) == 2
        assert renewed[0].file_id != stale
        assert renewed[1].file_id == sent[1].file_id
        assert len(uploads(fake)) == 3
        bot_id = int(fake.token.split(":")[0])
        picture = book.get("s1-cat-cow")
        assert picture is not None
        stored = known_file_id(coach.service.engine, bot_id, picture.sha256)
        assert stored == renewed[0].file_id


async def test_after_three_sessions_the_picture_waits_for_show_me(
    fake: FakeBotApi, tmp_path: Path, book: PictureBook
) -> None:
    async with running_coach(fake, tmp_path, service_for=service_for, pictures=book):
        user = TelegramUser(fake, 4242)
        await onboard(user)
        for _ in range(4):
            await play_session(user)
        assert len(animations(fake, 4242)) == 2 * 3  # three sessions with pictures, then none
        question = await user.tap("Start a session", expect="Find a mat")
        question = await user.tap("Let's go", expect="tap Start")
        assert "Show me" in question.button_labels
        await user.tap("Show me", expect="Here it is again")
        assert len(animations(fake, 4242)) == 2 * 3 + 1
        assert animations(fake, 4242)[-1].caption == "Segmental cat-cow"


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
