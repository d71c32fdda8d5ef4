#!/usr/bin/env bash
# Runs a throwaway MinIO (built by scripts/install-minio.sh) on loopback for tests and
# benchmarks. State (data, pid, port, log) lives in DIR.
#
#   scripts/s3-test-server.sh start DIR    starts it on a free port (the same port again if DIR
#                                          has one) and prints, one per line:
#                                            MODELHUB_S3_ENDPOINT=http://127.0.0.1:PORT
#                                            MODELHUB_S3_VHOST_ENDPOINT=http://localhost:PORT
#                                            AWS_ACCESS_KEY_ID=...  AWS_SECRET_ACCESS_KEY=...
#                                            AWS_REGION=us-east-1   MODELHUB_S3_PID=...
#                                          (virtual-host addressing works through the second
#                                          endpoint: MINIO_DOMAIN=localhost, and curl resolves
#                                          <bucket>.localhost to loopback)
#   scripts/s3-test-server.sh stop DIR     SIGTERM, then SIGKILL after 10 s
#   scripts/s3-test-server.sh kill DIR     SIGKILL now (fault tests)
#   scripts/s3-test-server.sh restart DIR  kill, then start on the same port and data
# MODELHUB_S3_OWNER_PID=PID: when that process is gone, the server is killed and DIR removed.
# Exit status 3 when the MinIO binary is missing (callers skip with that reason).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/minio-version.sh
source "$ROOT/scripts/minio-version.sh"

ACCESS_KEY=modelhub-test
SECRET_KEY=modelhub-test-secret-key

usage() { echo "usage: $0 start|stop|kill|restart DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
cmd=$1
dir=$2

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop_server() {  # stop_server SIGNAL
  [[ -f $dir/pid ]] || return 0
  local pid
  pid="$(cat "$dir/pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "-$1" "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$dir/pid"
}

print_env() {  # print_env PORT PID
  echo "MODELHUB_S3_ENDPOINT=http://127.0.0.1:$1"
  echo "MODELHUB_S3_VHOST_ENDPOINT=http://localhost:$1"
  echo "AWS_ACCESS_KEY_ID=$ACCESS_KEY"
  echo "AWS_SECRET_ACCESS_KEY=$SECRET_KEY"
  echo "AWS_REGION=us-east-1"
  echo "MODELHUB_S3_PID=$2"
}

start_server() {
  if [[ -f $dir/pid && -f $dir/port ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    print_env "$(cat "$dir/port")" "$(cat "$dir/pid")"  # already running: starting is idempotent
    return 0
  fi
  if [[ ! -x $MODELHUB_MINIO_BIN ]]; then
    echo "MinIO binary missing at $MODELHUB_MINIO_BIN: run scripts/install-minio.sh (needs Go >= 1.24)" >&2
    exit 3
  fi
  mkdir -p "$dir/data"
  local tries port pid
  for tries in 1 2 3 4 5; do
    if [[ -f $dir/port ]]; then
      port="$(cat "$dir/port")"
    else
      port=$((20000 + RANDOM % 40000))
      port_busy "$port" && continue
    fi
    # setsid: its own session, so a test's process group signals do not reach it.
    MINIO_ROOT_USER=$ACCESS_KEY MINIO_ROOT_PASSWORD=$SECRET_KEY MINIO_DOMAIN=localhost MINIO_BROWSER=off \
      MINIO_UPDATE=off MINIO_REGION=us-east-1 \
      setsid "$MODELHUB_MINIO_BIN" server --quiet --address "127.0.0.1:$port" "$dir/data" \
      >>"$dir/minio.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/pid"
    for _ in $(seq 300); do
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      # Ready, and ours: not another server that holds the port while ours failed to bind.
      if curl -fsS -o /dev/null "http://127.0.0.1:$port/minio/health/ready" 2>/dev/null && sleep 0.2 &&
        kill -0 "$pid" 2>/dev/null; then
        echo "$port" >"$dir/port"
        if [[ -n ${MODELHUB_S3_OWNER_PID:-} ]]; then
          # The server must not outlive a test process that crashed before stopping it.
          (
            while kill -0 "$MODELHUB_S3_OWNER_PID" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
            if ! kill -0 "$MODELHUB_S3_OWNER_PID" 2>/dev/null; then
              kill -KILL "$pid" 2>/dev/null
              for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
              rm -rf "$dir"
            fi
          ) </dev/null >/dev/null 2>&1 &
        fi
        print_env "$port" "$pid"
        return 0
      fi
      sleep 0.1
    done
    stop_server KILL
    if [[ -f $dir/port ]] && ((tries >= 3)); then rm -f "$dir/port"; fi  # the old port stays taken: move
  done
  echo "MinIO did not become ready; last lines of $dir/minio.log:" >&2
  tail -n 20 "$dir/minio.log" >&2 || true
  exit 1
}

case $cmd in
  start) start_server ;;
  stop) stop_server TERM ;;
  kill) stop_server KILL ;;
  restart) stop_server KILL; start_server ;;
  *) usage ;;
esac
