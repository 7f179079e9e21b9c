#!/usr/bin/env bash
# Sourced by scripts/run.sh, scripts/test.sh and scripts/test-clock.sh: make sure the project's
# own virtual environment `.venv/` exists and holds exactly what requirements.lock pins (plus
# this package, editable), then put it first on PATH, so `python3` below is the venv's.
#
# It needs only `python3` with its `venv` module (Debian and Ubuntu: `apt-get install
# python3-venv`); nothing is installed into the system Python, so PEP 668's
# "externally-managed-environment" never comes up. The install runs again only when
# requirements.lock or pyproject.toml changed (a stamp file in .venv/ remembers). To update the
# pins, see CONTRIBUTING.md, "Dependencies and the lock file".

spine_venv=${SPINE_VENV:-.venv}

spine_venv_fingerprint() {
    cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1
}

if [[ ! -x "$spine_venv/bin/python3" ]]; then
    echo "Creating the virtual environment $spine_venv/ (first run only)" >&2
    if ! python3 -m venv "$spine_venv" >&2; then
        rm -rf "$spine_venv"
        echo "Could not create $spine_venv/: python3 needs its venv module" \
            "(Debian/Ubuntu: apt-get install python3-venv)" >&2
        exit 1
    fi
fi
if [[ "$(cat "$spine_venv/.spine-coach-installed" 2>/dev/null)" != "$(spine_venv_fingerprint)" ]]
then
    echo "Installing the pinned dependencies (requirements.lock) into $spine_venv/" >&2
    "$spine_venv/bin/python3" -m pip install --quiet --disable-pip-version-check \
        -r requirements.lock >&2
    # --no-build-isolation: build with the setuptools the lock pinned, not a fresh download.
    "$spine_venv/bin/python3" -m pip install --quiet --disable-pip-version-check \
        --no-deps --no-build-isolation -e . >&2
    spine_venv_fingerprint >"$spine_venv/.spine-coach-installed"
fi
PATH="$PWD/$spine_venv/bin:$PATH"
export PATH
unset spine_venv
