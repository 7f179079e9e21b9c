"""Every script that README.md, CONTRIBUTING.md or CI runs is stored executable in git, with a
shebang, so `.ci/run` (or `scripts/test.sh`) works on a fresh clone without `bash` in front."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ["README.md", "CONTRIBUTING.md", ".ci/run", "scripts/test.sh", "scripts/test-clock.sh"]
SCRIPT = re.compile(r"(?<![\w/.-])(\.ci/run|scripts/[\w-]+\.sh)\b")


def scripts_named() -> list[str]:
    named = {".ci/run"}
    for doc in DOCS:
        named.update(SCRIPT.findall((ROOT / doc).read_text(encoding="utf-8")))
    return sorted(named)


def git_modes() -> dict[str, str]:
    """Path -> mode as git stores it (what a clone checks out)."""
    result = subprocess.run(
        ["git", "ls-files", "--stage", "--", ".ci", "scripts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip("not a git checkout")
    modes = {}
    for line in result.stdout.splitlines():
        meta, path = line.split("\t", 1)
        modes[path] = meta.split()[0]
    return modes


def test_the_docs_name_the_scripts_ci_runs() -> None:
    assert {".ci/run", "scripts/test.sh", "scripts/postgres.sh", "scripts/test-clock.sh"} <= set(
        scripts_named()
    )


@pytest.mark.parametrize("script", scripts_named())
def test_every_script_the_docs_or_ci_run_is_executable_in_git(script: str) -> None:
    modes = git_modes()
    assert script in modes, f"{script} is named but not in git"
    assert modes[script] == "100755", (
        f"{script} is stored as {modes[script]}: git update-index --chmod=+x {script}"
    )
    first_line = (ROOT / script).read_text(encoding="utf-8").splitlines()[0]
    assert first_line == "#!/usr/bin/env bash"
