#!/usr/bin/env bash
# The whole test suite, as README.md's Quick start gives it: install, lint, type-check, test.
# scripts/venv.sh makes (first run) or reuses the project's virtual environment .venv/, with the
# pins of requirements.lock; everything below runs in it. The tests run on SQLite and on a
# throwaway PostgreSQL cluster (scripts/postgres.sh), which is installed from Debian's packages
# when missing and stopped when this script ends. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
python3 -m ruff check .
python3 -m ruff format --check .
python3 -m mypy
pg_env=$(bash scripts/postgres.sh start)
eval "$pg_env"
trap 'bash scripts/postgres.sh stop "${SPINE_TEST_PGDATA:-}"' EXIT
python3 -m pytest "$@"
