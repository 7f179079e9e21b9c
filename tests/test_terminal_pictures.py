"""The terminal chat's pictures: written into a folder, each path said once, never waited for."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.pictures import PictureBook
from bot.service import CoachService
from bot.store import make_engine
from bot.terminal import TerminalChat
from data.poses import ExerciseFigure, load_poses
from data.programme import default_programme

START = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
ONBOARDING = "/start\nNo\nNo\n2\nA little\nEvery day\n07:00\nUTC\n"
SESSION = "/session\nLet's go\n"


def stub_gif(figure: ExerciseFigure) -> bytes:
    return b"GIF89a" + figure.model_dump_json().encode()


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


async def chat(tmp_path: Path, typed: str, book: PictureBook) -> str:
    service = CoachService(
        make_engine(f"sqlite:///{tmp_path / 'coach.sqlite3'}"), default_programme(), Clock()
    )
    out = io.StringIO()
    terminal = TerminalChat(
        service,
        "local",
        stdin=io.StringIO(typed),
        stdout=out,
        tick_seconds=3600,
        grace=timedelta(hours=1),
        pictures=book,
        pictures_folder=tmp_path / "pictures",
    )
    await terminal.run()
    service.engine.dispose()
    return out.getvalue()


async def test_the_picture_is_written_and_its_path_said_once(tmp_path: Path) -> None:
    book = PictureBook(load_poses(default_programme()), render=stub_gif)
    book.render_all()
    # /session twice: the second time resumes at the same exercise, with no new picture.
    out = await chat(tmp_path, ONBOARDING + SESSION + "/session\n", book)
    written = tmp_path / "pictures" / "s1-cat-cow.gif"
    assert written.read_bytes() == stub_gif(load_poses(default_programme())["s1-cat-cow"])
    assert out.count(f"(Picture of this exercise: {written})") == 1
    # The path comes just before the exercise's how-to.
    assert out.index(str(written)) < out.index("Exercise 1 of 5: Segmental cat-cow")


async def test_a_picture_not_drawn_yet_is_left_out(tmp_path: Path) -> None:
    book = PictureBook(load_poses(default_programme()), render=stub_gif)
    book.done.set()  # "started", nothing ready: the chat goes on without it
    out = await chat(tmp_path, ONBOARDING + SESSION, book)
    assert "Exercise 1 of 5: Segmental cat-cow" in out
    assert "Picture of this exercise" not in out
    assert not (tmp_path / "pictures").exists()
