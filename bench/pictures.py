"""Pictures bench: `python -m bench.pictures`. Figures, not assertions.

1. Rendering: every key-position PNG and every animation, one after another in this process;
   then the bot's way, `PictureBook` drawing the animations in one background process.
2. The first reply of a session (tapping "Let's go" to the first exercise's how-to, which names
   its picture), through `CoachService` on SQLite as the Telegram adapter runs it
   (asyncio.to_thread), without pictures, while the pictures are being drawn in the
   background, and once they are ready.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bot.pictures import PictureBook, render_animation_gif, render_pose_png
from bot.service import CoachService
from bot.store import make_engine
from conversations.events import Choose, Command, Text
from data.poses import load_poses
from data.programme import default_programme

ONBOARDING = ("/start", "No", "No", "2", "A little", "Every day", "07:00", "UTC")
USERS = 30


def render_everything() -> tuple[float, int, int]:
    figures = load_poses(default_programme())
    start = time.perf_counter()
    pngs = [render_pose_png(f, i) for f in figures.values() for i in range(len(f.poses))]
    gifs = [render_animation_gif(f) for f in figures.values()]
    return time.perf_counter() - start, len(pngs), len(gifs)


def book_time(workers: int) -> float:
    book = PictureBook(load_poses(default_programme()), workers=workers)
    start = time.perf_counter()
    book.start()
    book.wait()
    return time.perf_counter() - start


def ready_users(service: CoachService, prefix: str) -> list[str]:
    """Users at the session intro, one tap from their first exercise."""
    chats = [f"{prefix}{n}" for n in range(USERS)]
    for chat in chats:
        for line in ONBOARDING:
            service.handle("bench", chat, Text(line))
        service.handle("bench", chat, Command("session"))
    return chats


async def first_replies(
    service: CoachService, chats: list[str], book: PictureBook | None
) -> list[float]:
    times = []
    for chat in chats:
        state = service.state_of("bench", chat)
        assert state is not None
        start = time.perf_counter()
        outcome = await asyncio.to_thread(
            service.handle, "bench", chat, Choose("go", state.flow.step_no)
        )
        for reply in outcome.replies:
            if reply.picture is not None and book is not None:
                book.get(reply.picture)  # what the adapter does: never waits
        times.append(time.perf_counter() - start)
        await asyncio.sleep(0.05)  # users arrive one after another, as in a chat
    return times


def describe(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p90 = ms[int(len(ms) * 0.9)]
    return f"median {statistics.median(ms):.1f} ms, p90 {p90:.1f} ms, max {ms[-1]:.1f} ms"


def main() -> None:
    seconds, pngs, gifs = render_everything()
    print(
        f"1. rendering, one after another in one process: {pngs} PNGs + {gifs} GIFs "
        f"in {seconds:.1f} s"
    )
    print(
        f"   the bot's way (PictureBook, 1 background process): {gifs} GIFs ready after "
        f"{book_time(1):.1f} s"
    )
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.sqlite3'}")
        service = CoachService(engine, default_programme())
        without = asyncio.run(first_replies(service, ready_users(service, "a"), None))
        drawing = PictureBook(load_poses(default_programme()), workers=1)
        chats = ready_users(service, "b")
        drawing.start()
        during = asyncio.run(first_replies(service, chats, drawing))
        drawing.wait()
        after = asyncio.run(first_replies(service, ready_users(service, "c"), drawing))
        engine.dispose()
    print(f"2. first reply of a session ({USERS} users each):")
    print(f"   without pictures:              {describe(without)}")
    print(f"   while pictures are being drawn: {describe(during)}")
    print(f"   with pictures ready:           {describe(after)}")


if __name__ == "__main__":
    main()
