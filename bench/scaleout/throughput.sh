#!/usr/bin/env bash
# Scale-out throughput: 4 clients uploading then downloading 4 files at once (huggingface_hub, LFS path:
# the server chunks, hashes and stores; downloads rebuilt by the server) against
#   A  the embedded default (SQLite, one process),
#   B  metadata in PostgreSQL, one process,
#   C  metadata in PostgreSQL, two processes on one data folder behind nginx round-robin.
# Prints aggregate MB/s and the ratios B/A (scale-out vs embedded) and C/B (two processes vs one).
# On this 2-core machine the clients, nginx, PostgreSQL and the servers share the same cores: C/B shows
# the cost of the extra hop more than any gain; a multi-core or multi-node run is what C is for.
#   size per file: 256 MiB (BENCH_QUICK=1: 64), SCALE_SIZE_MIB overrides; SCALE_FILES (4)
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bench_init curl nginx openssl psql

if [[ $BENCH_QUICK == 1 ]]; then SIZE_MIB=${SCALE_SIZE_MIB:-64}; else SIZE_MIB=${SCALE_SIZE_MIB:-256}; fi
NFILES=${SCALE_FILES:-4}
BYTES=$((SIZE_MIB * 1024 * 1024))
bench_header

PG_DIR="$(mktemp -d /tmp/modelhub-bench-pg.XXXXXX)"  # directly under /tmp: the server runs as another user
PG_URL="$(bash "$BENCH_ROOT/scripts/pg-test-server.sh" start "$PG_DIR" $$)" || die "PostgreSQL did not start"
trap 'bash "$BENCH_ROOT/scripts/pg-test-server.sh" stop "$PG_DIR" >/dev/null 2>&1 || true; rm -rf "$PG_DIR"; bench_cleanup' EXIT
new_db() { local n="bench_$RANDOM$RANDOM"; psql "$PG_URL" -qc "CREATE DATABASE $n" >/dev/null && echo "${PG_URL%/*}/$n"; }

BIN="$BENCH_WORK/modelhub"; cp "${MODELHUB_BIN:-$BENCH_ROOT/build/bin/modelhub}" "$BIN"
serve() {  # serve DATA PORT PUBLIC_URL [ARGS...]: starts a server (tracked for cleanup)
  local data=$1 port=$2 url=$3; shift 3
  "$BIN" serve --data "$data" --listen "127.0.0.1:$port" --public-url "$url" --quiet "$@" </dev/null \
    >>"$BENCH_WORK/servers.log" 2>&1 &
  local pid=$!
  bench_track_pid "$pid"
  wait_http "http://127.0.0.1:$port/health" 30 "$pid" || die "server on $port did not start: $(tail -5 "$BENCH_WORK/servers.log")"
}
token_for() {  # token_for DATA
  "$BIN" admin --data "$1" user create bench >/dev/null 2>&1
  "$BIN" admin --data "$1" token create bench --role write --name bench 2>/dev/null | tail -n 1
}

log "generating $NFILES files of $SIZE_MIB MiB"
FILES=()
for ((i = 0; i < NFILES; i++)); do
  f="$BENCH_WORK/src/f$i.bin"; mkdir -p "${f%/*}"
  { openssl enc -aes-128-ctr -nosalt -K "$(openssl rand -hex 16)" -iv "$(openssl rand -hex 16)" </dev/zero 2>/dev/null || true; } |
    head -c "$BYTES" >"$f"
  FILES+=("$f")
done

run() {  # run NAME ENDPOINT TOKEN: prints "up_mbps down_mbps"
  local out
  out="$(HF_HUB_DISABLE_XET=1 HF_HOME="$BENCH_WORK/home-$1" HF_HUB_DISABLE_PROGRESS_BARS=1 HF_HUB_DISABLE_TELEMETRY=1 \
    NO_PROXY=127.0.0.1 no_proxy=127.0.0.1 "$BENCH_PY" "$BENCH_SRC/scaleout/parallel.py" "$2" "$3" "bench/$1" "${FILES[@]}")" ||
    die "$1: clients failed"
  read -r up down total <<<"$out"
  awk -v t="$total" -v u="$up" -v d="$down" 'BEGIN { printf "%.1f %.1f\n", t / u / 1e6, t / d / 1e6 }'
}

# A: embedded
P=$(free_port); D="$BENCH_WORK/a"; mkdir -p "$D"; serve "$D" "$P" "http://127.0.0.1:$P"
read -r A_UP A_DOWN <<<"$(run a "http://127.0.0.1:$P" "$(token_for "$D")")"
log "A embedded: upload $A_UP MB/s, download $A_DOWN MB/s"
# B: PostgreSQL, one process
P=$(free_port); D="$BENCH_WORK/b"; mkdir -p "$D"; serve "$D" "$P" "http://127.0.0.1:$P" --metadata-url "$(new_db)"
read -r B_UP B_DOWN <<<"$(run b "http://127.0.0.1:$P" "$(token_for "$D")")"
log "B postgres, 1 process: upload $B_UP MB/s, download $B_DOWN MB/s"
# C: PostgreSQL, two processes behind nginx
NP=$(free_port); P1=$(free_port); P2=$(free_port); D="$BENCH_WORK/c"; mkdir -p "$D" "$BENCH_WORK/ngx"
DB="$(new_db)"
serve "$D" "$P1" "http://127.0.0.1:$NP" --metadata-url "$DB"
serve "$D" "$P2" "http://127.0.0.1:$NP"
cat >"$BENCH_WORK/ngx/nginx.conf" <<NGX
worker_processes 2; daemon off; pid $BENCH_WORK/ngx/nginx.pid; error_log $BENCH_WORK/ngx/error.log;
events { worker_connections 256; }
http { access_log off; client_max_body_size 0; proxy_request_buffering off; proxy_buffering off; proxy_http_version 1.1;
  client_body_temp_path $BENCH_WORK/ngx/b; proxy_temp_path $BENCH_WORK/ngx/p;
  upstream mh { server 127.0.0.1:$P1; server 127.0.0.1:$P2; keepalive 32; }
  server { listen 127.0.0.1:$NP; location / { proxy_pass http://mh; proxy_set_header Host \$http_host;
    proxy_set_header Connection ""; proxy_read_timeout 600s; } } }
NGX
nginx -c "$BENCH_WORK/ngx/nginx.conf" -p "$BENCH_WORK/ngx" &
NGX_PID=$!
bench_track_pid "$NGX_PID"
wait_http "http://127.0.0.1:$NP/health" 20 "$NGX_PID" || die "nginx did not start"
read -r C_UP C_DOWN <<<"$(run c "http://127.0.0.1:$NP" "$(token_for "$D")")"
log "C postgres, 2 processes + nginx: upload $C_UP MB/s, download $C_DOWN MB/s"

echo "Scale-out throughput, $NFILES concurrent clients x $SIZE_MIB MiB (LFS path), aggregate MB/s (10^6 B/s)"
printf '  %-40s upload %7s  download %7s\n' "A embedded (SQLite, 1 process)" "$A_UP" "$A_DOWN" \
  "B PostgreSQL, 1 process" "$B_UP" "$B_DOWN" "C PostgreSQL, 2 processes + nginx" "$C_UP" "$C_DOWN"
echo "  ratio B/A (scale-out vs embedded): upload $(ratio "$B_UP" "$A_UP"), download $(ratio "$B_DOWN" "$A_DOWN")"
echo "  ratio C/B (two processes vs one):  upload $(ratio "$C_UP" "$B_UP"), download $(ratio "$C_DOWN" "$B_DOWN")"
echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
