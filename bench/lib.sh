# Shared helpers for the bench/*.sh scripts (sourced, not run).
#
# Every script gets its own work folder ($BENCH_WORK, under $BENCH_DIR or /tmp), its own modelhub
# (a frozen copy of the binary, so a concurrent rebuild of build/bin/modelhub cannot swap it mid-run)
# and, where it needs one, its own nginx, all on 127.0.0.1 and on free ports. An EXIT trap stops the
# processes this script started (by PID) and removes the work folder.
#
# Knobs (environment):
#   MODELHUB_BIN   modelhub binary (default: build/bin/modelhub of this checkout)
#   BENCH_DIR      parent of the work folders (default: /tmp); needs room for the test files
#   BENCH_QUICK=1  smaller sizes / shorter runs, for a fast sanity check
#   BENCH_KEEP=1   keep the work folder (server log, nginx log) after the run
#   BENCH_PYTHON   Python with huggingface_hub (default: .venv/bin/python of this checkout)

set -euo pipefail

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_SRC="$BENCH_ROOT/bench"
BENCH_PY="${BENCH_PYTHON:-$BENCH_ROOT/.venv/bin/python}"
BENCH_QUICK="${BENCH_QUICK:-0}"
BENCH_NAME="$(basename "${0%.sh}")"

_BENCH_PIDS=()
BENCH_WORK=""

log() { printf '[%s] %s\n' "$BENCH_NAME" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }

bench_cleanup() {
  local rc=$?
  local pid
  for pid in "${_BENCH_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [[ -n $BENCH_WORK && -d $BENCH_WORK ]]; then
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
      log "kept work folder $BENCH_WORK"
    else
      rm -rf -- "$BENCH_WORK"
    fi
  fi
  exit "$rc"
}

# bench_init: creates the work folder and installs the cleanup trap.
bench_init() {
  local parent="${BENCH_DIR:-/tmp}"
  mkdir -p "$parent"
  BENCH_WORK="$(mktemp -d "$parent/modelhub-bench-$BENCH_NAME.XXXXXX")"
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (scripts/install-deps.sh installs it)"
  done
  [[ -x $BENCH_PY ]] || die "no Python at $BENCH_PY (run scripts/install-deps.sh or set BENCH_PYTHON)"
  "$BENCH_PY" -c 'import huggingface_hub' 2>/dev/null || die "$BENCH_PY has no huggingface_hub"
}

bench_track_pid() { _BENCH_PIDS+=("$1"); }

free_port() {
  "$BENCH_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL SECONDS PID: until URL answers 200 (fails if PID exits or on timeout).
wait_http() {
  local url=$1 secs=$2 pid=$3 i
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# start_modelhub: sets MH_PORT, MH_URL, MH_PID, MH_DATA, MH_LOG, MH_TOKEN, MH_BIN; user "bench".
start_modelhub() {
  local src="${MODELHUB_BIN:-$BENCH_ROOT/build/bin/modelhub}"
  [[ -x $src ]] || die "modelhub binary not found at $src (run scripts/build.sh or set MODELHUB_BIN)"
  MH_BIN="$BENCH_WORK/modelhub"
  cp "$src" "$MH_BIN"
  MH_DATA="$BENCH_WORK/mh-data"
  MH_LOG="$BENCH_WORK/modelhub.log"
  mkdir -p "$MH_DATA"
  MH_PORT="$(free_port)"
  MH_URL="http://127.0.0.1:$MH_PORT"
  # --metrics-public: the benchmarks read the counters of /metrics without a token (loopback only).
  "$MH_BIN" serve --data "$MH_DATA" --listen "127.0.0.1:$MH_PORT" --public-url "$MH_URL" --quiet --metrics-public \
    </dev/null >"$MH_LOG" 2>&1 &
  MH_PID=$!
  bench_track_pid "$MH_PID"
  if ! wait_http "$MH_URL/health" 30 "$MH_PID"; then
    tail -n 40 "$MH_LOG" >&2 || true
    die "modelhub did not answer $MH_URL/health within 30 s"
  fi
  "$MH_BIN" admin --data "$MH_DATA" user create bench >>"$BENCH_WORK/admin.log" 2>&1 ||
    die "admin user create failed: $(cat "$BENCH_WORK/admin.log")"
  MH_TOKEN="$("$MH_BIN" admin --data "$MH_DATA" token create bench --role write --name bench 2>>"$BENCH_WORK/admin.log" | tail -n 1 | tr -d '[:space:]')"
  [[ -n $MH_TOKEN ]] || die "admin token create printed no token"
  log "modelhub pid $MH_PID on $MH_URL (binary copied from $src)"
}

# modelhub_alive: fails (with the log tail) if the server died.
modelhub_alive() {
  if ! kill -0 "$MH_PID" 2>/dev/null; then
    local rc=0
    wait "$MH_PID" 2>/dev/null || rc=$?
    log "modelhub (pid $MH_PID) is gone, exit status $rc; last log lines:"
    tail -n 40 "$MH_LOG" >&2 || true
    return 1
  fi
}

# start_nginx ROOT_DIR: static nginx on a free port serving ROOT_DIR; sets NG_PORT, NG_URL, NG_PID.
start_nginx() {
  local root=$1
  local prefix="$BENCH_WORK/nginx"
  mkdir -p "$prefix/logs" "$prefix/tmp"
  NG_PORT="$(free_port)"
  NG_URL="http://127.0.0.1:$NG_PORT"
  local user_line=""
  [[ $(id -u) -eq 0 ]] && user_line="user root;"
  cat >"$prefix/nginx.conf" <<CONF
$user_line
worker_processes auto;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/octet-stream;
  types { }
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  client_body_temp_path $prefix/tmp/body;
  proxy_temp_path $prefix/tmp/proxy;
  fastcgi_temp_path $prefix/tmp/fastcgi;
  uwsgi_temp_path $prefix/tmp/uwsgi;
  scgi_temp_path $prefix/tmp/scgi;
  server {
    listen 127.0.0.1:$NG_PORT;
    server_name localhost;
    root $root;
    location / { }
  }
}
CONF
  nginx -p "$prefix" -c "$prefix/nginx.conf" -g 'daemon off;' </dev/null >"$prefix/logs/stdout.log" 2>&1 &
  NG_PID=$!
  bench_track_pid "$NG_PID"
  if ! wait_http "$NG_URL/" 20 "$NG_PID" && ! curl -sS -o /dev/null --max-time 2 "$NG_URL/" 2>/dev/null; then
    cat "$prefix/logs/error.log" "$prefix/logs/stdout.log" >&2 2>/dev/null || true
    die "nginx did not start on $NG_URL"
  fi
  log "nginx pid $NG_PID on $NG_URL serving $root (sendfile on)"
}

# make_random_file PATH MIB: PATH of MIB MiB of random bytes (urandom, 64 MiB block repeated
# beyond 64 MiB so that 10 GiB files are quick to make).
make_random_file() {
  local path=$1 mib=$2
  if ((mib <= 64)); then
    head -c "$((mib * 1024 * 1024))" /dev/urandom >"$path"
  else
    local block="$BENCH_WORK/block.64m"
    [[ -f $block ]] || head -c $((64 * 1024 * 1024)) /dev/urandom >"$block"
    local full=$((mib / 64)) rest=$((mib % 64))
    {
      for ((i = 0; i < full; i++)); do cat "$block"; done
      ((rest == 0)) || head -c "$((rest * 1024 * 1024))" "$block"
    } >"$path"
    # Salt the first 4 KiB so no two generated files share a content hash.
    head -c 4096 /dev/urandom | dd of="$path" bs=4096 count=1 conv=notrunc status=none
  fi
}

# hf_upload LOCAL_PATH REPO_ID PATH_IN_REPO: creates the repo if needed, upload_file; prints the
# wall-clock seconds of the upload_file call alone on stdout. Killed after $UPLOAD_TIMEOUT s (3600).
hf_upload() {
  HF_ENDPOINT="$MH_URL" HF_HUB_DISABLE_XET=1 HF_TOKEN="$MH_TOKEN" HF_HOME="$BENCH_WORK/hf_home" \
    HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_PROGRESS_BARS=1 HF_HUB_DISABLE_UPDATE_CHECK=1 \
    NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost \
    timeout "${UPLOAD_TIMEOUT:-3600}" "$BENCH_PY" "$BENCH_SRC/hf_upload.py" "$@"
}

# median: median of the numbers on stdin (one a line).
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"; exit} if (NR%2) print a[(NR+1)/2]; else printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2}'; }

# ratio A B: A/B with 3 decimals ("n/a" when B is 0).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b+0 == 0) print "n/a"; else printf "%.3f\n", a/b }'; }

# mbps BYTES_PER_SECOND: in MB/s (10^6 bytes), 1 decimal.
mbps() { awk -v x="$1" 'BEGIN { printf "%.1f\n", x/1e6 }'; }

bench_header() {
  echo "== $BENCH_NAME ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), quick=$BENCH_QUICK)"
}
