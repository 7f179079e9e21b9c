"""Liveness: a file the running bot keeps fresh, and `python -m bot health` that checks it.

The contract, for any long-running adapter (the Telegram one in polling and in webhook mode):

- Call `touch_liveness(settings.liveness_file)` once at start-up, as soon as the application is
  running, and then from a repeating job every `TOUCH_EVERY_SECONDS` (for python-telegram-bot:
  `job_queue.run_repeating(..., interval=TOUCH_EVERY_SECONDS, first=0, name="liveness")`).
  The job runs on the same event loop as the update handlers, so a fresh file means the loop is
  not stuck, not merely that the process exists.
- Touching never raises: a file that cannot be written is logged once as a warning and then shows
  up as "not alive", which is the right signal.
- Nothing personal and nothing secret goes into the file; it is empty, only its age counts.

`python -m bot health` (the Docker HEALTHCHECK) exits 0 when the file was touched within the last
`MAX_AGE_SECONDS`, else 1. It reads `LIVENESS_FILE` (default: one file per database in the
temporary folder, see `bot.settings.default_liveness_file`, so that bots on one host never vouch
for each other) and needs neither the database nor the network. The terminal chat does not touch
the file: it is not a service and has no health check.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

TOUCH_EVERY_SECONDS = 30.0
# Three missed touches in a row (and some slack for a slow tick) before we call the bot stuck.
MAX_AGE_SECONDS = 3 * TOUCH_EVERY_SECONDS + 15.0

log = logging.getLogger(__name__)
_warned: set[Path] = set()


def touch_liveness(path: Path) -> None:
    """Mark the bot alive now: create `path` (and its folder) or bump its modification time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
        # Stamped with this process's clock, the one `is_alive` reads, not the file system's.
        now = time.time()
        os.utime(path, (now, now))
    except OSError as error:
        if path not in _warned:
            _warned.add(path)
            log.warning("cannot touch the liveness file %s: %s", path, error.strerror)
        return
    _warned.discard(path)


def is_alive(path: Path, max_age_seconds: float) -> bool:
    """True when `path` exists and was touched no more than `max_age_seconds` ago."""
    try:
        modified = path.stat().st_mtime
    except OSError:
        return False
    return time.time() - modified <= max_age_seconds


def main(liveness_file: Path, max_age_seconds: float = MAX_AGE_SECONDS) -> int:
    """`python -m bot health`: 0 when the liveness file is fresh, else 1; one line says which."""
    if is_alive(liveness_file, max_age_seconds):
        print(f"alive: {liveness_file} touched within {max_age_seconds:g} s")
        return 0
    print(f"not alive: {liveness_file} missing or older than {max_age_seconds:g} s")
    return 1
