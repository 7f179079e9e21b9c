"""Sessions as a person meets them, at every stage's floor and ceiling: `python -m bench.sessions`.

Plays whole sessions through the pure coach (tests.coach_player: a reader who takes 20 s to read
and get ready before each Start and 1 s for every other answer; every set runs by its timers) and
prints, per stage, floor -> ceiling: user inputs, bot messages (edits of the live set message
apart), the most edits of one set, the minutes played and what the intro said. Each cell is the
worst case over every rotation of the stage's exercises, with and without the foundation hold.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import timedelta

from conversations.state import Coachee
from data.programme import Programme, default_programme
from schedules.progression import Position
from tests.coach_player import CoachPlayer, SessionCount

# COACHING.md, "Budget".
MAX_MINUTES = {1: 15, 2: 15, 3: 15, 4: 12}
MAX_INPUTS = 25
MAX_MESSAGES = 40


@dataclass(frozen=True)
class Cell:
    """The worst session of one stage at one end of its ladders."""

    inputs: int
    messages: int
    edits_per_set: int
    seconds: float
    intro_minutes: int

    @property
    def minutes(self) -> float:
        return self.seconds / 60


def _onboarded(programme: Programme) -> CoachPlayer:
    player = CoachPlayer(programme)
    player.onboard()
    return player


def play(
    programme: Programme, stage: int, *, ceiling: bool, rotation: int, foundation: bool
) -> SessionCount:
    """One session at this stage, every dose at its floor or ceiling."""
    player = _onboarded(programme)
    doses = {
        e.id: e.dose.ceiling if ceiling else e.dose.floor for e in programme.stage(stage).exercises
    }
    # sessions_in_stage 1 brings the foundation hold in later stages (every third session).
    position = Position(stage=stage, doses=doses, sessions_in_stage=1 if foundation else 2)
    state: Coachee = player.state
    activity = state.activity.model_copy(update={"total_sessions": rotation})
    player.state = state.model_copy(update={"position": position, "activity": activity})
    player.clock += timedelta(minutes=5)
    return player.count_session()


def cell(programme: Programme, stage: int, *, ceiling: bool) -> Cell:
    counts = [
        play(programme, stage, ceiling=ceiling, rotation=rotation, foundation=foundation)
        for rotation in range(len(programme.stage(stage).exercises))
        for foundation in ((False, True) if stage > 1 else (False,))
    ]
    return Cell(
        inputs=max(c.inputs for c in counts),
        messages=max(c.messages for c in counts),
        edits_per_set=max(max(c.edits_per_set) for c in counts),
        seconds=max(c.seconds for c in counts),
        intro_minutes=max(c.intro_minutes for c in counts),
    )


def table(programme: Programme) -> list[tuple[int, Cell, Cell]]:
    return [
        (
            stage.number,
            cell(programme, stage.number, ceiling=False),
            cell(programme, stage.number, ceiling=True),
        )
        for stage in programme.stages
    ]


def render(rows: list[tuple[int, Cell, Cell]]) -> str:
    lines = [
        "| stage, floor -> ceiling | user inputs | bot messages | edits per set "
        "| played minutes | intro says | budget (min / inputs / messages) |",
        "|---|---|---|---|---|---|---|",
    ]
    for number, floor, top in rows:
        lines.append(
            f"| {number} | {floor.inputs} -> {top.inputs} | {floor.messages} -> {top.messages} "
            f"| {floor.edits_per_set} -> {top.edits_per_set} "
            f"| {floor.minutes:.1f} -> {top.minutes:.1f} "
            f"| {floor.intro_minutes} -> {top.intro_minutes} "
            f"| {MAX_MINUTES[number]} / {MAX_INPUTS} / {MAX_MESSAGES} |"
        )
    return "\n".join(lines)


def within_budget(rows: list[tuple[int, Cell, Cell]]) -> bool:
    return all(
        c.minutes <= MAX_MINUTES[number] and c.inputs <= MAX_INPUTS and c.messages <= MAX_MESSAGES
        for number, *cells in rows
        for c in cells
    )


def main() -> int:
    rows = table(default_programme())
    print(render(rows))
    ok = within_budget(rows)
    print("every cell within the budget" if ok else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
