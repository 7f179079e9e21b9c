#!/usr/bin/env bash
# The whole test suite under fixed fake times: proof that no test depends on the wall clock, the
# date, the machine's time zone or the hour it runs at.
#
#   bash scripts/test-clock.sh                 # every time below, the whole suite at each
#   bash scripts/test-clock.sh -m "not slow"   # extra arguments go to pytest
#   CLOCK_TIMES="2026-06-01T00:30:00Z@UTC" bash scripts/test-clock.sh   # just one time
#
# Each run starts the clock at the given UTC moment and lets it run from there (Debian's
# `faketime`, installed when missing; every process the tests start sees the same clock), with
# TZ set to the given zone. The monotonic clock is left alone, so timeouts and timers work.
# PostgreSQL (scripts/postgres.sh) is started once, outside the fake clock.
set -euo pipefail
cd "$(dirname "$0")/.."

# UTC start@machine zone. The DST days start a minute before the change, so the suite runs
# across it; 23:59 runs cross midnight (and the year, on 31 December).
DEFAULT_TIMES="
2026-06-01T00:30:00Z@UTC
2026-06-01T06:59:00Z@UTC
2026-06-01T12:00:00Z@UTC
2026-06-07T23:59:00Z@UTC
2026-03-29T00:59:00Z@Europe/Berlin
2026-10-03T15:59:00Z@Australia/Sydney
2028-02-29T12:00:00Z@America/Los_Angeles
2026-12-31T23:59:00Z@Pacific/Auckland
"
TIMES=${CLOCK_TIMES:-$DEFAULT_TIMES}

source "$(dirname "${BASH_SOURCE[0]}")/debian.sh"
command -v faketime >/dev/null || debian_install test-clock.sh faketime

source scripts/venv.sh
PYTHON=python3
# Every Python process of the venv imports scripts/fake-clock/fake_sleep.py while
# SPINE_FAKE_CLOCK is set (time.sleep under libfaketime; see that file).
python3 - <<'PY'
import sysconfig
from pathlib import Path

line = (
    "import os; exec('import sys; sys.path.append(os.environ[\"SPINE_FAKE_CLOCK\"]);"
    " import fake_sleep') if os.environ.get('SPINE_FAKE_CLOCK') else None\n"
)
Path(sysconfig.get_paths()["purelib"], "spine_coach_fake_clock.pth").write_text(line)
PY
export SPINE_FAKE_CLOCK=$PWD/scripts/fake-clock
pg_env=$(bash scripts/postgres.sh start)
eval "$pg_env"
trap 'bash scripts/postgres.sh stop "${SPINE_TEST_PGDATA:-}"' EXIT

summary=()
failed=0
for entry in $TIMES; do
    start=${entry%@*}
    zone=${entry#*@}
    offset=$(($(date -u -d "$start" +%s) - $(date -u +%s)))
    ((offset >= 0)) && offset="+$offset"
    echo "=== clock at $start, TZ=$zone ==="
    log=$(mktemp)
    # `date` first: shows the clock the tests see.
    if TZ=$zone faketime --exclude-monotonic -f "$offset" \
        bash -c 'echo "the tests see: $(date -u "+%F %T UTC") ($(date "+%F %T %Z"))" &&
                 exec "$@"' _ "$PYTHON" -m pytest -p no:cacheprovider -q "$@" 2>&1 | tee "$log"; then
        result="green"
    else
        result="RED"
        failed=1
    fi
    summary+=("$start TZ=$zone: $result: $(grep -E '[0-9]+ (passed|failed)' "$log" | tail -n 1)")
    rm -f "$log"
done

echo
echo "=== the suite at each fixed time ==="
printf '%s\n' "${summary[@]}"
exit "$failed"
