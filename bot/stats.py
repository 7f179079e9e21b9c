"""`python -m bot stats`: anonymised totals for the operator.

Counts only: how many users, how many were active or trained lately, sessions, the stage
distribution, how often pain was reported and how many sessions were stopped for it. Nothing
that identifies anyone: no ids, chat ids, time zones, dates of a person, or free text.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sqlalchemy import Engine, distinct, func, inspect, make_url, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from bot.store import User, make_engine, unit_of_work
from conversations.records import Decision
from data.programme import Programme, ProgrammeError, load_programme

if TYPE_CHECKING:
    from bot.settings import Settings

RECENT = timedelta(days=7)


@dataclass(frozen=True)
class Stats:
    users: int = 0
    onboarded: int = 0
    inactive: int = 0  # blocked the bot
    active_recently: int = 0  # wrote to the coach in the last 7 days
    trained_recently: int = 0  # a session ended in the last 7 days
    sessions: int = 0
    completed: int = 0
    sessions_with_pain: int = 0
    safety_stops: int = 0
    safety_stops_recently: int = 0
    stages: dict[int, int] = field(default_factory=dict)

    @property
    def pain_share(self) -> float:
        return self.sessions_with_pain / self.sessions if self.sessions else 0.0


def collect(engine: Engine, now: datetime) -> Stats:
    """Every number of the report, read in one go."""
    since = now - RECENT
    tables = SQLModel.metadata.tables
    users = tables["users"]
    sessions, sets = tables["sessions"], tables["sets"]
    safety = sessions.c.decision == Decision.SAFETY_STOP.value
    count = func.count()
    with unit_of_work(engine) as db:

        def one(query: Any) -> int:
            return int(db.execute(query).scalar_one())

        stages = db.execute(
            select(users.c.stage, count)
            .where(users.c.onboarded.is_(True))
            .group_by(users.c.stage)
            .order_by(users.c.stage)
        ).all()
        return Stats(
            users=one(select(count).select_from(users)),
            onboarded=one(select(count).select_from(users).where(users.c.onboarded.is_(True))),
            inactive=one(select(count).select_from(users).where(users.c.active.is_(False))),
            active_recently=one(
                select(count).select_from(users).where(users.c.last_seen_at >= since)
            ),
            trained_recently=one(
                select(func.count(distinct(sessions.c.user_id))).where(
                    sessions.c.ended_at >= since
                )
            ),
            sessions=one(select(count).select_from(sessions)),
            completed=one(
                select(count).select_from(sessions).where(sessions.c.completed.is_(True))
            ),
            sessions_with_pain=one(
                select(func.count(distinct(sets.c.session_id))).where(
                    sets.c.pain_score.is_not(None)
                )
            ),
            safety_stops=one(select(count).select_from(sessions).where(safety)),
            safety_stops_recently=one(
                select(count).select_from(sessions).where(safety, sessions.c.ended_at >= since)
            ),
            stages={int(stage): int(number) for stage, number in stages},
        )


def render(stats: Stats, now: datetime, programme: Programme | None = None) -> str:
    """The report as plain text lines."""
    ended_early = stats.sessions - stats.completed
    lines = [
        f"Spine Coach, anonymised totals at {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
        f"Users: {stats.users} ({stats.onboarded} set up, {stats.inactive} blocked the bot)",
        f"Active in the last 7 days: {stats.active_recently}",
        f"Trained in the last 7 days: {stats.trained_recently}",
        f"Sessions: {stats.sessions} ({stats.completed} completed, {ended_early} ended early)",
        f"Sessions with pain reported: {stats.pain_share:.0%} "
        f"({stats.sessions_with_pain} of {stats.sessions})",
        f"Safety stops: {stats.safety_stops} ({stats.safety_stops_recently} in the last 7 days)",
        "Users by stage (set up):",
    ]
    stage_numbers = sorted(set(stats.stages) | _stage_numbers(programme))
    for number in stage_numbers:
        name = ""
        if programme is not None and 1 <= number <= programme.last_stage:
            name = f", {programme.stage(number).name}"
        lines.append(f"  Stage {number}{name}: {stats.stages.get(number, 0)}")
    return "\n".join(lines)


def _stage_numbers(programme: Programme | None) -> set[int]:
    return set() if programme is None else {s.number for s in programme.stages}


def main(settings: Settings, *, now: datetime | None = None, out: TextIO | None = None) -> int:
    """Print the report for the database in `settings`; 1 when it holds no coach data."""
    out = out or sys.stdout
    now = now or datetime.now(UTC)
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not Path(url.database).exists():  # reading must not create an empty file
            print("No Spine Coach data in this database yet.", file=sys.stderr)
            return 1
    engine = make_engine(settings.database_url, create=False)
    try:
        if not inspect(engine).has_table(User.__tablename__):
            print("No Spine Coach data in this database yet.", file=sys.stderr)
            return 1
        stats = collect(engine, now)
    except SQLAlchemyError as error:
        print(f"Could not read the database ({type(error).__name__}).", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    try:
        programme: Programme | None = load_programme()
    except ProgrammeError:
        programme = None
    print(render(stats, now, programme), file=out)
    return 0
