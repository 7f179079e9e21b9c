"""README.md and CONTRIBUTING.md stay true to the code: the Quick start commands are the ones CI
runs, the configuration table is exactly the settings, the commands are the coach's, and every
repository path they name exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.settings import Settings
from conversations.coach import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONTRIBUTING = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
QUICK_START = [
    "bash scripts/run.sh",
    "bash scripts/test.sh",
]
# Named in the docs but deliberately not in the repository.
NOT_IN_REPO = {
    ".env",
    ".venv/",
    "spine-coach.sqlite3",
    "spine-coach-progress.png",
    "spine-coach-export.json",
    "spine-coach-sessions.csv",
}
PATH_SUFFIXES = (".py", ".yaml", ".toml", ".md", ".sh", ".txt", ".json", ".example", ".mako")


def section(text: str, heading: str) -> str:
    """The body of the `## heading` section, up to the next heading of level 2."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no section “## {heading}”"
    return match.group(1)


def without_fences(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", without_fences(text))


def table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.fullmatch(r"\|[-| :]+\|", line.strip()):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows[1:]  # without the header


def test_quick_start_is_exactly_the_two_commands() -> None:
    body = section(README, "Quick start")
    block = re.search(r"```sh\n(.*?)```", body, re.S)
    assert block, "Quick start has a sh block"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert [c for c in commands if c] == QUICK_START


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lines = [line.strip() for line in ci.splitlines() if not line.strip().startswith("#")]
    assert QUICK_START[1] in lines
    assert (ROOT / "scripts" / "test.sh").is_file()


def test_the_test_script_runs_lint_format_types_and_tests() -> None:
    script = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")
    for step in ("ruff check", "ruff format --check", "mypy", "pytest"):
        assert re.search(rf"^python3 -m {step}\b", script, re.M), step


def _configuration() -> dict[str, str]:
    rows = table_rows(section(README, "Configuration"))
    table: dict[str, str] = {}
    for row in rows:
        names = re.findall(r"`([A-Z][A-Z0-9_]*)`", row[0])
        assert len(names) == 1, f"one variable per row: {row[0]}"
        table[names[0]] = row[1]
    return table


def test_the_configuration_table_is_exactly_the_settings() -> None:
    documented = set(_configuration())
    fields = {name.upper() for name in Settings.model_fields}
    assert documented - fields == set(), "in the README but not in bot/settings.py"
    assert fields - documented == set(), "in bot/settings.py but not in the README"


def test_the_configuration_table_gives_the_real_defaults() -> None:
    for name, shown in _configuration().items():
        field = Settings.model_fields[name.lower()]
        if field.default_factory is not None:  # computed from other settings: said in words
            assert "(per " in shown, name
            continue
        default = field.default
        if default is None:
            assert shown == "(unset)", name
            continue
        match = re.fullmatch(r"`([^`]*)`", shown)
        assert match, f"{name}: default in backticks"
        value = match.group(1)
        if isinstance(default, int | float) and not isinstance(default, bool):
            assert float(value) == default, name
        else:
            assert value == str(default), name


def test_the_commands_table_lists_exactly_the_coach_commands() -> None:
    listed = {
        re.match(r"`/(\w+)", row[0]).group(1)  # type: ignore[union-attr]
        for row in table_rows(section(README, "Commands"))
    }
    assert listed == set(COMMANDS)


@pytest.mark.parametrize("name", ["README.md", "CONTRIBUTING.md"])
def test_every_slash_command_mentioned_is_a_coach_command(name: str) -> None:
    text = (ROOT / name).read_text(encoding="utf-8")
    if name == "README.md":
        # BotFather's own commands (/newbot, /setdescription, ...) are not ours.
        text = text.replace(section(text, "Create your bot with BotFather"), "")
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    volumes = set(re.findall(r"^VOLUME \[?\"?(/\w+)", dockerfile, re.M))
    for found in re.finditer(r"(?<![\w/:.\-<])/([a-z][a-z_]*)\b(?![/\w.])", text):
        if found.group(0) in volumes or found.group(0) == "/tmp":
            continue  # a folder in the container, not a command
        assert found.group(1) in COMMANDS, f"{name}: {found.group(0)} is not a command"


def _paths(text: str) -> set[str]:
    """Repository paths in backticks (also inside a command) and in relative links."""
    found: set[str] = set()
    for span in code_spans(text):
        for word in span.split():
            if re.search(r"[:=<>'\"\\{}]|^[-/~.]{1,3}$", word) or word.startswith(("/", "-")):
                continue
            if not re.fullmatch(r"[\w.*-]+(/[\w.*-]+)*/?", word):
                continue
            if "/" in word or word.endswith(PATH_SUFFIXES) or word.startswith("."):
                found.add(word)
    for link in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" not in link:
            found.add(link)
    return {p for p in found if p not in NOT_IN_REPO and not re.fullmatch(r"\.+", p)}


@pytest.mark.parametrize("name", ["README.md", "CONTRIBUTING.md"])
def test_every_path_mentioned_exists(name: str) -> None:
    text = (ROOT / name).read_text(encoding="utf-8")
    paths = _paths(text)
    assert paths, "the path finder found nothing: is it broken?"
    missing = sorted(p for p in paths if not list(ROOT.glob(p.rstrip("/"))))
    assert not missing, f"{name} names paths that do not exist: {missing}"


def test_the_privacy_section_names_every_table() -> None:
    """Every table the bot stores is explained under Privacy."""
    tables = set()
    for module in (ROOT / "bot").rglob("*.py"):
        if "versions" not in module.parts:
            tables |= set(re.findall(r'__tablename__ = "(\w+)"', module.read_text("utf-8")))
    assert tables
    privacy = set(code_spans(section(README, "Privacy")))
    assert tables - privacy == set()


def test_the_running_at_scale_section_stays_near_the_end() -> None:
    headings = re.findall(r"^## (.+)$", README, re.M)
    assert "Running at scale" in headings
    assert headings.index("Running at scale") >= len(headings) - 2
