#!/usr/bin/env bash
# The coach: `python3 -m bot` in the project's own virtual environment (.venv/, made and kept
# up to date from requirements.lock by scripts/venv.sh). Arguments go to the coach:
#
#   bash scripts/run.sh              # the chat in your terminal (or Telegram, with a token set)
#   bash scripts/run.sh --help       # modes, subcommands, settings
#   bash scripts/run.sh stats        # anonymised totals
#
# Runs in the current folder (where the SQLite file and .env live), from any folder.
set -euo pipefail
here=$PWD
cd "$(dirname "$0")/.."
source scripts/venv.sh
cd "$here"
exec python3 -m bot "$@"
