"""Reports from the stored history: the /progress chart and details, the /export files, the
weekly summary for the nudge, and what the terminal chat does with ShowProgress and ExportData.

Everything here reads the store and the programme and returns bytes or text; only
`carry_out_in_terminal` writes files. matplotlib is imported inside the chart function (Agg,
object-oriented API, no pyplot, no GUI), so importing this module stays cheap.

The export holds every row about the user from every table: `users` by id, any table with a
`user_id` column or a foreign key into a table already about the user, and any table keyed by
(platform, chat_id). Tables are discovered from `SQLModel.metadata`, so new ones are included
without touching this file. The CSV has ONE LINE PER SESSION, with the holds, sets, pain and
check-ins of that session counted up (per-hold, per-set and per-check-in rows are in the JSON):
that is what a spreadsheet or a clinician wants to scan.

The user-facing sentences are in data/messages.yaml, section `reports`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, and_, or_
from sqlalchemy import select as select_rows
from sqlmodel import Session, SQLModel

from bot.service import CoachService
from bot.store import (
    StoredUser,
    find_user,
    load_coachee,
    sessions_table,
    sets_table,
    unit_of_work,
    users,
)
from conversations.progress import to_advance_text
from conversations.replies import Effect, ExportData, ForgetUser, ShowProgress
from conversations.session_plan import dose_text
from data.programme import Exercise, Programme, default_programme
from schedules.local_time import local_date
from schedules.progression import (
    Answer,
    Decision,
    Feeling,
    current_doses,
)

log = logging.getLogger(__name__)

PROGRESS_PHOTO_NAME = "spine-coach-progress.png"
EXPORT_JSON_NAME = "spine-coach-export.json"
EXPORT_CSV_NAME = "spine-coach-sessions.csv"
EXPORT_FORMAT = "spine-coach-export/1"

# The chart: 8 x 5 in at 110 dpi is 880 x 550 px, sharp on a phone without being heavy.
CHART_INCHES = (8.0, 5.0)
CHART_DPI = 110
# Pain trend: the last few sessions against the few before them.
PAIN_WINDOW = 5


def say(key: str, **values: Any) -> str:
    """A report sentence from data/messages.yaml (section `reports`)."""
    return default_programme().messages.reports[key].format(**values)


# --- reading the history ------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionPoint:
    """One stored session, as the chart and the texts need it."""

    number: int
    local_date: date
    stage: int
    stage_after: int
    doses: dict[str, int]
    completed: bool
    safety_stop: bool
    max_pain: int | None
    extra_practice: bool = False


Db = Connection | Session


def _sessions(db: Db, user_id: int) -> list[Any]:
    """The user's session rows (attribute access by column name), oldest first."""
    query = (
        select_rows(sessions_table)
        .where(sessions_table.c.user_id == user_id)
        .order_by(sessions_table.c.started_at, sessions_table.c.id)
    )
    return list(db.execute(query).all())


def _max_pain(db: Db, user_id: int) -> dict[int, int]:
    query = select_rows(sets_table.c.session_id, sets_table.c.pain_score).where(
        sets_table.c.user_id == user_id
    )
    worst: dict[int, int] = {}
    for session_id, score in db.execute(query).all():
        if score is not None:
            worst[session_id] = max(score, worst.get(session_id, score))
    return worst


def _points(db: Db, user_id: int) -> list[SessionPoint]:
    pains = _max_pain(db, user_id)
    return [
        SessionPoint(
            number=number,
            local_date=row.local_date,
            stage=row.stage,
            stage_after=row.stage_after,
            doses=dict(row.doses),
            completed=row.completed,
            safety_stop=row.decision == Decision.SAFETY_STOP,
            max_pain=pains.get(row.id) if row.id is not None else None,
            extra_practice=row.reason == "extra_practice",
        )
        for number, row in enumerate(_sessions(db, user_id), 1)
    ]


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


def _short_date(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


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


# --- /progress details --------------------------------------------------------------------------


def _dose_words(exercise: Exercise, count: int) -> str:
    return dose_text(default_programme(), exercise.id, count)


def _pain_trend(points: Sequence[SessionPoint]) -> str:
    if not any(p.max_pain is not None for p in points):
        return say("pain_none_ever")
    recent = points[-PAIN_WINDOW:]
    before = points[-2 * PAIN_WINDOW : -PAIN_WINDOW] if len(points) > PAIN_WINDOW else []
    hurt = [p.max_pain for p in recent if p.max_pain is not None]
    hurt_before = sum(1 for p in before if p.max_pain is not None)
    if not hurt:
        return say("pain_none_recent", n=len(recent), before=hurt_before, m=len(before))
    trend = ""
    if before:
        if len(hurt) < hurt_before:
            trend = say("pain_fewer", m=len(before), before=hurt_before)
        elif len(hurt) > hurt_before:
            trend = say("pain_more", m=len(before), before=hurt_before)
        else:
            trend = say("pain_same", m=len(before))
    return say("pain_recent", r=len(hurt), n=len(recent), top=max(hurt), trend=trend)


def progress_details(service: CoachService, platform: str, chat_id: str) -> str:
    """What the core's progress text leaves out: sessions this week, each exercise's dose now
    against the start of the stage, and the pain trend. Empty for a user we don't know."""
    programme = service.programme
    with unit_of_work(service.engine) as db:
        user = find_user(db, platform, chat_id)
        if user is None:
            return ""
        coachee = load_coachee(db, user)
        points = _points(db, user.id)
    today = local_date(service.clock(), coachee.profile.zone)
    monday = today - timedelta(days=today.weekday())
    week = sum(1 for p in points if p.local_date >= monday)
    lines = [say("details_week", week=week, total=len(points))]
    extra = sum(1 for p in points if p.local_date >= monday and p.extra_practice)
    if extra:
        lines[0] += " " + say("details_extra", extra=extra)
    position = coachee.position
    if points and points[0].stage != position.stage:
        lines.append(
            say(
                "details_started",
                day=_short_date(points[0].local_date),
                first=points[0].stage,
                stage=position.stage,
            )
        )
    stage = programme.stage(position.stage)
    now = current_doses(programme, position)
    began = next((p.doses for p in points if p.stage == position.stage), {})
    lines.append(say("details_doses_head"))
    for exercise in stage.exercises:
        count = now[exercise.id]
        start = began.get(exercise.id, exercise.dose.floor)
        words = _dose_words(exercise, count)
        if start != count:
            lines.append(say("details_dose_up", name=exercise.name, now=words, start=start))
        else:
            lines.append(say("details_dose_same", name=exercise.name, now=words))
    lines.append(_pain_trend(points))
    return "\n".join(lines)


# --- /export ------------------------------------------------------------------------------------


def _import_every_model() -> None:
    """Tables register in SQLModel.metadata when their module is imported: import them all."""
    try:
        from bot.migrations.models import import_models
    except ImportError:  # pragma: no cover - a build without migrations
        return
    import_models()


def user_row_filters(user: StoredUser) -> dict[str, ColumnElement[bool]]:
    """For every table that holds rows about `user`, the condition that picks them out.

    Discovered from `SQLModel.metadata` (parents before children): `users` by id; a table with a
    `user_id` column by it; a table with a foreign key into a table already about the user, by
    that key; a table with `platform` and `chat_id` columns, by those."""
    _import_every_model()
    filters: dict[str, ColumnElement[bool]] = {}
    for table in SQLModel.metadata.sorted_tables:
        columns = set(table.c.keys())
        if table.name == users.name:
            filters[table.name] = table.c.id == user.id
            continue
        conditions: list[ColumnElement[bool]] = []
        if "user_id" in columns:
            conditions.append(table.c.user_id == user.id)
        for key in table.foreign_keys:
            parent = key.column.table
            if parent.name in filters and key.parent.name != "user_id":
                inner = select_rows(key.column).where(filters[parent.name])
                conditions.append(key.parent.in_(inner))
        if {"platform", "chat_id"} <= columns:
            conditions.append(
                and_(table.c.platform == user.platform, table.c.chat_id == user.chat_id)
            )
        if conditions:
            filters[table.name] = or_(*conditions)
    return filters


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def rows_about(db: Db, user: StoredUser) -> dict[str, list[dict[str, Any]]]:
    """Every row about `user`, table by table, as JSON-ready dicts in primary-key order."""
    tables: dict[str, Table] = dict(SQLModel.metadata.tables)
    found: dict[str, list[dict[str, Any]]] = {}
    for name, condition in user_row_filters(user).items():
        table = tables[name]
        query = select_rows(table).where(condition).order_by(*table.primary_key.columns)
        found[name] = [
            {k: _plain(v) for k, v in row._mapping.items()} for row in db.execute(query)
        ]
    return found


_CSV_COLUMNS = (
    "session",
    "date",
    "started_at_utc",
    "ended_at_utc",
    "minutes",
    "stage",
    "completed",
    "decision",
    "reason",
    "stage_after",
    "holds",
    "holds_ended_early",
    "seconds_held",
    "sets",
    "sets_steady",
    "sets_working",
    "sets_shaky",
    "sets_pain",
    "highest_pain",
    "pain_kinds",
    "checkins_yes",
    "checkins_no",
    "checkins_not_sure",
    "doses",
    "doses_after",
)


def _doses_text(doses: dict[str, Any]) -> str:
    return "; ".join(f"{exercise}={count}" for exercise, count in doses.items())


def sessions_csv(tables: dict[str, list[dict[str, Any]]]) -> bytes:
    """One line per session, its holds, sets, pain and check-ins counted up."""
    by_session: dict[Any, dict[str, list[dict[str, Any]]]] = {}
    for kind in ("holds", "sets", "checkins"):
        for row in tables.get(kind, []):
            by_session.setdefault(row["session_id"], {}).setdefault(kind, []).append(row)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(_CSV_COLUMNS)
    sessions = sorted(tables.get("sessions", []), key=lambda r: (r["started_at"], r["id"]))
    for number, row in enumerate(sessions, 1):
        parts = by_session.get(row["id"], {})
        holds, sets, checkins = (parts.get(k, []) for k in ("holds", "sets", "checkins"))
        scores = [s["pain_score"] for s in sets if s["pain_score"] is not None]
        started = datetime.fromisoformat(row["started_at"])
        ended = datetime.fromisoformat(row["ended_at"])
        answers = [c["answer"] for c in checkins]
        feelings = [s["feeling"] for s in sets]
        writer.writerow(
            (
                number,
                row["local_date"],
                row["started_at"],
                row["ended_at"],
                round((ended - started).total_seconds() / 60, 1),
                row["stage"],
                "yes" if row["completed"] else "no",
                row["decision"],
                row["reason"],
                row["stage_after"],
                len(holds),
                sum(1 for h in holds if h["ended_early"]),
                sum(h["held_seconds"] for h in holds),
                len(sets),
                feelings.count(Feeling.STEADY),
                feelings.count(Feeling.WORKING),
                feelings.count(Feeling.SHAKY),
                feelings.count(Feeling.PAIN),
                max(scores) if scores else "",
                " ".join(sorted({s["pain_kind"] for s in sets if s["pain_kind"]})),
                answers.count(Answer.YES),
                answers.count(Answer.NO),
                answers.count(Answer.NOT_SURE),
                _doses_text(row["doses"]),
                _doses_text(row["doses_after"]),
            )
        )
    return buffer.getvalue().encode("utf-8")


def export_documents(
    service: CoachService, platform: str, chat_id: str
) -> list[tuple[str, bytes]]:
    """/export: (file name, bytes) of the JSON of every stored row and the sessions CSV.
    Empty for a user we don't know."""
    with unit_of_work(service.engine) as db:
        user = find_user(db, platform, chat_id)
        if user is None:
            return []
        tables = rows_about(db, user)
    document = {
        "format": EXPORT_FORMAT,
        "about": (
            "Everything Spine Coach stores about you, table by table. Times are UTC; "
            "'local_date' is the day in your own time zone."
        ),
        "exported_at": service.clock().isoformat(),
        "tables": tables,
    }
    data = json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")
    return [(EXPORT_JSON_NAME, data), (EXPORT_CSV_NAME, sessions_csv(tables))]


# --- the weekly summary -------------------------------------------------------------------------


def week_summary(db: Db, user: StoredUser, today: date) -> str | None:
    """Last week in a few warm lines, for the nudge on the user's first training day of the
    week (`today` is the user's local date). None on any other day, on a second nudge the same
    day (after a snooze), for a user without settings, and when last week (Monday to Sunday)
    had no session: nothing to sum up, and no guilt either."""
    coachee = load_coachee(db, user)
    if coachee.activity.last_nudged_on == today:  # a snoozed nudge comes again
        return None
    days = sorted(coachee.profile.training_days)
    if not days or today.weekday() != days[0]:
        return None
    monday = today - timedelta(days=today.weekday() + 7)
    last_week = [
        row
        for row in _sessions(db, user.id)
        if monday <= row.local_date < monday + timedelta(days=7)
    ]
    if not last_week:
        return None
    programme = default_programme()
    count = len(last_week)
    stopped = sum(1 for row in last_week if not row.completed)
    lines = [
        say(
            "week_sessions",
            times=programme.messages.plural(count, "time"),
            stopped=say("week_stopped", stopped=stopped) if stopped else "",
        )
    ]
    steps = sum(1 for row in last_week if row.decision == Decision.DOSE_UP)
    advanced = [row.stage_after for row in last_week if row.decision == Decision.ADVANCE]
    step_word = programme.messages.plural(steps, "step")
    if advanced:
        stage = programme.stage(advanced[-1])
        key = "week_advanced_and_up" if steps else "week_advanced"
        values = {"stage": stage.number, "stage_name": stage.name}
        lines.append(say(key, steps=step_word, **values))
    elif steps:
        lines.append(say("week_dose_up", steps=step_word))
    elif any(row.decision in (Decision.STEP_BACK, Decision.SAFETY_STOP) for row in last_week):
        lines.append(say("week_eased"))
    else:
        lines.append(say("week_kept"))
    position = coachee.position
    lines.append(say("week_next", next=to_advance_text(programme, position, today)))
    return "\n".join(lines)


# --- the terminal chat --------------------------------------------------------------------------


def _write(path: Path, data: bytes, key: str = "terminal_saved") -> str:
    try:
        path.write_bytes(data)
    except OSError as error:
        return say("terminal_not_written", path=path, why=error.strerror or error)
    return say(key, path=path)


def carry_out_in_terminal(
    service: CoachService, chat_id: str, effect: Effect, folder: Path
) -> list[str]:
    """What the terminal chat does for ShowProgress, ExportData and ForgetUser: writes the
    files into `folder` and returns the lines to print (each already starting "Coach: ").
    Any other effect: nothing, so the caller can pass every effect through."""
    from bot.terminal import PLATFORM

    lines: list[str] = []
    if isinstance(effect, ShowProgress):
        try:
            png = progress_photo(service, PLATFORM, chat_id)
        except Exception:  # the facts still come as text below
            log.exception("the progress chart could not be drawn")
            png = None
        if png is not None:
            lines.append(_write(folder / PROGRESS_PHOTO_NAME, png, "terminal_chart"))
        details = progress_details(service, PLATFORM, chat_id)
        if details:
            lines.append(details)
    elif isinstance(effect, ExportData):
        for name, data in export_documents(service, PLATFORM, chat_id):
            lines.append(_write(folder / name, data))
    elif isinstance(effect, ForgetUser):
        # The rows are gone; the files this chat wrote about the user go too.
        for name in (PROGRESS_PHOTO_NAME, EXPORT_JSON_NAME, EXPORT_CSV_NAME):
            path = folder / name
            if path.exists():
                path.unlink()
                lines.append(say("terminal_forgotten_files", path=path))
    return [f"Coach: {line}" for line in lines]
