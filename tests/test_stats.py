"""`python -m bot stats`: the operator's anonymised totals, and nothing that identifies anyone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.__main__ import main as bot_main
from bot.service import CoachService
from bot.stats import Stats, collect, render
from data.programme import default_programme
from tests.history_helpers import (
    Day,
    History,
    TestClock,
    copy_service,
    new_service,
    user_with_sessions,
)

ANN_DAYS = [
    Day(),
    Day(pain=(3, "dull"), pain_on_set=2),
    Day(stop_after_sets=1),
    Day(pain=(7, "dull"), pain_on_set=1),
    Day(),
    Day(),
]
SECRET_CHATS = ("chat-739104", "chat-552817", "chat-118273", "chat-904455")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[CoachService, TestClock]:
    """Four users: a mixed history, two steady sessions, set up but never trained, and one who
    only said hello. One lives in Berlin."""
    service, clock = new_service(tmp_path_factory.mktemp("stats"))
    user_with_sessions(service, clock, SECRET_CHATS[0], len(ANN_DAYS), days=ANN_DAYS)
    user_with_sessions(service, clock, SECRET_CHATS[1], 2, days=[Day(), Day()])
    berlin = ("/start", "No", "No", "2", "A little", "Every day", "07:00", "Europe/Berlin")
    History(service, SECRET_CHATS[2], clock).onboard(berlin)
    tokyo = History(service, SECRET_CHATS[3], clock)
    tokyo.send("/start")
    return service, clock


@pytest.fixture
def world(
    template: tuple[CoachService, TestClock], tmp_path: Path
) -> tuple[CoachService, TestClock]:
    return copy_service(*template, tmp_path)


def test_stats_count_users_sessions_pain_stops_and_stages(
    world: tuple[CoachService, TestClock],
) -> None:
    service, clock = world
    stats = collect(service.engine, clock())
    assert stats.users == 4
    assert stats.onboarded == 3
    assert stats.inactive == 0
    assert stats.sessions == len(ANN_DAYS) + 2
    assert stats.completed == len(ANN_DAYS) + 2 - 2  # one /stop, one safety stop
    assert stats.sessions_with_pain == 2
    assert stats.pain_share == pytest.approx(2 / 8)
    assert stats.safety_stops == 1
    assert stats.safety_stops_recently == 1
    assert stats.stages == {1: 3}
    assert stats.active_recently == 4
    assert stats.trained_recently == 2


def test_activity_counts_only_the_last_seven_days(world: tuple[CoachService, TestClock]) -> None:
    service, clock = world
    later = clock() + timedelta(days=7, minutes=1)
    stats = collect(service.engine, later)
    assert stats.active_recently == 0
    assert stats.trained_recently == 0
    assert stats.safety_stops_recently == 0
    assert stats.safety_stops == 1


def test_a_blocked_user_counts_as_inactive(world: tuple[CoachService, TestClock]) -> None:
    service, clock = world
    service.mark_inactive("test", SECRET_CHATS[1])
    assert collect(service.engine, clock()).inactive == 1


def test_the_report_identifies_no_one(world: tuple[CoachService, TestClock]) -> None:
    service, clock = world
    text = render(collect(service.engine, clock()), clock(), default_programme())
    assert text.splitlines()[1:] == [
        "Users: 4 (3 set up, 0 blocked the bot)",
        "Active in the last 7 days: 4",
        "Trained in the last 7 days: 2",
        "Sessions: 8 (6 completed, 2 ended early)",
        "Sessions with pain reported: 25% (2 of 8)",
        "Safety stops: 1 (1 in the last 7 days)",
        "Users by stage (set up):",
        "  Stage 1, Master stabilisation: 3",
        "  Stage 2, Add movement: 0",
        "  Stage 3, Integrate larger muscles: 0",
        "  Stage 4, Combine with full-body training: 0",
    ]
    for secret in (*SECRET_CHATS, "739104", "Berlin", "UTC/", "test"):
        assert secret not in text


def test_an_empty_report() -> None:
    text = render(Stats(), datetime(2026, 11, 30, 8, tzinfo=UTC))
    assert text.splitlines()[0] == "Spine Coach, anonymised totals at 2026-11-30 08:00 UTC"
    assert "Sessions with pain reported: 0% (0 of 0)" in text


def test_python_m_bot_stats_prints_the_report(
    world: tuple[CoachService, TestClock],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'copy.sqlite3'}")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env from the working folder
    assert bot_main(["stats"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Spine Coach, anonymised totals at ")
    assert "Users: 4 (3 set up, 0 blocked the bot)" in out
    assert not any(secret in out for secret in SECRET_CHATS)


def test_stats_on_a_missing_database_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nothing-here.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{missing}")
    monkeypatch.chdir(tmp_path)
    assert bot_main(["stats"]) == 1
    assert "No Spine Coach data" in capsys.readouterr().err
    assert not missing.exists()
