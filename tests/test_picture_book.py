"""The picture book's drawing process: it delivers what it draws, and never holds up an exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from bot.pictures.book import PictureBook
from bot.pictures.render import render_animation_gif
from data.poses import default_poses


def test_the_drawing_process_delivers_every_picture_as_drawn_here() -> None:
    figures = dict(sorted(default_poses().items())[:2])
    book = PictureBook(figures, workers=1).start()
    assert book.wait(timeout=300)
    for exercise_id, figure in figures.items():
        picture = book.get(exercise_id)
        assert picture is not None
        assert picture.data == render_animation_gif(figure)


def test_a_process_that_ends_while_pictures_are_drawn_does_not_wait_for_them(
    tmp_path: Path,
) -> None:
    # A process pool made Python's exit wait until every queued picture was drawn (and, with
    # a folder, stored); the daemonic drawing process is ended with its parent instead.
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from bot.pictures.book import PictureBook
        from data.poses import default_poses
        import time
        figures = default_poses()
        book = PictureBook(figures, folder=Path({str(tmp_path)!r}), workers=1).start()
        while not any(book.get(exercise_id) for exercise_id in figures):
            time.sleep(0.02)  # the drawing is under way: the first picture came back
        print("started", flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "started"
    assert "Traceback" not in done.stderr
    assert len(list(tmp_path.glob("*.gif"))) < len(default_poses())
