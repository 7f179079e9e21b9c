"""The /progress chart: one line per exercise family over the sessions, stages marked.

matplotlib is imported inside the drawing function (Agg, object-oriented API, no pyplot, no GUI),
so importing this module stays cheap."""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from bot.reports.history import SessionPoint, _points, _short_date, say
from bot.service import CoachService
from bot.store.db import (
    find_user,
    unit_of_work,
)
from data.programme import Programme

PROGRESS_PHOTO_NAME = "spine-coach-progress.png"

# The chart: 8 x 5 in at 110 dpi is 880 x 550 px, sharp on a phone without being heavy.
CHART_INCHES = (8.0, 5.0)
CHART_DPI = 110


# --- the chart ----------------------------------------------------------------------------------

# Exercise families, by the programme's id convention "s<stage>-<family>[-variant]".
FAMILIES = (
    "dead-bug",
    "side-plank",
    "chest-lift",
    "swimmers",
    "cat-cow",
    "plank-arm-lift",
    "back-extension",
    "rotation",
)
_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)


def exercise_family(exercise_id: str) -> str:
    """The exercise a variant belongs to across stages: "s2-dead-bug-heel-tap" -> "dead-bug"."""
    _, _, rest = exercise_id.partition("-")
    for family in FAMILIES:
        if rest == family or rest.startswith(family + "-"):
            return family
    return rest or exercise_id


def _family_label(family: str) -> str:
    return family.replace("-", " ").capitalize()


def _work_seconds(programme: Programme, exercise_id: str, count: int) -> int | None:
    try:
        return count * programme.exercise(exercise_id).seconds
    except KeyError:
        return None  # an exercise no longer in the programme: leave it out of the chart


_DRAWING = threading.Lock()
Series = dict[tuple[str, int], tuple[list[int], list[int]]]
# Lines that would lie exactly on top of each other are drawn this many points apart.
DODGE_POINTS = 2.6


def _family_series(programme: Programme, points: Sequence[SessionPoint]) -> Series:
    """Seconds of work per set, by (exercise family, stage): one line segment each. Only the
    stage's own exercises count; an easy foundation hold from an earlier stage does not."""
    series: Series = {}
    for point in points:
        try:
            own = {e.id for e in programme.stage(point.stage).exercises}
        except IndexError:
            continue
        for exercise_id, count in point.doses.items():
            work = _work_seconds(programme, exercise_id, count)
            if exercise_id in own and work is not None:
                xs, ys = series.setdefault((exercise_family(exercise_id), point.stage), ([], []))
                xs.append(point.number)
                ys.append(work)
    return series


def _dodged(series: Series) -> list[tuple[tuple[str, int], tuple[list[int], list[int]], float]]:
    """Each segment with a small vertical shift (in points) that sets identical ones apart."""
    groups: dict[tuple[int, tuple[int, ...], tuple[int, ...]], list[tuple[str, int]]] = {}
    for key, (xs, ys) in series.items():
        groups.setdefault((key[1], tuple(xs), tuple(ys)), []).append(key)
    shifted = []
    for same in groups.values():
        same.sort(key=lambda k: FAMILIES.index(k[0]) if k[0] in FAMILIES else len(FAMILIES))
        for rank, key in enumerate(same):
            shift = (rank - (len(same) - 1) / 2) * DODGE_POINTS
            shifted.append((key, series[key], -shift))
    return shifted


def chart_png(programme: Programme, points: Sequence[SessionPoint]) -> bytes:
    """The progress chart as PNG bytes: seconds of work per set for each exercise, session by
    session (a line per exercise family, broken at stage changes), the pain scores the user
    reported on a second axis, and a dashed line where a new stage began. Adapters may call
    this from worker threads; matplotlib is not thread-safe, so one chart is drawn at a time."""
    with _DRAWING:
        return _draw(programme, points)


def warm_up_chart(programme: Programme) -> bytes:
    """Draw one chart of a made-up two-session history and throw it away. Importing matplotlib
    and drawing its first figure (fonts, the Agg canvas) takes seconds; adapters call this in a
    worker thread at start-up, so the first user's /progress does not pay for it."""
    stage = programme.stage(1)
    doses = {exercise.id: exercise.dose.floor for exercise in stage.exercises}
    day = date(2026, 1, 5)
    points = [
        SessionPoint(n, day + timedelta(days=n), 1, 1, doses, True, False, None) for n in (1, 2)
    ]
    return chart_png(programme, points)


def _draw(programme: Programme, points: Sequence[SessionPoint]) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator
    from matplotlib.transforms import offset_copy

    figure = Figure(figsize=CHART_INCHES, dpi=CHART_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(say("chart_title"), fontsize=14, loc="left")
    axes.set_ylabel(say("chart_y"), fontsize=11)
    axes.grid(axis="y", alpha=0.3)
    pain_axes = axes.twinx()
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    pain_axes.set_ylim(0, 10.6)
    pain_axes.set_yticks(range(0, 11, 2))
    pain_axes.set_ylabel(say("chart_y2"), color="#c0392b", fontsize=11)
    pain_axes.tick_params(axis="y", colors="#c0392b")

    if not points:
        axes.set_xlim(0.5, 5.5)
        axes.set_ylim(0, 100)
        axes.set_xlabel(say("chart_x"), fontsize=11)
        axes.text(0.5, 0.5, say("chart_empty"), transform=axes.transAxes, ha="center", fontsize=13)
        return _png(figure)

    handles: list[Line2D] = []
    series = _family_series(programme, points)
    order = sorted(
        {family for family, _ in series},
        key=lambda f: (FAMILIES.index(f) if f in FAMILIES else len(FAMILIES), f),
    )
    colours = {family: _COLOURS[i % len(_COLOURS)] for i, family in enumerate(order)}
    marker = 5 if len(points) <= 20 else 2.5
    for (family, _stage), (xs, ys), shift in _dodged(series):
        where = offset_copy(axes.transData, fig=figure, y=shift, units="points")
        axes.plot(
            xs,
            ys,
            color=colours[family],
            linewidth=2,
            marker="o",
            markersize=marker,
            transform=where,
        )
    for family in order:
        handles.append(
            Line2D(
                [], [], color=colours[family], linewidth=2, marker="o", label=_family_label(family)
            )
        )

    pained = [p for p in points if p.max_pain is not None and not p.safety_stop]
    if pained:
        pain_axes.scatter(
            [p.number for p in pained],
            [p.max_pain or 0 for p in pained],
            s=45,
            color="#e74c3c",
            edgecolors="white",
            zorder=5,
        )
        handles.append(_marker_handle("o", "#e74c3c", say("chart_pain")))
    stops = [p for p in points if p.safety_stop]
    if stops:
        pain_axes.scatter(
            [p.number for p in stops],
            [p.max_pain if p.max_pain is not None else 10 for p in stops],
            s=110,
            marker="X",
            color="#8e0000",
            zorder=6,
        )
        handles.append(_marker_handle("X", "#8e0000", say("chart_safety_stop")))

    _mark_stages(axes, points)
    first, last = points[0].local_date, points[-1].local_date
    label = say("chart_x_dates", first=_short_date(first), last=_short_date(last))
    if first == last:
        label = say("chart_x_date", first=_short_date(first))
    axes.set_xlabel(label, fontsize=11)
    axes.set_xlim(0.5, max(5.5, points[-1].number + 0.5))
    top = max((max(ys) for _, ys in series.values()), default=10)
    axes.set_ylim(0, top * 1.15)  # head room for the stage labels
    figure.legend(
        handles=handles,
        loc="outside lower center",
        ncols=min(5, len(handles)),
        fontsize=9,
        frameon=False,
    )
    return _png(figure)


def _marker_handle(marker: str, colour: str, label: str) -> Any:
    from matplotlib.lines import Line2D

    return Line2D([], [], linestyle="", marker=marker, color=colour, markersize=8, label=label)


def _mark_stages(axes: Any, points: Sequence[SessionPoint]) -> None:
    from matplotlib.transforms import blended_transform_factory

    where = blended_transform_factory(axes.transData, axes.transAxes)
    style = {"transform": where, "va": "top", "fontsize": 9, "color": "#444444"}
    axes.text(points[0].number - 0.4, 0.98, say("chart_stage", stage=points[0].stage), **style)
    for point in points:
        if point.stage_after != point.stage:
            x = point.number + 0.5
            axes.axvline(x, color="#555555", linestyle="--", linewidth=1.2)
            axes.text(x + 0.2, 0.98, say("chart_stage", stage=point.stage_after), **style)


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=CHART_DPI, facecolor="white")
    return buffer.getvalue()


def progress_photo(service: CoachService, platform: str, chat_id: str) -> bytes | None:
    """The /progress chart as PNG bytes, or None for a user we don't know."""
    with unit_of_work(service.engine) as db:
        user = find_user(db, platform, chat_id)
        if user is None:
            return None
        points = _points(db, user.id)
    return chart_png(service.programme, points)
