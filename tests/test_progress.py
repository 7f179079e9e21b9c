"""/progress: the chart (a real PNG for 0, 1 and 60 sessions), the details text, what it takes
to advance said exactly, the weekly summary, and the terminal's files."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlmodel import Session

from bot.reports import (
    CHART_DPI,
    CHART_INCHES,
    EXPORT_CSV_NAME,
    EXPORT_JSON_NAME,
    PROGRESS_PHOTO_NAME,
    SessionPoint,
    _dodged,
    _family_series,
    _pain_trend,
    carry_out_in_terminal,
    exercise_family,
    progress_details,
    progress_photo,
    week_summary,
)
from bot.service import CoachService
from bot.store import find_user, unit_of_work
from conversations.coach import progress_text
from conversations.flow import Ctx
from conversations.progress import to_advance_text
from conversations.replies import CancelHoldTimer, ExportData, ForgetUser, ShowProgress
from conversations.state import Coachee
from data.programme import default_programme
from schedules.local_time import local_date
from schedules.progression import Position, stage_doses, to_advance
from tests.history_helpers import (
    PLATFORM,
    STEADY,
    Day,
    History,
    TestClock,
    new_service,
    user_with_sessions,
)

ROOT = Path(__file__).resolve().parent.parent
PROGRAMME = default_programme()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WIDTH, HEIGHT = (round(side * CHART_DPI) for side in CHART_INCHES)
TODAY = date(2026, 11, 25)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def assert_valid_png(data: bytes) -> Image.Image:
    assert png_size(data) == (WIDTH, HEIGHT)
    Image.open(io.BytesIO(data)).verify()  # checks every chunk's CRC
    image = Image.open(io.BytesIO(data))
    image.load()  # decodes every pixel
    return image


def today_of(service: CoachService, chat_id: str) -> date:
    state = service.state_of(PLATFORM, chat_id)
    assert state is not None
    return local_date(service.clock(), state.profile.zone)


@pytest.fixture(scope="module")
def sixty(tmp_path_factory: pytest.TempPathFactory) -> tuple[CoachService, TestClock]:
    """One user, "sam", with 60 varied sessions over about ten weeks."""
    service, clock = new_service(tmp_path_factory.mktemp("sixty"))
    user_with_sessions(service, clock, "sam", 60, real=False)
    return service, clock


# --- the chart ----------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1])
def test_the_chart_is_a_valid_png_for_few_sessions(tmp_path: Path, count: int) -> None:
    service, clock = new_service(tmp_path)
    user_with_sessions(service, clock, "ann", count)
    png = progress_photo(service, PLATFORM, "ann")
    assert png is not None
    (tmp_path / f"chart-{count}.png").write_bytes(png)
    image = assert_valid_png(png)
    assert len(image.convert("RGB").getcolors(1 << 16) or ()) > 10  # text and axes, not blank


def test_the_chart_is_a_valid_png_for_sixty_sessions(
    sixty: tuple[CoachService, TestClock], tmp_path: Path
) -> None:
    service, _clock = sixty
    png = progress_photo(service, PLATFORM, "sam")
    assert png is not None
    (tmp_path / "chart-60.png").write_bytes(png)
    image = assert_valid_png(png).convert("RGB")
    colours: set[tuple[int, int, int]] = {
        colour  # type: ignore[misc]
        for _, colour in image.getcolors(1 << 20) or ()
    }
    red = [c for c in colours if c[0] > 200 and c[1] < 110 and c[2] < 100]
    assert red, "the pain markers are drawn"
    assert len(colours) > 200


def test_no_chart_for_a_stranger(tmp_path: Path) -> None:
    service, _clock = new_service(tmp_path)
    assert progress_photo(service, PLATFORM, "nobody") is None
    assert progress_details(service, PLATFORM, "nobody") == ""


def test_chart_lines_hold_only_each_stages_own_exercises(
    sixty: tuple[CoachService, TestClock],
) -> None:
    service, _clock = sixty
    with unit_of_work(service.engine) as db:
        from bot.reports import _points

        user = find_user(db, PLATFORM, "sam")
        assert user is not None
        assert user.id is not None
        points = _points(db, user.id)
    assert any("s1-dead-bug" in p.doses for p in points if p.stage > 1), "foundation holds"
    series = _family_series(PROGRAMME, points)
    assert {stage for _, stage in series} == {1, 2, 3, 4}
    long_lever = PROGRAMME.exercise("s4-dead-bug-long-lever")
    _, work = series[("dead-bug", 4)]
    assert set(work) <= {n * long_lever.seconds for n in range(1, 11)}


@pytest.mark.parametrize(
    ("exercise_id", "family"),
    [
        ("s1-dead-bug", "dead-bug"),
        ("s2-dead-bug-heel-tap", "dead-bug"),
        ("s1-side-plank-knees", "side-plank"),
        ("s2-plank-arm-lift", "plank-arm-lift"),
        ("s4-back-extension-reach", "back-extension"),
        ("s3-cat-cow-rock-back", "cat-cow"),
        ("s9-something-new", "something-new"),
    ],
)
def test_exercise_family(exercise_id: str, family: str) -> None:
    assert exercise_family(exercise_id) == family


def test_every_exercise_of_the_programme_has_a_known_family() -> None:
    from bot.reports import FAMILIES

    for stage in PROGRAMME.stages:
        for exercise in stage.exercises:
            assert exercise_family(exercise.id) in FAMILIES, exercise.id


def test_identical_lines_are_set_apart_and_others_left_alone() -> None:
    series = {
        ("dead-bug", 1): ([1, 2], [30, 50]),
        ("side-plank", 1): ([1, 2], [30, 50]),
        ("cat-cow", 1): ([1, 2], [40, 50]),
    }
    shifts = {key: shift for key, _, shift in _dodged(series)}
    assert shifts[("cat-cow", 1)] == 0
    assert shifts[("dead-bug", 1)] == -shifts[("side-plank", 1)] != 0


def test_importing_reports_loads_no_matplotlib_and_the_chart_no_pyplot() -> None:
    code = (
        "import sys\n"
        "import bot.reports as r\n"
        "assert 'matplotlib' not in sys.modules, 'imported at start-up'\n"
        "from data.programme import default_programme\n"
        "png = r.chart_png(default_programme(), [])\n"
        "assert png.startswith(b'\\x89PNG')\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


# --- the details text ---------------------------------------------------------------------------


def test_details_of_a_new_user(tmp_path: Path) -> None:
    service, clock = new_service(tmp_path)
    user_with_sessions(service, clock, "ann", 0)
    text = progress_details(service, PLATFORM, "ann")
    assert text.splitlines()[0] == "Sessions this week: 0 (since Monday). In total: 0."
    assert "• Dead bug hold: 3 holds of 10 s (where this stage began)" in text
    assert "• Side plank from the knees: 3 holds of 10 s each side" in text
    assert text.splitlines()[-1] == "Pain: none reported in any session so far."


def test_details_show_the_week_the_doses_against_the_start_and_pain(tmp_path: Path) -> None:
    service, clock = new_service(tmp_path)  # onboarded on a Monday; trains Tue, Wed, Thu
    days = [STEADY, Day(pain=(3, "dull"), pain_on_set=2), STEADY]
    user_with_sessions(service, clock, "ann", 3, days=days)
    text = progress_details(service, PLATFORM, "ann")
    lines = text.splitlines()
    assert lines[0] == "Sessions this week: 3 (since Monday). In total: 3."
    assert "• Dead bug hold: 5 holds of 10 s (began at 3)" in lines
    assert "• Segmental cat-cow: 6 slow reps of about 10 s (began at 4)" in lines
    assert lines[-1] == "Pain: in 1 of your last 3 sessions (highest 3/10)."
    clock.move(days=4)  # next Monday: a new week
    assert progress_details(service, PLATFORM, "ann").startswith("Sessions this week: 0 ")


def test_details_after_sixty_sessions(sixty: tuple[CoachService, TestClock]) -> None:
    service, _clock = sixty
    text = progress_details(service, PLATFORM, "sam")
    assert "In total: 60." in text
    assert "You began on 24 Nov 2026 at stage 1; you're at stage 4 now." in text
    assert sum(1 for line in text.splitlines() if line.startswith("• ")) == len(
        PROGRAMME.stage(4).exercises
    )
    assert "Pain: none in your last 5 sessions, after 1 of the 5 before." in text


def points_with_pain(*pains: int | None) -> list[SessionPoint]:
    return [SessionPoint(n, TODAY, 1, 1, {}, True, False, pain) for n, pain in enumerate(pains, 1)]


@pytest.mark.parametrize(
    ("pains", "said"),
    [
        ((None, None), "Pain: none reported in any session so far."),
        ((3, None, None), "Pain: in 1 of your last 3 sessions (highest 3/10)."),
        (
            (4, 3, None, None, None, None, 2, None, None, None),
            "Pain: in 1 of your last 5 sessions (highest 2/10), fewer than in the 5 before (2).",
        ),
        (
            (None,) * 5 + (1, None, 3, None, None),
            "Pain: in 2 of your last 5 sessions (highest 3/10), more than in the 5 before (0).",
        ),
        (
            (2,) + (None,) * 5 + (4,) + (None,) * 3,
            "Pain: in 1 of your last 5 sessions (highest 4/10), as in the 5 before.",
        ),
        ((5,) + (None,) * 5, "Pain: none in your last 5 sessions, after 1 of the 1 before."),
    ],
)
def test_pain_trend(pains: tuple[int | None, ...], said: str) -> None:
    assert _pain_trend(points_with_pain(*pains)) == said


# --- what it takes to advance -------------------------------------------------------------------

STEADY_MEANS = "Steady: form held, no pain, and most sets felt steady."


def test_one_session_from_advancing_says_exactly_what_is_missing(tmp_path: Path) -> None:
    service, clock = new_service(tmp_path)
    history = user_with_sessions(service, clock, "ann", 13, days=[STEADY] * 13)
    state = service.state_of(PLATFORM, "ann")
    assert state is not None
    position = state.position
    today = today_of(service, "ann")
    assert today in position.ceiling_clean_dates

    assert to_advance_text(PROGRAMME, position, today) == (
        "To reach stage 2, Add movement: 1 more steady session at this dose, on another day "
        f"than today. {STEADY_MEANS}"
    )
    tomorrow = today + timedelta(days=1)
    assert to_advance_text(PROGRAMME, position, tomorrow) == (
        f"To reach stage 2, Add movement: 1 more steady session at this dose. {STEADY_MEANS}"
    )

    clock.move(hours=1)  # the same day again: it does not advance, as said
    history.session(STEADY)
    assert history.state is not None
    assert history.state.position.stage == 1
    clock.move(days=1)  # another day: it does
    history.session(STEADY)
    assert history.state.position.stage == 2


def ceiling(stage: int = 1, **changes: object) -> Position:
    """At the top dose, in a stage begun long enough ago that its 14 days are not what is
    missing (unless a test says otherwise)."""
    doses = {e.id: e.dose.ceiling for e in PROGRAMME.stage(stage).exercises}
    position = Position(stage=stage, doses=doses, stage_started_on=TODAY - timedelta(days=30))
    return position.model_copy(update=changes)


@pytest.mark.parametrize(
    ("position", "needs"),
    [
        (
            Position(stage=1, doses=stage_doses(PROGRAMME, 1)),
            "14 more steady sessions: 3 to work up to the top dose, then 11 at the top dose, "
            "with 14 days still to go in this stage",
        ),
        (
            Position(
                stage=1,
                doses=stage_doses(PROGRAMME, 1),
                stage_started_on=TODAY - timedelta(days=30),
            ),
            "5 more steady sessions: 3 to work up to the top dose, then 2 at the top dose, on 2 "
            "different days",
        ),
        (
            Position(
                stage=1,
                doses={e.id: e.dose.down(e.dose.ceiling) for e in PROGRAMME.stage(1).exercises},
                stage_started_on=TODAY - timedelta(days=30),
            ),
            "5 more steady sessions: 1 to work up to the top dose, then 4 at the top dose, on at "
            "least 2 different days (this stage asks for at least 5 sessions)",
        ),
        (ceiling(sessions_in_stage=5), "2 more steady sessions at this dose, on 2 different days"),
        (
            ceiling(sessions_in_stage=2, ceiling_clean_dates=(TODAY - timedelta(days=1),)),
            "3 more steady sessions at this dose (this stage asks for at least 5 sessions)",
        ),
        (
            ceiling(
                sessions_in_stage=4,
                ceiling_clean_dates=(TODAY - timedelta(days=1),),
                hold_back_sessions=1,
            ),
            "2 more steady sessions at this dose (the next one repeats this dose, as your back "
            "felt worse)",
        ),
        (
            ceiling(
                sessions_in_stage=6,
                ceiling_clean_dates=(TODAY - timedelta(days=2), TODAY - timedelta(days=1)),
            ),
            "1 more steady session at this dose",
        ),
    ],
)
def test_what_it_takes_in_plain_words(position: Position, needs: str) -> None:
    assert to_advance_text(PROGRAMME, position, TODAY) == (
        f"To reach stage 2, Add movement: {needs}. {STEADY_MEANS}"
    )


def test_the_last_stage_and_a_pause_have_nothing_to_count() -> None:
    assert to_advance(PROGRAMME, ceiling(4), TODAY) is None
    assert to_advance_text(PROGRAMME, ceiling(4), TODAY).startswith("This is the last stage")
    paused = ceiling(1, safety_paused=True)
    assert to_advance_text(PROGRAMME, paused, TODAY).startswith("Training is paused")


@st.composite
def positions(draw: st.DrawFn) -> Position:
    stage = draw(st.integers(1, PROGRAMME.last_stage - 1))
    steps_down = draw(st.integers(0, 4))
    doses = {}
    for exercise in PROGRAMME.stage(stage).exercises:
        count = exercise.dose.ceiling
        for _ in range(steps_down):
            count = exercise.dose.down(count)
        doses[exercise.id] = count
    at_top = all(doses[e.id] >= e.dose.ceiling for e in PROGRAMME.stage(stage).exercises)
    dates: tuple[date, ...] = ()
    if at_top:
        back = draw(st.sets(st.integers(0, 5), max_size=3))
        dates = tuple(sorted(TODAY - timedelta(days=d) for d in back))
    return Position(
        stage=stage,
        doses=doses,
        stage_started_on=TODAY - timedelta(days=30),
        sessions_in_stage=draw(st.integers(0, 9)),
        ceiling_clean_dates=dates,
        hold_back_sessions=draw(st.integers(0, 1)),
    )


@settings(max_examples=200, deadline=None)
@given(positions())
def test_the_count_follows_from_the_rules(position: Position) -> None:
    """The simulated count (decide on steady sessions, one a day) equals what the rules table
    implies: held-back sessions, then the dose steps to the top, then the clean days at the top
    (at least one session there), and never fewer than the stage's minimum of sessions."""
    needs = to_advance(PROGRAMME, position, TODAY)
    assert needs is not None
    stage = PROGRAMME.stage(position.stage)
    by_count = stage.min_sessions - position.sessions_in_stage
    path = needs.held_back + needs.steps_to_top + max(1, needs.days_at_top)
    assert needs.sessions == max(by_count, path)
    assert needs.by_count == (by_count > path)
    assert to_advance_text(PROGRAMME, position, TODAY).startswith(
        f"To reach stage {stage.number + 1}"
    )


# The core's /progress text (conversations/coach.py) says the same, exactly.


def core_progress(position: Position, today: date) -> str:
    noon = datetime.combine(today, time(12), tzinfo=UTC)
    return progress_text(Coachee(position=position), Ctx(PROGRAMME, noon))


def test_core_progress_text_says_exactly_what_is_missing() -> None:
    position = ceiling(sessions_in_stage=5, ceiling_clean_dates=(TODAY,))
    assert to_advance_text(PROGRAMME, position, TODAY) in core_progress(position, TODAY)


def test_core_counts_a_held_back_session() -> None:
    position = ceiling(
        sessions_in_stage=4, ceiling_clean_dates=(TODAY - timedelta(days=1),), hold_back_sessions=1
    )
    needs = to_advance(PROGRAMME, position, TODAY)
    assert needs is not None
    assert needs.sessions == 2


def test_core_promises_no_next_stage_on_the_last_one() -> None:
    said = core_progress(ceiling(4, sessions_in_stage=1), TODAY)
    assert "To reach stage" not in said
    assert "This is the last stage" in said


# --- the weekly summary -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> tuple[CoachService, TestClock]:
    """ "ann" set up on Monday 23 Nov 2026, steady every day Tue to Sun; "new" never trained."""
    service, clock = new_service(tmp_path_factory.mktemp("week"))
    user_with_sessions(service, clock, "ann", 6, days=[STEADY] * 6)
    History(service, "new", clock).onboard()
    return service, clock


def summary_on(service: CoachService, chat_id: str, today: date) -> str | None:
    with unit_of_work(service.engine) as db:
        user = find_user(db, PLATFORM, chat_id)
        assert user is not None
        return week_summary(db, user, today)


def test_week_summary_on_the_first_training_day(week: tuple[CoachService, TestClock]) -> None:
    service, _clock = week
    text = summary_on(service, "ann", date(2026, 11, 30))
    assert text is not None
    lines = text.splitlines()
    assert lines[0] == "Last week you trained 6 times. Nice work."
    # At the top dose after three steps; stage 1 lasts two weeks, so no new stage yet.
    assert lines[1] == "What improved: your doses went up 3 steps."
    assert lines[2].startswith("What comes next: To reach stage 2, Add movement: 8 ")


def test_no_week_summary_on_other_days_without_history_or_after_a_quiet_week(
    week: tuple[CoachService, TestClock],
) -> None:
    service, _clock = week
    assert summary_on(service, "ann", date(2026, 12, 1)) is None  # a Tuesday
    assert summary_on(service, "new", date(2026, 11, 30)) is None  # never trained
    assert summary_on(service, "ann", date(2026, 12, 7)) is None  # nothing last week


def test_no_second_week_summary_after_a_snooze(week: tuple[CoachService, TestClock]) -> None:
    service, _clock = week
    monday = date(2026, 11, 30)
    with Session(service.engine) as db:  # never committed
        user = find_user(db, PLATFORM, "ann")
        assert user is not None
        assert week_summary(db, user, monday) is not None
        # The first nudge went out; this one is after a snooze.
        activity = user.coachee.activity.model_copy(update={"last_nudged_on": monday})
        user.coachee = user.coachee.model_copy(update={"activity": activity})
        assert week_summary(db, user, monday) is None


def test_week_summary_waits_for_the_users_first_training_day(tmp_path: Path) -> None:
    service, clock = new_service(tmp_path)
    answers = ("/start", "No", "No", "2", "A little", "tue thu", "07:00", "UTC")
    history = History(service, "tt", clock).onboard(answers)
    clock.move(days=1)  # Tuesday 24 Nov
    history.session(Day(stop_after_sets=1))
    clock.move(days=2)
    history.session(Day(feeling="working"))
    assert summary_on(service, "tt", date(2026, 11, 30)) is None  # Monday: not a training day
    text = summary_on(service, "tt", date(2026, 12, 1))
    assert text is not None
    assert text.startswith("Last week you trained 2 times (1 ended early). Nice work.\n")
    assert "You kept your doses steady" in text


# --- the terminal chat --------------------------------------------------------------------------


def test_terminal_writes_the_chart_and_prints_its_path_and_the_details(tmp_path: Path) -> None:
    service, clock = new_service(tmp_path)
    history = History(service, "local", clock, platform="terminal")
    history.onboard()
    history.session()
    lines = carry_out_in_terminal(service, "local", ShowProgress(), tmp_path)
    chart = tmp_path / PROGRESS_PHOTO_NAME
    assert lines[0] == f"Coach: Your progress chart is in {chart}"
    assert_valid_png(chart.read_bytes())
    assert lines[1].startswith("Coach: Sessions this week: 1 (since Monday). In total: 1.")

    lines = carry_out_in_terminal(service, "local", ExportData(), tmp_path)
    assert lines == [
        f"Coach: Saved {tmp_path / EXPORT_JSON_NAME}",
        f"Coach: Saved {tmp_path / EXPORT_CSV_NAME}",
    ]
    assert b'"chat_id": "local"' in (tmp_path / EXPORT_JSON_NAME).read_bytes()
    assert len((tmp_path / EXPORT_CSV_NAME).read_text().splitlines()) == 2

    assert carry_out_in_terminal(service, "local", CancelHoldTimer(), tmp_path) == []
    lines = carry_out_in_terminal(service, "local", ForgetUser(), tmp_path)
    assert len(lines) == 3
    assert not any(tmp_path.glob("spine-coach-*"))


def test_terminal_says_so_when_a_file_cannot_be_written(tmp_path: Path) -> None:
    service, clock = new_service(tmp_path)
    History(service, "local", clock, platform="terminal").onboard()
    missing = tmp_path / "no-such-folder"
    lines = carry_out_in_terminal(service, "local", ExportData(), missing)
    assert len(lines) == 2
    assert all(line.startswith("Coach: I couldn't write") for line in lines)


def test_terminal_gives_the_facts_when_the_chart_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, clock = new_service(tmp_path)
    History(service, "local", clock, platform="terminal").onboard()

    def broken(*_: object) -> bytes:
        raise RuntimeError("no chart today")

    monkeypatch.setattr("bot.reports.chart_png", broken)
    lines = carry_out_in_terminal(service, "local", ShowProgress(), tmp_path)
    assert len(lines) == 1
    assert lines[0].startswith("Coach: Sessions this week: 0")
