#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the tests, from Debian's packages.
#
#   eval "$(bash scripts/postgres.sh start)"   # prints the exports: TEST_POSTGRES_URL, ...
#   bash scripts/postgres.sh stop "$SPINE_TEST_PGDATA"
#
# `start` installs Debian's `postgresql` when no server binaries are there, then initialises a
# new cluster in a fresh temporary folder, on a free loopback port, with trust authentication
# (loopback only), and creates one database. Every call makes its own cluster, so two test runs
# at once never share or stop each other's; the system's own cluster, if any, is never touched.
# With TEST_POSTGRES_URL already set (your own server), `start` does nothing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/debian.sh"

pg_bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$dir" && -x "$dir/pg_ctl" && -x "$dir/initdb" && -x "$dir/postgres" ]]; then
        echo "$dir"
    fi
}

# Run a command as the unprivileged `postgres` user when we are root (initdb refuses root).
as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    if [[ -n "${TEST_POSTGRES_URL:-}" ]]; then
        echo "export TEST_POSTGRES_URL='${TEST_POSTGRES_URL}'"
        return
    fi
    local bindir
    bindir=$(pg_bindir)
    if [[ -z "$bindir" ]]; then
        debian_install postgres.sh postgresql
        bindir=$(pg_bindir)
        [[ -n "$bindir" ]] || { echo "postgres.sh: install gave no server binaries" >&2; exit 1; }
    fi
    if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
    local data port
    data=$(mktemp -d "${TMPDIR:-/tmp}/spine-coach-pg.XXXXXX")
    chmod 700 "$data"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$data"; fi
    as_pg "$bindir/initdb" --pgdata="$data/db" --username=postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 >"$data/initdb.log" 2>&1 \
        || { cat "$data/initdb.log" >&2; exit 1; }
    # Durability is pointless for a throwaway test cluster; speed is not.
    as_pg "$bindir/pg_ctl" --pgdata="$data/db" --log="$data/server.log" --wait --silent \
        -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c fsync=off \
-c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >&2 \
        || { cat "$data/server.log" >&2; exit 1; }
    as_pg "$bindir/createdb" --host=127.0.0.1 --port="$port" --username=postgres spine_test >&2 \
        || { stop "$data"; exit 1; }
    echo "export SPINE_TEST_PGDATA='$data'"
    echo "export SPINE_TEST_PGBIN='$bindir'"
    echo "export TEST_POSTGRES_URL='postgresql+psycopg://postgres@127.0.0.1:$port/spine_test'"
}

stop() {
    local data=${1:-${SPINE_TEST_PGDATA:-}}
    [[ -n "$data" && -d "$data/db" ]] || return 0
    local bindir
    bindir=$(pg_bindir)
    as_pg "$bindir/pg_ctl" --pgdata="$data/db" --mode=immediate --silent stop >/dev/null 2>&1 \
        || true
    rm -rf "$data"
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    *) echo "usage: $0 start | stop [DATADIR]" >&2; exit 2 ;;
esac
