# Sourced by the PostgreSQL tests: a throw-away PostgreSQL server in a temporary directory, reached
# through a Unix socket there (no TCP port), with password authentication.
#   pg_start        starts it and sets PG_URL (postgresql://nnctl:PASSWORD@/nnctl?host=DIR) and PG_PASSWORD
#   pg_stop         stops it (fast) and removes the directory; pg_restart stops and starts it again
# initdb refuses to run as root, so as root the server runs as the postgres user (Debian's package
# creates it). Needs Debian's postgresql package (scripts/setup.sh installs it).
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
pg_as() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
pg_start() {
  if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
    echo "pg_server: no PostgreSQL server binaries (apt-get install postgresql)" >&2
    return 1
  fi
  PG_DIR=$(mktemp -d /tmp/nnctl-pg.XXXXXX)
  chmod 755 "$PG_DIR"
  PG_PASSWORD="s3cret-$RANDOM$RANDOM"
  printf '%s\n' "$PG_PASSWORD" >"$PG_DIR/pw"
  if [ "$(id -u)" -eq 0 ]; then chown -R postgres "$PG_DIR"; fi
  pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U nnctl --pwfile="$PG_DIR/pw" --auth=scram-sha-256 -E UTF8 --no-sync \
    >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  rm -f "$PG_DIR/pw"
  pg_up || return 1
  PGPASSWORD="$PG_PASSWORD" pg_as "$PG_BIN/createdb" -h "$PG_DIR" -U nnctl nnctl || return 1
  PG_URL="postgresql://nnctl:$PG_PASSWORD@/nnctl?host=$PG_DIR"
  export PG_URL PG_PASSWORD PG_DIR
}
pg_up() {
  pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-k $PG_DIR -c listen_addresses='' -c fsync=off -c max_connections=100" start >/dev/null ||
    { cat "$PG_DIR/server.log" >&2; return 1; }
}
pg_down() {
  pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 60 stop >/dev/null 2>&1
}
pg_restart() { pg_down; sleep "${1:-1}"; pg_up; }
pg_stop() {
  if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR" ]; then
    pg_down
    rm -rf "$PG_DIR"
  fi
}
