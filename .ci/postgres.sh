#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the service tests.
#
#   eval "$(.ci/postgres.sh start)"   # prints: export BUNDLEOPT_TEST_PG_URL=postgresql://...
#   .ci/postgres.sh stop              # stops the server and deletes its files
#
# Installs the Debian postgresql package if no server binaries are found (needs root).
# The cluster lives in a temp dir (state kept in $BUNDLEOPT_PG_STATE, default
# /tmp/bundleopt-pg.state); it listens on 127.0.0.1 only, on a free port, with trust
# auth for the local test user. PostgreSQL refuses to run as root, so as root the
# server runs as the `postgres` system user (or a user created for it).
set -euo pipefail

STATE="${BUNDLEOPT_PG_STATE:-/tmp/bundleopt-pg.state}"

log() { echo "postgres.sh: $*" >&2; }

find_bin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -z "$d" ]] && command -v pg_ctl >/dev/null 2>&1; then
        d=$(dirname "$(command -v pg_ctl)")
    fi
    echo "$d"
}

as_pg() {  # run a command as the server's user
    if [[ "$PGUSER_OS" == "$(id -un)" ]]; then "$@"; else runuser -u "$PGUSER_OS" -- "$@"; fi
}

start() {
    if [[ -f "$STATE" ]]; then
        log "a server is already recorded in $STATE; stopping it first"
        stop
    fi
    local bin
    bin=$(find_bin)
    if [[ -z "$bin" ]]; then
        if [[ $(id -u) -ne 0 ]]; then log "PostgreSQL is not installed and I am not root"; exit 1; fi
        log "installing postgresql with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
        bin=$(find_bin)
    fi
    if [[ $(id -u) -eq 0 ]]; then
        PGUSER_OS=postgres
        if ! id "$PGUSER_OS" >/dev/null 2>&1; then
            PGUSER_OS=bundleopt-pg
            id "$PGUSER_OS" >/dev/null 2>&1 || useradd --system --no-create-home "$PGUSER_OS"
        fi
    else
        PGUSER_OS=$(id -un)
    fi
    local dir port
    dir=$(mktemp -d /tmp/bundleopt-pg.XXXXXX)
    chmod 755 "$dir"
    [[ "$PGUSER_OS" != "$(id -un)" ]] && chown "$PGUSER_OS" "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_pg "$bin/initdb" -D "$dir/data" -U bundleopt -A trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >&2 \
        || { cat "$dir/server.log" >&2; exit 1; }
    as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U bundleopt bundleopt
    local url="postgresql://bundleopt@127.0.0.1:$port/bundleopt"
    printf 'DIR=%q\nBIN=%q\nPGUSER_OS=%q\nURL=%q\n' "$dir" "$bin" "$PGUSER_OS" "$url" >"$STATE"
    log "server running at $url (data in $dir)"
    echo "export BUNDLEOPT_TEST_PG_URL=$url"
}

stop() {
    if [[ ! -f "$STATE" ]]; then log "no server recorded in $STATE"; return 0; fi
    # shellcheck disable=SC1090
    source "$STATE"
    as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >&2 || log "pg_ctl stop failed (already down?)"
    rm -rf "$DIR" "$STATE"
    log "stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) source "$STATE" && echo "$URL" ;;
    *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
