#!/usr/bin/env bash
# Scale-out throughput: 4 clients uploading then downloading 4 files at once (huggingface_hub 1.x with
# hf_xet: "xet" = the client's default, Xet CAS; "lfs" = HF_HUB_DISABLE_XET=1, the server chunks) against
#   A  the embedded default (SQLite + DATA/blobs, one process),
#   B  metadata in PostgreSQL, blobs in DATA/blobs, one process,
#   S  the scale-out backends: metadata in PostgreSQL, blobs on S3 (a local MinIO), one process,
#   C  the same, two processes behind nginx round-robin.
# Prints aggregate MB/s per configuration and path, and the ratios S/A (scale-out vs embedded),
# C/S (two processes vs one), B/A (what PostgreSQL costs) and S/B (what S3 costs).
# On this 2-core machine the clients, nginx, PostgreSQL, MinIO and the servers share the same cores:
# C/S shows the cost of the extra hop more than any gain; a multi-core or multi-node run is what C is for.
#   size per file: 256 MiB (BENCH_QUICK=1: 64), SCALE_SIZE_MIB overrides; SCALE_FILES (4);
#   SCALE_PATHS ("xet lfs"); SCALE_S3_SETTINGS appended to the S3 URLs (e.g. "&signed_payload=false")
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bench_init curl nginx openssl psql

if [[ $BENCH_QUICK == 1 ]]; then SIZE_MIB=${SCALE_SIZE_MIB:-64}; else SIZE_MIB=${SCALE_SIZE_MIB:-256}; fi
NFILES=${SCALE_FILES:-4}
BYTES=$((SIZE_MIB * 1024 * 1024))
bench_header

PG_DIR="$(mktemp -d /tmp/modelhub-bench-pg.XXXXXX)"  # directly under /tmp: the server runs as another user
PG_URL="$(bash "$BENCH_ROOT/scripts/pg-test-server.sh" start "$PG_DIR" $$)" || die "PostgreSQL did not start"
trap 'bash "$BENCH_ROOT/scripts/pg-test-server.sh" stop "$PG_DIR" >/dev/null 2>&1 || true; rm -rf "$PG_DIR"
  bash "$BENCH_ROOT/scripts/s3-test-server.sh" stop "$BENCH_WORK/minio" >/dev/null 2>&1 || true; bench_cleanup' EXIT
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

PATHS=(${SCALE_PATHS:-xet lfs})
# One set of files per path: the second path would otherwise find every chunk already stored.
declare -A FILES
for path in "${PATHS[@]}"; do
  log "generating $NFILES files of $SIZE_MIB MiB for the $path path"
  list=()
  for ((i = 0; i < NFILES; i++)); do
    f="$BENCH_WORK/src-$path/f$i.bin"; mkdir -p "${f%/*}"
    { openssl enc -aes-128-ctr -nosalt -K "$(openssl rand -hex 16)" -iv "$(openssl rand -hex 16)" </dev/zero 2>/dev/null || true; } |
      head -c "$BYTES" >"$f"
    list+=("$f")
  done
  FILES[$path]="${list[*]}"
done

run() {  # run NAME PATH ENDPOINT TOKEN: prints "up_mbps down_mbps"
  local out xet=()
  [[ $2 == lfs ]] && xet=(HF_HUB_DISABLE_XET=1)
  # shellcheck disable=SC2086 # FILES holds space-separated paths without spaces
  out="$(env "${xet[@]}" HF_HOME="$BENCH_WORK/home-$1-$2" HF_HUB_DISABLE_PROGRESS_BARS=1 HF_HUB_DISABLE_TELEMETRY=1 \
    NO_PROXY=127.0.0.1 no_proxy=127.0.0.1 "$BENCH_PY" "$BENCH_SRC/scaleout/parallel.py" "$3" "$4" "bench/$1-$2" ${FILES[$2]})" ||
    die "$1 ($2): clients failed"
  read -r up down total <<<"$out"
  awk -v t="$total" -v u="$up" -v d="$down" 'BEGIN { printf "%.1f %.1f\n", t / u / 1e6, t / d / 1e6 }'
}
declare -A UP DOWN
measure() {  # measure CONFIG ENDPOINT DATA: both paths against one running configuration
  local token path
  token="$(token_for "$3")"
  for path in "${PATHS[@]}"; do
    sync
    read -r "UP[$1-$path]" "DOWN[$1-$path]" <<<"$(run "$1" "$path" "$2" "$token")"
    log "$1 $path: upload ${UP[$1-$path]} MB/s, download ${DOWN[$1-$path]} MB/s"
  done
}

# S3: one MinIO, a bucket prefix per configuration.
S3_DIR="$BENCH_WORK/minio"
S3_ENV="$(MODELHUB_S3_OWNER_PID=$$ bash "$BENCH_ROOT/scripts/s3-test-server.sh" start "$S3_DIR")" || die "MinIO did not start (scripts/install-minio.sh)"
eval "$(grep -E '^(MODELHUB_S3_ENDPOINT|AWS_[A-Z_]+)=' <<<"$S3_ENV" | sed 's/^/export /')"
ninja -C "$BENCH_ROOT/build" blob_bench >/dev/null
"$BENCH_ROOT/build/src/storage/blob/blob_bench" "s3://bench?endpoint=$MODELHUB_S3_ENDPOINT" 1 --create-bucket >/dev/null ||
  die "could not create the bucket"
s3_url() { echo "s3://bench/$1?endpoint=$MODELHUB_S3_ENDPOINT${SCALE_S3_SETTINGS:-}"; }

# A: embedded
P=$(free_port); D="$BENCH_WORK/a"; mkdir -p "$D"; serve "$D" "$P" "http://127.0.0.1:$P"
measure a "http://127.0.0.1:$P" "$D"
# B: PostgreSQL, local blobs, one process
P=$(free_port); D="$BENCH_WORK/b"; mkdir -p "$D"; serve "$D" "$P" "http://127.0.0.1:$P" --metadata-url "$(new_db)"
measure b "http://127.0.0.1:$P" "$D"
# S: PostgreSQL + S3, one process
P=$(free_port); D="$BENCH_WORK/s"; mkdir -p "$D"
serve "$D" "$P" "http://127.0.0.1:$P" --metadata-url "$(new_db)" --blob-url "$(s3_url s)"
measure s "http://127.0.0.1:$P" "$D"
# C: PostgreSQL + S3, two processes behind nginx
NP=$(free_port); P1=$(free_port); P2=$(free_port); D="$BENCH_WORK/c"; mkdir -p "$D" "$BENCH_WORK/ngx"
serve "$D" "$P1" "http://127.0.0.1:$NP" --max-client-connections 0 --metadata-url "$(new_db)" --blob-url "$(s3_url c)"
serve "$D" "$P2" "http://127.0.0.1:$NP" --max-client-connections 0
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
measure c "http://127.0.0.1:$NP" "$D"

echo "Scale-out throughput, $NFILES concurrent clients x $SIZE_MIB MiB, aggregate MB/s (10^6 B/s)"
for path in "${PATHS[@]}"; do
  echo " path $path:"
  printf '  %-48s upload %7s  download %7s\n' \
    "A embedded (SQLite + folder, 1 process)" "${UP[a-$path]}" "${DOWN[a-$path]}" \
    "B PostgreSQL + folder, 1 process" "${UP[b-$path]}" "${DOWN[b-$path]}" \
    "S PostgreSQL + S3 (MinIO), 1 process" "${UP[s-$path]}" "${DOWN[s-$path]}" \
    "C PostgreSQL + S3 (MinIO), 2 processes + nginx" "${UP[c-$path]}" "${DOWN[c-$path]}"
  for r in "S/A scale-out vs embedded:s:a" "C/S two processes vs one:c:s" "B/A PostgreSQL's cost:b:a" "S/B S3's cost:s:b"; do
    IFS=: read -r what x y <<<"$r"
    printf '  ratio %-28s upload %s, download %s\n' "$what" "$(ratio "${UP[$x-$path]}" "${UP[$y-$path]}")" \
      "$(ratio "${DOWN[$x-$path]}" "${DOWN[$y-$path]}")"
  done
done
echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
