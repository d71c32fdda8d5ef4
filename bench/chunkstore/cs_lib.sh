# Helpers for bench/chunkstore/*.sh (sourced after bench/lib.sh, which gives bench_init, start_modelhub,
# start_nginx, free_port, wait_http, median, ratio, mbps, log, die).

CS_DIR="$BENCH_SRC/chunkstore"

# start_modelhub_logged: like start_modelhub, but with the access log on (each request's duration is
# in $MH_LOG) -- for the ingest timings. Sets the same MH_* variables.
start_modelhub_logged() {
  local src="${MODELHUB_BIN:-$BENCH_ROOT/build/bin/modelhub}"
  [[ -x $src ]] || die "modelhub binary not found at $src (run scripts/build.sh or set MODELHUB_BIN)"
  MH_BIN="$BENCH_WORK/modelhub"
  cp "$src" "$MH_BIN"
  MH_DATA="$BENCH_WORK/mh-data"
  MH_LOG="$BENCH_WORK/modelhub.log"
  mkdir -p "$MH_DATA"
  MH_PORT="$(free_port)"
  MH_URL="http://127.0.0.1:$MH_PORT"
  # --metrics-public: the benchmarks read the counters of /metrics without a token.
  "$MH_BIN" serve --data "$MH_DATA" --listen "127.0.0.1:$MH_PORT" --public-url "$MH_URL" --metrics-public \
    </dev/null >"$MH_LOG" 2>&1 &
  MH_PID=$!
  bench_track_pid "$MH_PID"
  wait_http "$MH_URL/health" 30 "$MH_PID" || { tail -n 40 "$MH_LOG" >&2; die "modelhub did not start"; }
  "$MH_BIN" admin --data "$MH_DATA" user create bench >>"$BENCH_WORK/admin.log" 2>&1 ||
    die "admin user create failed: $(cat "$BENCH_WORK/admin.log")"
  MH_TOKEN="$("$MH_BIN" admin --data "$MH_DATA" token create bench --role write --name bench 2>>"$BENCH_WORK/admin.log" | tail -n 1 | tr -d '[:space:]')"
  [[ -n $MH_TOKEN ]] || die "admin token create printed no token"
  log "modelhub pid $MH_PID on $MH_URL, access log on (binary copied from $src)"
}

# cs_py ARGS...: the bench Python with the client environment for this server.
cs_py() {
  HF_ENDPOINT="$MH_URL" HF_HUB_DISABLE_XET=1 HF_TOKEN="$MH_TOKEN" HF_HOME="$BENCH_WORK/hf_home" \
    HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_PROGRESS_BARS=1 HF_HUB_DISABLE_UPDATE_CHECK=1 \
    NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost PYTHONPATH="$CS_DIR" BENCH_WORK="$BENCH_WORK" \
    timeout "${UPLOAD_TIMEOUT:-3600}" "$BENCH_PY" "$@"
}

# gen_model PATH MIB SEED: a safetensors file of about MIB MiB of random BF16 tensors (40 tensors,
# content unique to SEED; bench/chunkstore/variants_corpus.py); prints its sha256.
gen_model() {
  PYTHONPATH="$CS_DIR" "$BENCH_PY" -c '
import sys, variants_corpus as vc
fi = vc.write_model(vc.base_model(int(sys.argv[2]), seed=int(sys.argv[3])), sys.argv[1])
print(fi.sha256)' "$1" "$2" "$3"
}

# metric NAME: value of modelhub_chunkstore_NAME_total from /metrics (dies if missing).
metric() {
  local v
  v="$(curl -fsS --max-time 10 "$MH_URL/metrics" | awk -v n="modelhub_chunkstore_$1_total" '$1 == n { print $2 }')"
  [[ -n $v ]] || die "/metrics has no modelhub_chunkstore_$1_total (binary without the chunk store counters?)"
  echo "$v"
}

# proc_cpu PID: user+system CPU seconds of PID so far.
proc_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / hz }' "/proc/$1/stat"
}

# xorb_bytes DATA_DIR: bytes of the files under DATA_DIR/blobs/xorbs.
xorb_bytes() {
  if [[ -d $1/blobs/xorbs ]]; then find "$1/blobs/xorbs" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.0f\n", s}'
  else echo 0; fi
}

# log_ms ROUTE [FROM_LINE]: sum of the durations (ms) of the access-log lines with route=ROUTE after
# line FROM_LINE of $MH_LOG; also prints the count: "SUM_MS COUNT".
log_ms() {
  tail -n +"$((${2:-0} + 1))" "$MH_LOG" | awk -v r="route=$1" '
    index($0, r) { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+ms$/) { sub(/ms$/, "", $i); s += $i; n++ } }
    END { printf "%.1f %d\n", s, n }'
}

log_lines() { wc -l <"$MH_LOG"; }
