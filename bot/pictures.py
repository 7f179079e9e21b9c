"""Exercise pictures drawn from the pose data: one PNG per key position, a looping GIF that moves
slowly between them, and a contact sheet of every exercise for review by eye.

Matplotlib's object API on the Agg canvas (no pyplot: no global state, safe in threads). The same
data always gives the same bytes: no dates in the files, no randomness, fixed sizes.

    pictures = render_exercise(figure)           # ExercisePictures(pngs=(...), gif=b"GIF89a...")
    sheet = contact_sheet(programme, figures)    # PNG bytes

`PictureBook` renders every exercise once, in a background thread at start-up, so that no chat
step ever waits for a picture: until an exercise's picture is ready, the chat goes without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import math
import multiprocessing
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from PIL import Image

from bot.settings import Settings
from data.poses import Body, ExerciseFigure, Pose, body, frame, load_poses
from data.programme import Programme

log = logging.getLogger(__name__)

# One friendly style for every exercise.
BACKGROUND = "#FBF7F0"
MAT = "#CDE7E1"
FLOOR = "#6B7A86"
INK = "#2F3E4E"  # trunk, head and the near arm and leg
FAR_INK = "#A7B4C0"  # the far arm and leg, behind the body
DEEP = "#F08A5D"  # the deep muscles along the spine
ARROW = "#E4572E"
LABEL = "#2F3E4E"
BALL = "#5DA9E9"  # the light ball held in the rotations

# Bump when the drawing changes, so cached files are drawn again.
RENDER_VERSION = "1"
PNG_SIZE = (640, 400)  # pixels; Telegram shows photos about 320 to 400 wide on a phone
GIF_SIZE = (480, 300)
STEPS_PER_MOVE = 7  # frames from one key position to the next
MOVE_MS = 110  # per in-between frame: slow, like the exercise
KEY_MS = 900  # a pause on each key position


@dataclass(frozen=True)
class ExercisePictures:
    """Everything drawn for one exercise: a PNG per key position and the animation."""

    pngs: tuple[bytes, ...]
    gif: bytes


@dataclass(frozen=True)
class Picture:
    """One file the chat can send: its bytes, a file name and the hash that names it."""

    exercise_id: str
    data: bytes
    filename: str
    kind: str  # "animation" (GIF) or "photo" (PNG)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


# --- drawing one body ----------------------------------------------------------------------------


def _thickness(fig: Figure, metres: float, x0: float, x1: float) -> float:
    """A width in metres of the drawing as a matplotlib line width in points."""
    axes_inches = fig.get_figwidth()  # the axes fill the figure
    return metres / (x1 - x0) * axes_inches * 72


def _spine_curve(points: Sequence[tuple[float, float]], per: int = 8) -> list[tuple[float, float]]:
    """A smooth line through the spine points (Catmull-Rom), so a rounded back looks round."""
    if len(points) < 3:
        return list(points)
    padded = [points[0], *points, points[-1]]
    out: list[tuple[float, float]] = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        for k in range(per):
            t = k / per
            t2, t3 = t * t, t * t * t
            out.append(
                tuple(  # type: ignore[arg-type]
                    0.5
                    * (
                        2 * p1[j]
                        + (-p0[j] + p2[j]) * t
                        + (2 * p0[j] - 5 * p1[j] + 4 * p2[j] - p3[j]) * t2
                        + (-p0[j] + 3 * p1[j] - 3 * p2[j] + p3[j]) * t3
                    )
                    for j in range(2)
                )
            )
    out.append(points[-1])
    return out


class _Scene:
    """One axes with the mat and floor drawn once; bodies are drawn (or moved) on top."""

    def __init__(
        self,
        fig: Figure,
        rect: tuple[float, float, float, float],
        window: tuple[float, float, float, float],
        *,
        highlight: bool,
    ) -> None:
        x0, x1, y0, y1 = window
        self.fig = fig
        self.ax = fig.add_axes(rect)
        self.ax.set_xlim(x0, x1)
        self.ax.set_ylim(y0, y1)
        self.ax.set_aspect("equal", adjustable="datalim", anchor="S")
        self.ax.set_axis_off()
        self.window = window
        self.highlight = highlight
        width_inches = fig.get_figwidth() * rect[2]
        self.points_per_metre = width_inches * 72 / (x1 - x0)
        pad = 0.04 * (x1 - x0)
        self.ax.add_patch(
            FancyBboxPatch(
                (x0 + pad, -0.045),
                (x1 - x0) - 2 * pad,
                0.045,
                boxstyle="round,pad=0,rounding_size=0.02",
                facecolor=MAT,
                edgecolor="none",
                zorder=0,
            )
        )
        self.ax.add_line(
            Line2D([x0, x1], [0, 0], color=FLOOR, linewidth=2.2, solid_capstyle="butt", zorder=1)
        )
        self.lines: dict[str, Line2D] = {}
        self.head: Circle | None = None
        self.ball: Circle | None = None
        self.arrows: list[FancyArrowPatch] = []

    def lw(self, metres: float) -> float:
        return metres * self.points_per_metre

    def _line(self, key: str, xs: list[float], ys: list[float], **style: object) -> None:
        line = self.lines.get(key)
        if line is None:
            line = Line2D(xs, ys, solid_capstyle="round", solid_joinstyle="round", **style)  # type: ignore[arg-type]
            self.ax.add_line(line)
            self.lines[key] = line
        else:
            line.set_data(xs, ys)

    def draw(self, figure: Body) -> None:
        pts = figure.points
        by_layer: dict[str, list[tuple[str, str]]] = {"far": [], "body": [], "near": []}
        for a, b, layer, _length in figure.segments:
            by_layer[layer].append((a, b))
        limb = self.lw(0.05)
        for layer, colour, z in (("far", FAR_INK, 2), ("near", INK, 5)):
            for a, b in by_layer[layer]:
                self._line(
                    f"{a}-{b}",
                    [pts[a][0], pts[b][0]],
                    [pts[a][1], pts[b][1]],
                    color=colour,
                    linewidth=limb,
                    zorder=z,
                )
        if figure.spine:
            curve = _spine_curve([pts[n] for n in figure.spine])
            xs, ys = [p[0] for p in curve], [p[1] for p in curve]
            self._line("trunk", xs, ys, color=INK, linewidth=self.lw(0.10), zorder=3)
            self._line(
                "neck",
                [pts["shoulder"][0], pts["head"][0]],
                [pts["shoulder"][1], pts["head"][1]],
                color=INK,
                linewidth=self.lw(0.06),
                zorder=3,
            )
            if self.highlight:
                # The deep stabilisers: the lower two thirds of the spine, pelvis to chest.
                deep = curve[: 2 * len(curve) // 3 + 1]
                self._line(
                    "deep",
                    [p[0] for p in deep],
                    [p[1] for p in deep],
                    color=DEEP,
                    linewidth=self.lw(0.045),
                    zorder=4,
                    alpha=0.95,
                )
        else:
            for a, b in by_layer["body"]:
                width = 0.10 if {a, b} & {"chest", "pelvis"} else 0.05
                self._line(
                    f"{a}-{b}",
                    [pts[a][0], pts[b][0]],
                    [pts[a][1], pts[b][1]],
                    color=INK,
                    linewidth=self.lw(width),
                    zorder=3,
                )
            if self.highlight and "pelvis" in pts and "chest" in pts:
                self._line(
                    "deep",
                    [pts["pelvis"][0], pts["chest"][0]],
                    [pts["pelvis"][1], pts["chest"][1]],
                    color=DEEP,
                    linewidth=self.lw(0.045),
                    zorder=4,
                )
        if not figure.spine and "hands" in pts:
            if self.ball is None:
                self.ball = Circle(pts["hands"], 0.08, facecolor=BALL, edgecolor=INK, zorder=7)
                self.ax.add_patch(self.ball)
            else:
                self.ball.center = pts["hands"]
        hx, hy = pts["head"]
        if self.head is None:
            self.head = Circle(
                (hx, hy), figure.radii["head"], facecolor=INK, edgecolor="none", zorder=6
            )
            self.ax.add_patch(self.head)
        else:
            self.head.center = (hx, hy)

    def arrow(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        if math.dist(start, end) < 0.04:
            return
        patch = FancyArrowPatch(
            start,
            end,
            connectionstyle="arc3,rad=-0.25",
            arrowstyle="-|>,head_length=0.5,head_width=0.35",
            mutation_scale=self.lw(0.12),
            linewidth=self.lw(0.018),
            color=ARROW,
            shrinkA=2,
            shrinkB=2,
            zorder=8,
        )
        self.ax.add_patch(patch)
        self.arrows.append(patch)

    def label(self, text: str, size: float) -> None:
        x0, _x1, _y0, y1 = self.window
        self.ax.text(
            x0 + 0.03 * (_x1 - x0),
            y1,
            text,
            fontsize=size,
            color=LABEL,
            va="top",
            ha="left",
            fontweight="bold",
            zorder=9,
        )


def _new_figure(size: tuple[int, int], dpi: int = 100) -> Figure:
    fig = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi, facecolor=BACKGROUND)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", facecolor=BACKGROUND, metadata={"Software": None})
    return out.getvalue()


def _draw_arrows(scene: _Scene, figure: ExerciseFigure, index: int) -> None:
    if index + 1 >= len(figure.poses):
        return
    here = body(figure, figure.poses[index])
    there = body(figure, figure.poses[index + 1])
    for point in figure.arrows:
        scene.arrow(here.points[point], there.points[point])


def render_pose_png(figure: ExerciseFigure, index: int) -> bytes:
    """One key position as a PNG, with arrows towards the next one and its name."""
    fig = _new_figure(PNG_SIZE)
    window = _padded(frame(figure), PNG_SIZE)
    scene = _Scene(fig, (0, 0, 1, 1), window, highlight=figure.highlight)
    scene.draw(body(figure, figure.poses[index]))
    _draw_arrows(scene, figure, index)
    scene.label(f"{index + 1}. {figure.poses[index].name}", 17)
    return _png(fig)


def _padded(
    window: tuple[float, float, float, float], size: tuple[int, int], label_room: float = 0.16
) -> tuple[float, float, float, float]:
    """Widen the window to the picture's shape (so nothing is squeezed), room for the label."""
    x0, x1, y0, y1 = window
    y1 += label_room * (x1 - x0) / 2.2
    aspect = size[0] / size[1]
    width, height = x1 - x0, y1 - y0
    if width / height < aspect:
        extra = height * aspect - width
        x0, x1 = x0 - extra / 2, x1 + extra / 2
    else:
        y1 = y0 + width / aspect
    return (x0, x1, y0, y1)


# --- moving between key positions ----------------------------------------------------------------


def _blend(a: Pose, b: Pose, t: float) -> Pose:
    """The pose a fraction t of the way from a to b: every angle moves evenly."""

    def mix(x: float, y: float) -> float:
        return x + (y - x) * t

    def mix_tuple(x: Sequence[float], y: Sequence[float]) -> tuple[float, ...]:
        return tuple(mix(p, q) for p, q in zip(x, y, strict=True))

    a_far_arm, b_far_arm = a.far_arm or a.near_arm, b.far_arm or b.near_arm
    a_far_leg, b_far_leg = a.far_leg or a.near_leg, b.far_leg or b.near_leg
    # In between, only what touches the floor in both positions holds the body up.
    shared = tuple(c for c in a.contacts if c in b.contacts) or a.contacts
    return Pose.model_validate(
        {
            "name": a.name if t < 0.5 else b.name,
            "contacts": shared,
            "trunk": mix(a.trunk, b.trunk),
            "lower_back": mix(a.lower_back, b.lower_back),
            "upper_back": mix(a.upper_back, b.upper_back),
            "neck": mix(a.neck, b.neck),
            "near_arm": mix_tuple(a.near_arm, b.near_arm),
            "far_arm": mix_tuple(a_far_arm, b_far_arm),
            "near_leg": mix_tuple(a.near_leg, b.near_leg),
            "far_leg": mix_tuple(a_far_leg, b_far_leg),
            "stance": a.stance,
            "turn": mix(a.turn, b.turn),
        }
    )


def animation_frames(figure: ExerciseFigure) -> list[tuple[Pose, int]]:
    """The poses of the looping animation with how long each shows (ms): out and back again."""
    order = list(range(len(figure.poses))) + list(range(len(figure.poses) - 2, 0, -1))
    frames: list[tuple[Pose, int]] = []
    for position, index in enumerate(order):
        a = figure.poses[index]
        b = figure.poses[order[(position + 1) % len(order)]]
        frames.append((a, KEY_MS))
        for step in range(1, STEPS_PER_MOVE):
            t = step / STEPS_PER_MOVE
            eased = (1 - math.cos(math.pi * t)) / 2  # slow out, slow in
            frames.append((_blend(a, b, eased), MOVE_MS))
    return frames


@cache
def _palette() -> Image.Image:
    """A fixed palette: each colour of the style blended into the background in steps, so the
    anti-aliased edges stay smooth. Fixed, so every GIF is quantized the same fast way."""
    background = _rgb(BACKGROUND)
    colours: list[tuple[int, int, int]] = [background]
    for colour in (MAT, FLOOR, INK, FAR_INK, DEEP, ARROW, BALL, LABEL):
        target = _rgb(colour)
        for step in range(1, 17):
            t = step / 16
            colours.append(
                tuple(round(b + (c - b) * t) for b, c in zip(background, target, strict=True))  # type: ignore[misc]
            )
    flat = [channel for colour in colours for channel in colour]
    palette = Image.new("P", (1, 1))
    palette.putpalette(flat + flat[:3] * (256 - len(colours)))
    return palette


def _rgb(colour: str) -> tuple[int, int, int]:
    value = int(colour.lstrip("#"), 16)
    return (value >> 16 & 255, value >> 8 & 255, value & 255)


def render_animation_gif(figure: ExerciseFigure) -> bytes:
    """A looping GIF: the key positions, moving slowly from one to the next and back."""
    fig = _new_figure(GIF_SIZE, dpi=80)
    window = _padded(frame(figure), GIF_SIZE, label_room=0.0)
    scene = _Scene(fig, (0, 0, 1, 1), window, highlight=figure.highlight)
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    images: list[Image.Image] = []
    durations: list[int] = []
    for pose, ms in animation_frames(figure):
        scene.draw(body(figure, pose))
        canvas.draw()
        rgba = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba())
        images.append(rgba.convert("RGB").quantize(palette=_palette(), dither=Image.Dither.NONE))
        durations.append(ms)
    out = io.BytesIO()
    images[0].save(
        out,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=durations,
        loop=0,
        optimize=False,
        disposal=1,
    )
    return out.getvalue()


def render_exercise(figure: ExerciseFigure) -> ExercisePictures:
    pngs = tuple(render_pose_png(figure, i) for i in range(len(figure.poses)))
    return ExercisePictures(pngs=pngs, gif=render_animation_gif(figure))


# --- the contact sheet ---------------------------------------------------------------------------


def contact_sheet(
    programme: Programme,
    figures: Mapping[str, ExerciseFigure],
    *,
    cell: tuple[int, int] = (260, 150),
) -> bytes:
    """Every exercise in a row, its key positions side by side, stage by stage: for review."""
    rows = [(stage.number, e) for stage in programme.stages for e in stage.exercises]
    columns = max(len(figures[e.id].poses) for _s, e in rows)
    title_w = 210
    width = title_w + columns * cell[0]
    height = len(rows) * cell[1]
    fig = _new_figure((width, height))
    for row, (stage, exercise) in enumerate(rows):
        figure = figures[exercise.id]
        top = 1 - row * cell[1] / height
        fig.text(
            8 / width,
            top - 12 / height,
            f"Stage {stage}\n{exercise.name}",
            fontsize=10.5,
            color=LABEL,
            va="top",
            ha="left",
            wrap=True,
            fontweight="bold",
        )
        fig.text(8 / width, top - 60 / height, exercise.id, fontsize=8, color=FLOOR, va="top")
        window = _padded(frame(figure), cell)
        for column, pose in enumerate(figure.poses):
            rect = (
                (title_w + column * cell[0]) / width,
                top - cell[1] / height,
                cell[0] / width,
                cell[1] / height,
            )
            scene = _Scene(fig, rect, window, highlight=figure.highlight)
            scene.draw(body(figure, pose))
            _draw_arrows(scene, figure, column)
            scene.label(f"{column + 1}. {pose.name}", 8.5)
        fig.add_artist(
            Line2D([0, 1], [top, top], color=FAR_INK, linewidth=0.8, transform=fig.transFigure)
        )
    # In the style's own palette: a fraction of the size, for a file kept in the repository.
    image = Image.open(io.BytesIO(_png(fig))).convert("RGB")
    out = io.BytesIO()
    image.quantize(palette=_palette(), dither=Image.Dither.NONE).save(out, "PNG", optimize=True)
    return out.getvalue()


# --- rendering ahead -----------------------------------------------------------------------------


def _in_the_background() -> None:
    """A drawing process gives way to the chat: lowest CPU priority, where the OS allows it."""
    with contextlib.suppress(AttributeError, OSError):
        os.nice(19)


class PictureBook:
    """Every exercise's animation, rendered once ahead of need and then kept in memory.

    `start()` renders in the background: in `workers` separate processes (so the drawing never
    holds this process's interpreter lock while chats are answered), or in one thread when
    `workers` is 0. `get(exercise_id)` never waits: it is None until that exercise is ready.
    With `folder`, the files are also cached there under the hash of their pose data, so a
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
                context = multiprocessing.get_context("spawn")  # no fork of a threaded process
                with ProcessPoolExecutor(
                    self.workers, mp_context=context, initializer=_in_the_background
                ) as pool:
                    futures = {
                        pool.submit(self._render, self.figures[exercise_id]): exercise_id
                        for exercise_id in missing
                    }
                    for future in as_completed(futures):
                        self._keep(self._stored(futures[future], future.result()))
            else:
                for exercise_id in missing:
                    data = self._render(self.figures[exercise_id])
                    self._keep(self._stored(exercise_id, data))
        except Exception:  # pictures are extra: the coach works without them
            log.exception("Rendering the exercise pictures failed")
        finally:
            self.done.set()

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
