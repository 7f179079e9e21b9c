"""`PictureBook` renders every exercise once, in a background thread at start-up, so that no
chat step ever waits for a picture: until an exercise's picture is ready, the chat goes without it.
The drawing itself is in bot/pictures/render.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from pathlib import Path

from bot.pictures.render import (
    RENDER_VERSION,
    Picture,
    contact_sheet,
    render_animation_gif,
)
from bot.settings import Settings
from data.poses import ExerciseFigure, load_poses
from data.programme import Programme

log = logging.getLogger(__name__)


# --- rendering ahead -----------------------------------------------------------------------------


def _in_the_background() -> None:
    """A drawing process gives way to the chat: lowest CPU priority, where the OS allows it."""
    with contextlib.suppress(AttributeError, OSError):
        os.nice(19)


def _draw_into(
    sending: Connection,
    render: Callable[[ExerciseFigure], bytes],
    work: list[tuple[str, ExerciseFigure]],
) -> None:
    """In the drawing process: draw each exercise and send it back as soon as it is done."""
    _in_the_background()
    for exercise_id, figure in work:
        sending.send((exercise_id, render(figure)))
    sending.close()


class PictureBook:
    """Every exercise's animation, rendered once ahead of need and then kept in memory.

    `start()` renders in the background: with `workers` above 0 in one separate, daemonic
    process (so the drawing never holds this process's interpreter lock while chats are
    answered, and never holds up its exit), or in one thread when `workers` is 0.
    `get(exercise_id)` never waits: it is None until that exercise is ready. With `folder`,
    the files are also cached there under the hash of their pose data, so a
    restart reads them instead of drawing again."""

    def __init__(
        self,
        figures: Mapping[str, ExerciseFigure],
        *,
        folder: Path | None = None,
        workers: int = 0,
        render: Callable[[ExerciseFigure], bytes] = render_animation_gif,
    ) -> None:
        self.figures = dict(figures)
        self.folder = folder
        self.workers = workers
        self._render = render
        self._ready: dict[str, Picture] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.done = threading.Event()

    def start(self) -> PictureBook:
        """Begin rendering in a background thread (a daemon: it never holds up shutdown)."""
        if self._thread is None and not self.done.is_set():
            self._thread = threading.Thread(target=self.render_all, name="pictures", daemon=True)
            self._thread.start()
        return self

    def render_all(self) -> None:
        """Render (or read from the cache) every exercise not ready yet; return when done."""
        try:
            missing = []
            for exercise_id in sorted(self.figures):
                cached = self._cached(exercise_id)
                if cached is None:
                    missing.append(exercise_id)
                else:
                    self._keep(cached)
            if self.workers > 0 and missing:
                self._render_in_a_process(missing)
            else:
                for exercise_id in missing:
                    data = self._render(self.figures[exercise_id])
                    self._keep(self._stored(exercise_id, data))
        except Exception:  # pictures are extra: the coach works without them
            log.exception("Rendering the exercise pictures failed")
        finally:
            self.done.set()

    def _render_in_a_process(self, missing: list[str]) -> None:
        # A daemonic process, not a process pool: at exit Python waits for a pool's queued
        # work (seconds of drawing, which held up a bot asked to stop), while a daemonic child
        # is simply ended with the process.
        context = multiprocessing.get_context("spawn")  # no fork of a threaded process
        receiving, sending = context.Pipe(duplex=False)
        work = [(exercise_id, self.figures[exercise_id]) for exercise_id in missing]
        drawer = context.Process(
            target=_draw_into, args=(sending, self._render, work), name="pictures", daemon=True
        )
        drawer.start()
        sending.close()  # ours is closed, so a child that dies ends recv() with EOFError
        try:
            for _ in missing:
                exercise_id, data = receiving.recv()
                self._keep(self._stored(exercise_id, data))
        except EOFError:
            drawer.join(timeout=5)
            # Ended by a signal, or not reaped yet: this process is exiting and took its drawing
            # process along. Only a drawing process that quit by itself is worth a word.
            if drawer.exitcode is not None and drawer.exitcode >= 0:
                log.warning("The drawing process stopped early (exit code %s)", drawer.exitcode)
        finally:
            receiving.close()
            drawer.join(timeout=5)

    def _keep(self, picture: Picture) -> None:
        with self._lock:
            self._ready[picture.exercise_id] = picture

    def _path(self, exercise_id: str) -> Path | None:
        if self.folder is None:
            return None
        data = self.figures[exercise_id].model_dump_json().encode()
        key = hashlib.sha256(data + RENDER_VERSION.encode()).hexdigest()[:16]
        return self.folder / f"{exercise_id}-{key}.gif"

    def _cached(self, exercise_id: str) -> Picture | None:
        path = self._path(exercise_id)
        if path is None or not path.is_file():
            return None
        return Picture(exercise_id, path.read_bytes(), f"{exercise_id}.gif", "animation")

    def _stored(self, exercise_id: str, data: bytes) -> Picture:
        path = self._path(exercise_id)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            temporary.write_bytes(data)
            temporary.replace(path)
        return Picture(exercise_id, data, f"{exercise_id}.gif", "animation")

    def get(self, exercise_id: str) -> Picture | None:
        with self._lock:
            return self._ready.get(exercise_id)

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)


def picture_book(settings: Settings, programme: Programme) -> PictureBook:
    """The chat's picture book: one rendering process, cached in PICTURES_DIR when set."""
    return PictureBook(load_poses(programme), folder=settings.pictures_dir, workers=1)


def write_contact_sheet(path: Path, programme: Programme) -> Path:
    """`python -m bot pictures OUT.png`: every exercise's key positions on one sheet."""
    path.write_bytes(contact_sheet(programme, load_poses(programme)))
    return path
