# Sourced by .ci/run: a throw-away PostgreSQL cluster on a Unix socket for
# the store and registry tests. Installs the Debian package when missing,
# runs the server as a non-root user (PostgreSQL refuses root), exports
# PORTCULLIS_TEST_POSTGRES, and stops and deletes the cluster on exit.

pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

start_postgres() {
  local bindir
  bindir=$(pg_bindir || true)
  if [ -z "$bindir" ]; then
    echo "installing postgresql" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q postgresql >&2
    bindir=$(pg_bindir)
  fi
  PG_ROOT=$(mktemp -d /tmp/portcullis-pg.XXXXXX)
  mkdir -p "$PG_ROOT/data" "$PG_ROOT/socket"
  local run=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown -R postgres "$PG_ROOT"
    run=(runuser -u postgres --)
  fi
  PG_USER=$("${run[@]}" id -un)
  "${run[@]}" "$bindir/initdb" -D "$PG_ROOT/data" -U "$PG_USER" --auth=trust -E UTF8 --no-sync >"$PG_ROOT/initdb.log"
  "${run[@]}" "$bindir/pg_ctl" -D "$PG_ROOT/data" -l "$PG_ROOT/server.log" -w -t 60 \
    -o "-c listen_addresses='' -k $PG_ROOT/socket -c max_connections=200 -c fsync=on" start >&2
  PG_STOP=("${run[@]}" "$bindir/pg_ctl" -D "$PG_ROOT/data" -m immediate -w stop)
  export PORTCULLIS_TEST_POSTGRES="host=$PG_ROOT/socket user=$PG_USER dbname=postgres"
  echo "postgresql running: $PORTCULLIS_TEST_POSTGRES" >&2
}

stop_postgres() {
  if [ -n "${PG_ROOT:-}" ]; then
    "${PG_STOP[@]}" >/dev/null 2>&1 || true
    rm -rf "$PG_ROOT"
  fi
}
