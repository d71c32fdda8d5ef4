#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests, on loopback, in a folder of its own.
#
#   pg-test-server.sh start DIR [PID]
#                                 first call: initdb in DIR/data; then starts the server on a free
#                                 loopback port (kept in DIR/port, so a restart reuses it) and
#                                 prints its URL: postgresql://postgres@127.0.0.1:PORT/postgres.
#                                 With PID (the test process), a watcher stops the server and
#                                 removes DIR once that process is gone, so a killed test leaves
#                                 nothing behind.
#   pg-test-server.sh stop DIR    fast shutdown (clients are disconnected); Ok if not running
#   pg-test-server.sh url DIR     prints the URL of a started server
#
# Trust authentication, loopback TCP only (no Unix socket), fsync off: for tests, never for data.
# As root (initdb refuses root), the server runs as the system user modelhub-test, created if
# missing, and DIR is handed to it. The binaries come from $MODELHUB_PG_BIN, else the newest
# /usr/lib/postgresql/*/bin (Debian's postgresql package). Exit 77 with a reason on stderr when
# there are none, so callers can report their tests as skipped.
set -euo pipefail

die() { printf 'pg-test-server: %s\n' "$*" >&2; exit 1; }
usage() { die "usage: $0 start DIR [PID] | stop DIR | url DIR"; }
[[ $# -eq 2 || ($# -eq 3 && $1 == start) ]] || usage
cmd=$1
dir=$2
owner=${3:-}
[[ -z $owner || $owner =~ ^[0-9]+$ ]] || usage
[[ -d $dir ]] || die "no such directory: $dir"
dir="$(cd "$dir" && pwd)"

find_bin() {
  if [[ -n ${MODELHUB_PG_BIN:-} ]]; then
    [[ -x $MODELHUB_PG_BIN/pg_ctl ]] || { echo "MODELHUB_PG_BIN=$MODELHUB_PG_BIN has no pg_ctl" >&2; exit 77; }
    echo "$MODELHUB_PG_BIN"
    return
  fi
  local best="" d
  while read -r d; do
    [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]] && best=$d
  done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V)
  [[ -n $best ]] || { echo "no PostgreSQL server binaries (install the Debian package postgresql)" >&2; exit 77; }
  echo "$best"
}

# as_owner CMD...: runs CMD as the user owning the cluster.
run_as=()
if [[ $(id -u) -eq 0 ]]; then
  user=modelhub-test
  if ! id "$user" >/dev/null 2>&1; then
    # Two test processes may race here; the loser's useradd fails but the user exists.
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user" \
      2>/dev/null || id "$user" >/dev/null 2>&1 || die "cannot create the system user $user"
  fi
  run_as=(runuser -u "$user" --)
fi
# From inside DIR: the server user may not be allowed into the caller's working directory.
as_owner() { (cd "$dir" && "${run_as[@]}" "$@"); }

url_of() { echo "postgresql://postgres@127.0.0.1:$(cat "$dir/port")/postgres"; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local bin
  bin="$(find_bin)"
  if [[ ! -f $dir/data/PG_VERSION ]]; then
    if ((${#run_as[@]})); then chown -R "$user:" "$dir"; fi
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
      die "initdb failed: $(tail -5 "$dir/initdb.log")"
    cat >>"$dir/data/postgresql.conf" <<'EOF'
# pg-test-server.sh: a throwaway test server
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
full_page_writes = off
max_connections = 300
EOF
  fi
  if [[ -f $dir/data/postmaster.pid ]] && as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    url_of
    return
  fi
  local port tries=0
  while :; do
    if [[ -f $dir/port ]]; then port=$(cat "$dir/port"); else port=$((20000 + RANDOM % 40000)); fi
    if ! port_in_use "$port" &&
      as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $port" -w -t 60 start >/dev/null 2>&1; then
      break
    fi
    # A port chosen here may have been taken meanwhile; a remembered one (restart) must stay.
    [[ -f $dir/port ]] && die "cannot start on port $port: $(tail -5 "$dir/server.log" 2>/dev/null)"
    ((++tries < 20)) || die "cannot start the server: $(tail -5 "$dir/server.log" 2>/dev/null)"
  done
  echo "$port" >"$dir/port"
  if [[ -n $owner ]]; then
    # Detached, and holding none of the caller's pipes: it must not keep `$(...)` or popen waiting.
    (
      while kill -0 "$owner" 2>/dev/null && [[ -f $dir/data/postmaster.pid ]]; do sleep 1; done
      if ! kill -0 "$owner" 2>/dev/null; then
        if [[ -f $dir/data/postmaster.pid ]]; then as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop; fi
        rm -rf "$dir"  # nobody is left to remove it
      fi
    ) </dev/null >/dev/null 2>&1 &
  fi
  url_of
}

stop() {
  local bin
  bin="$(find_bin)"
  [[ -f $dir/data/postmaster.pid ]] || return 0
  if ! as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1; then
    if as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then die "cannot stop the server in $dir"; fi
  fi
}

case $cmd in
  start) start ;;
  stop) stop ;;
  url) [[ -f $dir/port ]] || die "no server started in $dir"; url_of ;;
  *) usage ;;
esac
