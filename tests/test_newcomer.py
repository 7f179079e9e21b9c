"""What a newcomer trips over, each checked on the real `python -m bot` where it matters: the
usage text, Ctrl-C in the terminal chat, one clear line for a bad setting or an unreachable
database, placeholders in data/ the code does not fill, control characters typed at the
terminal, one liveness file per database, .env.example in polling mode, and the README."""

from __future__ import annotations

import ast
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.health import touch_liveness
from bot.reports.chart import PROGRESS_PHOTO_NAME
from bot.reports.export import EXPORT_CSV_NAME, EXPORT_JSON_NAME
from bot.settings import Settings
from bot.terminal.chat import printable
from data import placeholders
from data.programme import DATA_DIR, ProgrammeError, default_programme, load_programme
from tests.clocks import nudge_time_far_from_now
from tests.terminal_process import ROOT, coach_env

GOODBYE = "Bye for now. Everything is saved; run me again to carry on."
README = (ROOT / "README.md").read_text(encoding="utf-8")


def bot(
    tmp_path: Path, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    unset = ("WEBHOOK_", "LOG_", "LIVENESS_")
    environment = {k: v for k, v in coach_env(tmp_path).items() if not k.startswith(unset)}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens there once the probe closes


# --- python -m bot --help ------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_names_the_modes_subcommands_and_settings_and_starts_nothing(
    tmp_path: Path, flag: str
) -> None:
    result = bot(tmp_path, flag)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("usage: python -m bot")
    for word in ("terminal", "polling", "webhook", "migrate", "stats", "health", "Ctrl-C"):
        assert word in out, word
    for setting in ("TELEGRAM_BOT_TOKEN", "DATABASE_URL", "WEBHOOK_URL", "LOG_LEVEL"):
        assert setting in out, setting
    assert "Spine Coach in your terminal" not in out  # the chat did not start
    assert list(tmp_path.iterdir()) == []  # no database, no file at all


def test_an_unknown_subcommand_is_an_error_with_the_usage(tmp_path: Path) -> None:
    result = bot(tmp_path, "bogus")
    assert result.returncode == 2
    assert "usage: python -m bot" in result.stderr
    assert "invalid choice: 'bogus'" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


# --- bad settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("DATABASE_URL", "bogus", "sqlite:///"),
        ("LOG_LEVEL", "bogus", "DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("WEBHOOK_PORT", "0", "from 1 to 65535"),
    ],
)
@pytest.mark.parametrize("command", [[], ["migrate"], ["stats"]])
def test_a_bad_setting_is_one_line_naming_it_and_what_it_takes(
    tmp_path: Path, name: str, value: str, accepted: str, command: list[str]
) -> None:
    result = bot(tmp_path, *command, **{name: value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0]
    assert accepted in lines[0]
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [[], ["migrate"]])
def test_a_database_refusing_connections_is_one_line_without_the_password(
    tmp_path: Path, command: list[str]
) -> None:
    url = f"postgresql+psycopg://coach:s3cretpw@127.0.0.1:{closed_port()}/coach"
    result = bot(tmp_path, *command, DATABASE_URL=url)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "DATABASE_URL" in lines[0]
    assert "refused" in lines[0].lower()
    assert "postgresql+psycopg://user:password@host/db" in lines[0]  # what it takes
    assert "s3cretpw" not in result.stderr + result.stdout


# --- the terminal chat ---------------------------------------------------------------------------


def test_ctrl_c_in_the_terminal_chat_says_goodbye_and_keeps_the_answers(tmp_path: Path) -> None:
    chat = subprocess.Popen(
        [sys.executable, "-m", "bot"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=coach_env(tmp_path),
        cwd=tmp_path,
    )
    assert chat.stdin is not None
    assert chat.stdout is not None
    chat.stdin.write("/start\nNo\n")
    chat.stdin.flush()
    seen = ""
    while "do any of these apply to you?" not in seen:  # the second screen question: saved
        line = chat.stdout.readline()
        assert line, f"the chat ended early: {seen}"
        seen += line
    chat.send_signal(signal.SIGINT)
    out, err = chat.communicate(timeout=30)
    assert chat.returncode == 0
    assert out.strip().splitlines()[-1] == GOODBYE
    assert "Traceback" not in err
    assert "KeyboardInterrupt" not in err

    again = bot(tmp_path)  # end of input at once: it shows where we were, and says goodbye
    assert again.returncode == 0, again.stderr
    assert "do any of these apply to you?" in again.stdout
    assert "First, a quick safety check" not in again.stdout


def test_the_terminal_never_echoes_control_characters(tmp_path: Path) -> None:
    typed = "\x1b[2J\x1b[31m7:30\x07"
    answers = ["/start", "No", "No", "3", "A little", "Every day", typed, "\x1b[H"]
    result = bot(tmp_path, stdin="\n".join(answers) + "\n")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    assert "\x07" not in result.stdout
    assert "\\x1b[2J\\x1b[31m7:30\\x07" in result.stdout  # shown escaped, where it is echoed


def test_printable_escapes_control_characters_and_keeps_the_rest() -> None:
    assert printable("a\x1b[31mb\x9b\x7f\tc\nd é 🙂") == "a\\x1b[31mb\\x9b\\x7f\\tc\nd é 🙂"


def test_the_terminal_does_not_offer_to_share_a_location(tmp_path: Path) -> None:
    answers = ["/start", "No", "No", "3", "A little", "Every day", nudge_time_far_from_now()]
    result = bot(tmp_path, stdin="\n".join(answers) + "\n")
    assert "Which time zone are you in?" in result.stdout
    assert "location" not in result.stdout.lower()


def test_help_lists_start_and_quiet_hours() -> None:
    text = default_programme().messages.texts["help"]
    assert "/start" in text
    assert "quiet hours" in text


# --- placeholders in data/ -----------------------------------------------------------------------


def _data_with(tmp_path: Path, old: str, new: str) -> Path:
    for name in ("programme.yaml", "safety.yaml", "messages.yaml"):
        shutil.copy(DATA_DIR / name, tmp_path / name)
    messages = tmp_path / "messages.yaml"
    text = messages.read_text(encoding="utf-8")
    assert old in text
    messages.write_text(text.replace(old, new, 1), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("Nudge time: {time}", "Nudge time: {time}, {nme}", "texts.onboarding_done"),
        ("Training days: {days}", "Training days: {dyas}", "texts.onboarding_done"),
        ("Hi, I'm Spine Coach.", "Hi {name}, I'm Spine Coach.", "texts.welcome"),
    ],
)
def test_a_placeholder_the_code_does_not_fill_stops_start_up_naming_file_and_key(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    with pytest.raises(ProgrammeError) as raised:
        load_programme(_data_with(tmp_path, old, new))
    message = str(raised.value)
    assert "messages.yaml" in message
    assert field in message
    assert "placeholder {" in message


def test_the_shipped_messages_use_only_placeholders_the_code_fills() -> None:
    load_programme()  # raises ProgrammeError otherwise


# --- liveness ------------------------------------------------------------------------------------


def test_health_does_not_vouch_for_another_bot_on_the_same_host(tmp_path: Path) -> None:
    mine = f"sqlite:///{tmp_path / 'mine.sqlite3'}"
    theirs = f"sqlite:///{tmp_path / 'theirs.sqlite3'}"
    their_file = Settings(_env_file=None, database_url=theirs).liveness_file  # type: ignore[call-arg]
    my_file = Settings(_env_file=None, database_url=mine).liveness_file  # type: ignore[call-arg]
    assert their_file != my_file
    try:
        touch_liveness(their_file)  # another bot, alive, on another database
        mine_result = bot(tmp_path, "health", DATABASE_URL=mine)
        theirs_result = bot(tmp_path, "health", DATABASE_URL=theirs)
    finally:
        their_file.unlink(missing_ok=True)
    assert mine_result.returncode == 1, mine_result.stdout
    assert theirs_result.returncode == 0, theirs_result.stdout + theirs_result.stderr


# --- .env.example and the README -----------------------------------------------------------------


def test_the_env_example_starts_in_polling_mode() -> None:
    settings = Settings(_env_file=ROOT / ".env.example")  # type: ignore[call-arg]
    assert settings.telegram_bot_token is not None
    assert settings.webhook_url is None
    assert settings.webhook_secret is None
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert "# WEBHOOK_URL=" in text
    assert "# WEBHOOK_SECRET=" in text


def test_the_readme_says_how_to_quit_where_terminal_files_go_and_how_to_get_stats() -> None:
    assert "Ctrl-D" in README
    assert "Ctrl-C" in README
    for name in (PROGRESS_PHOTO_NAME, EXPORT_JSON_NAME, EXPORT_CSV_NAME):
        assert name in README, name
    assert "`bash scripts/run.sh stats` (that is, `python3 -m bot stats`" in README


def _say_calls() -> list[tuple[str, str, set[str], str]]:
    """(section, key, keyword names, where) for each `say("key", name=...)` in the code."""
    calls = []
    for folder in ("conversations", "bot"):
        for module in sorted((ROOT / folder).glob("*.py")):
            section = "reports" if module.name == "reports.py" else "texts"
            for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                name = getattr(node.func, "attr", getattr(node.func, "id", None))
                first = node.args[0]
                if name == "say" and isinstance(first, ast.Constant):
                    names = {k.arg for k in node.keywords if k.arg is not None}
                    where = f"{folder}/{module.name}:{node.lineno}"
                    calls.append((section, str(first.value), names, where))
    return calls


def test_data_placeholders_lists_every_value_the_code_passes_to_a_text() -> None:
    calls = _say_calls()
    assert len(calls) > 50, "the scan found too little: is it broken?"
    for section, key, names, where in calls:
        listed = placeholders.SUPPLIED[section].get(key)
        assert listed is not None, f"{where}: name {section}.{key} in data/placeholders.py"
        assert names <= listed, f"{where}: add {sorted(names - listed)} to {section}.{key}"


def test_data_placeholders_names_every_shipped_text() -> None:
    messages = default_programme().messages
    for section, texts in (("texts", messages.texts), ("reports", messages.reports)):
        missing = set(texts) - set(placeholders.SUPPLIED[section])
        assert not missing, f"name {section} {sorted(missing)} in data/placeholders.py"
