#!/usr/bin/env bash
# The whole test suite, as README.md's Quick start gives it: install, lint, type-check, test.
# The tests run on SQLite and on a throwaway PostgreSQL cluster (scripts/postgres.sh), which
# is installed from Debian's packages when missing and stopped when this script ends.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[dev]'
python3 -m ruff check .
python3 -m ruff format --check .
python3 -m mypy
pg_env=$(bash scripts/postgres.sh start)
eval "$pg_env"
trap 'bash scripts/postgres.sh stop "${SPINE_TEST_PGDATA:-}"' EXIT
python3 -m pytest "$@"
