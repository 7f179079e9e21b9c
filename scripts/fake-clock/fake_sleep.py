"""Imported by every Python process under scripts/test-clock.sh (through a .pth file that script
puts into .venv/, inert unless SPINE_FAKE_CLOCK is set). Under libfaketime, Python's
`time.sleep` fails with EINVAL: it sleeps until an absolute monotonic deadline, which libfaketime
shifts by the fake offset. A relative wait in `select` is left alone, so `time.sleep` uses that
instead. Nothing else changes."""

import select
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)


time.sleep = _sleep
