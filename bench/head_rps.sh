#!/usr/bin/env bash
# Requests/s and latency of HEAD /resolve of small files, against nginx serving the same file as a
# static file. 64 connections, 2 client threads, 10 s a run (BENCH_QUICK=1: 5 s), 3 rounds
# (BENCH_QUICK=1: 1) alternating the servers; medians over the rounds.
#
# HEAD load comes from bench/headload.c (compiled here with cc): Debian 12's wrk 4.1 cannot do HEAD
# (every request ends as a read error, wg/wrk#198; see wrk_head.lua). As a cross-check with a
# standard tool, wrk (same -t2 -c64, --latency) also measures GET of the same small file.
#
# Targets: config.json (1 KiB JSON, a regular git blob: what clients HEAD before a download) and
#          small.bin   (4 KiB random, an LFS file: ETag = sha256, X-Linked-Size)
# The client, both servers and whatever else runs on the machine share its cores.
# Prints requests/s, p50 and p99 latency of each, and ratios modelhub/nginx (goal >= 0.5 for HEAD).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init curl nginx wrk cc

if [[ $BENCH_QUICK == 1 ]]; then DUR=${HEAD_DURATION:-5}; ROUNDS=${HEAD_ROUNDS:-1}
else DUR=${HEAD_DURATION:-10}; ROUNDS=${HEAD_ROUNDS:-3}; fi
CONNS=${HEAD_CONNECTIONS:-64}
THREADS=${HEAD_THREADS:-2}

bench_header
HEADLOAD="$BENCH_WORK/headload"
cc -O2 -pthread -o "$HEADLOAD" "$BENCH_SRC/headload.c" || die "cannot compile bench/headload.c"
start_modelhub
mkdir -p "$BENCH_WORK/www"
"$BENCH_PY" - "$BENCH_WORK/www/config.json" <<'PY'
import json, sys
cfg = {"architectures": ["BenchForCausalLM"], "model_type": "bench", "hidden_size": 768,
       "num_attention_heads": 12, "num_hidden_layers": 12, "vocab_size": 32000,
       "torch_dtype": "float32", "note": "x" * 700}
open(sys.argv[1], "w").write(json.dumps(cfg, indent=2) + "\n")
PY
head -c 4096 /dev/urandom >"$BENCH_WORK/www/small.bin"
for f in config.json small.bin; do
  hf_upload "$BENCH_WORK/www/$f" bench/head-rps "$f" >/dev/null || { modelhub_alive || true; die "upload_file $f failed"; }
done
start_nginx "$BENCH_WORK/www"
SIZE_CFG=$(stat -c %s "$BENCH_WORK/www/config.json")
MH_CFG="$MH_URL/bench/head-rps/resolve/main/config.json"
MH_LFS="$MH_URL/bench/head-rps/resolve/main/small.bin"
NG_CFG="$NG_URL/config.json"

# check_head URL SIZE: HEAD answers 200 with Content-Length SIZE (shows the answer otherwise)
check_head() {
  local url=$1 size=$2 hdr
  hdr="$(curl -sS -I --max-time 10 "$url" | tr -d '\r')" || return 1
  if ! grep -q '^HTTP/[0-9.]* 200' <<<"$hdr" || ! grep -qi "^content-length: $size\$" <<<"$hdr"; then
    log "HEAD $url answered:"; printf '%s\n' "$hdr" >&2; return 1
  fi
}
check_head "$MH_CFG" "$SIZE_CFG" || die "modelhub HEAD config.json is wrong"
check_head "$MH_LFS" 4096 || die "modelhub HEAD small.bin is wrong"
check_head "$NG_CFG" "$SIZE_CFG" || die "nginx HEAD config.json is wrong"

declare -A RPS P50 P99 BAD   # keyed "name" -> space-separated values over rounds

# run_headload NAME URL
run_headload() {
  local name=$1 url=$2 out
  out="$(timeout $((DUR + 60)) "$HEADLOAD" -m HEAD -c "$CONNS" -t "$THREADS" -d "$DUR" "$url")" ||
    die "headload failed against $url"
  printf '%s\n' "$out" >>"$BENCH_WORK/headload-$name.txt"
  local rps p50 p99 other errs
  rps=$(awk '$1 == "rps:" {print $2}' <<<"$out")
  p50=$(awk '$1 == "p50_ms:" {print $2}' <<<"$out")
  p99=$(awk '$1 == "p99_ms:" {print $2}' <<<"$out")
  other=$(awk '$1 == "status_other:" {print $2}' <<<"$out")
  errs=$(awk '$1 == "errors:" {print $2}' <<<"$out")
  RPS[$name]+="$rps "; P50[$name]+="$p50 "; P99[$name]+="$p99 "
  ((other == 0 && errs == 0)) || BAD[$name]+="[non-2xx $other, errors $errs] "
  log "$name: $rps req/s, p50 ${p50} ms, p99 ${p99} ms, non-2xx $other, errors $errs"
}

# wrk latency value (e.g. 812.00us, 1.20ms, 1.01s) -> ms
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) ; else if (v ~ /s$/) n *= 1000; printf "%.3f\n", n }'; }

# run_wrk_get NAME URL
run_wrk_get() {
  local name=$1 url=$2 out
  out="$(timeout $((DUR + 60)) wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --latency "$url" 2>&1)" ||
    { printf '%s\n' "$out" >&2; die "wrk failed against $url"; }
  printf '%s\n' "$out" >>"$BENCH_WORK/wrk-$name.txt"
  local rps p50 p99 non2xx errs
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  non2xx=$(awk -F': *' '/Non-2xx or 3xx responses/ {print $2}' <<<"$out")
  errs=$(grep -o 'Socket errors:.*' <<<"$out" || true)
  RPS[$name]+="$rps "; P50[$name]+="$p50 "; P99[$name]+="$p99 "
  [[ -z $non2xx && -z $errs ]] || BAD[$name]+="[${non2xx:+non-2xx $non2xx }$errs] "
  log "$name: $rps req/s, p50 ${p50} ms, p99 ${p99} ms ${non2xx:+non-2xx $non2xx }$errs"
}

log "$ROUNDS round(s) of ${DUR} s runs, $THREADS threads, $CONNS connections"
for ((r = 1; r <= ROUNDS; r++)); do
  log "round $r"
  run_headload head_nginx "$NG_CFG"
  run_headload head_mh_cfg "$MH_CFG"
  run_headload head_mh_lfs "$MH_LFS"
  run_wrk_get get_nginx "$NG_CFG"
  run_wrk_get get_mh_cfg "$MH_CFG"
  modelhub_alive || die "modelhub died under load"
done
check_head "$MH_CFG" "$SIZE_CFG" || die "modelhub HEAD config.json is wrong after the load"

med() { tr ' ' '\n' <<<"$1" | grep -v '^$' | median; }
row() {
  local label=$1 name=$2
  printf '  %-40s %9.0f req/s   p50 %7.3f ms   p99 %7.3f ms  %s\n' "$label" \
    "$(med "${RPS[$name]}")" "$(med "${P50[$name]}")" "$(med "${P99[$name]}")" "${BAD[$name]:-}"
}
echo "HEAD /resolve, $THREADS threads x $CONNS connections, ${DUR} s x $ROUNDS round(s), medians over rounds"
row "HEAD nginx static config.json" head_nginx
row "HEAD modelhub config.json (git blob)" head_mh_cfg
row "HEAD modelhub small.bin (LFS)" head_mh_lfs
row "GET (wrk) nginx static config.json" get_nginx
row "GET (wrk) modelhub config.json (git blob)" get_mh_cfg
echo "  per-round req/s: HEAD nginx [${RPS[head_nginx]% }], modelhub cfg [${RPS[head_mh_cfg]% }], lfs [${RPS[head_mh_lfs]% }]; GET nginx [${RPS[get_nginx]% }], modelhub [${RPS[get_mh_cfg]% }]"
echo "  ratio modelhub/nginx, HEAD config.json: $(ratio "$(med "${RPS[head_mh_cfg]}")" "$(med "${RPS[head_nginx]}")") (goal >= 0.5)"
echo "  ratio modelhub/nginx, HEAD small.bin:   $(ratio "$(med "${RPS[head_mh_lfs]}")" "$(med "${RPS[head_nginx]}")")"
echo "  ratio modelhub/nginx, GET (wrk) config.json: $(ratio "$(med "${RPS[get_mh_cfg]}")" "$(med "${RPS[get_nginx]}")")"
