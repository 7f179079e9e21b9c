"""The real `python -m bot` terminal chat as a subprocess: talk to it line by line, read what it
prints, kill it. Shared by the terminal end-to-end tests."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def coach_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a terminal coach on an SQLite file in `tmp_path`, with no bot token."""
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'coach.sqlite3'}"
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


class TerminalProcess:
    """`python -m bot` with piped stdin and stdout, read line by line on a thread."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=coach_env(tmp_path, **env),
            cwd=tmp_path,
            bufsize=1,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def say(self, *lines: str) -> None:
        assert self.proc.stdin is not None
        for line in lines:
            self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, fragment: str, timeout: float = 20) -> str:
        """The next printed line containing `fragment`; fails with the last lines seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            if fragment in line:
                return line
        raise AssertionError(f"{fragment!r} not seen; got:\n{''.join(self.seen[-20:])}")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
