#!/usr/bin/env bash
# Chunk store download: GET of a 1 GiB chunk-stored file (random BF16 safetensors, uploaded with
# upload_file, so stored as ~16 000 chunks in 64 MiB xorbs) through /resolve, against nginx (sendfile
# on) serving the same bytes as a plain file. One warm-up each, then 3 alternating runs; medians of
# curl's %{speed_download}; ratio goal >= 0.6. The bytes of one download are checked (sha256).
# Read amplification (bytes read from storage / bytes served, from the modelhub_chunkstore_* counters
# on /metrics): one full download, and 1000 random 1 MiB Range GETs (every answer checked against
# the local file); goal <= 1.1. The same ranges against nginx give a ranges/s reference.
#   size: 1024 MiB (BENCH_QUICK=1: 256), DL_SIZE_MIB overrides; DL_RUNS (3); DL_RANGES (1000)
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/cs_lib.sh"
bench_init curl nginx sha256sum

if [[ $BENCH_QUICK == 1 ]]; then SIZE_MIB=${DL_SIZE_MIB:-256}; RUNS=${DL_RUNS:-3}; NRANGES=${DL_RANGES:-200}
else SIZE_MIB=${DL_SIZE_MIB:-1024}; RUNS=${DL_RUNS:-3}; NRANGES=${DL_RANGES:-1000}; fi

bench_header
start_modelhub
mkdir -p "$BENCH_WORK/www"
FILE="$BENCH_WORK/www/model.safetensors"
log "generating $SIZE_MIB MiB of random BF16 tensors"
WANT_SHA="$(gen_model "$FILE" "$SIZE_MIB" 4711)"
BYTES="$(stat -c %s "$FILE")"
log "uploading with upload_file"
UP_S="$(cs_py "$BENCH_SRC/hf_upload.py" "$FILE" bench/download model.safetensors)" ||
  { modelhub_alive || true; die "upload_file failed"; }
log "upload_file took ${UP_S}s; xorbs on disk: $(xorb_bytes "$MH_DATA") bytes"
start_nginx "$BENCH_WORK/www"
MH_FILE_URL="$MH_URL/bench/download/resolve/main/model.safetensors"
NG_FILE_URL="$NG_URL/model.safetensors"

get_speed() {
  local url=$1 out code size speed
  out="$(curl -sS -L --max-time 600 -o /dev/null -w '%{http_code} %{size_download} %{speed_download}' "$url")" || return 1
  read -r code size speed <<<"$out"
  [[ $code == 200 && $size == "$BYTES" ]] || { log "GET $url: HTTP $code, $size bytes (want 200, $BYTES)"; return 1; }
  echo "$speed"
}

log "checking the bytes served by modelhub (and read amplification of a full download)"
r0="$(metric bytes_read)"; s0="$(metric bytes_served)"
GOT_SHA="$(curl -sS -L --max-time 600 "$MH_FILE_URL" | sha256sum | cut -d' ' -f1)"
r1="$(metric bytes_read)"; s1="$(metric bytes_served)"
[[ $GOT_SHA == "$WANT_SHA" ]] || { modelhub_alive || true; die "modelhub served wrong bytes: $GOT_SHA, want $WANT_SHA"; }
FULL_AMP="$(ratio "$((r1 - r0))" "$((s1 - s0))")"

log "warm-up"
get_speed "$MH_FILE_URL" >/dev/null || { modelhub_alive || true; die "modelhub GET failed"; }
get_speed "$NG_FILE_URL" >/dev/null || die "nginx GET failed"
MH_SPEEDS=() NG_SPEEDS=()
for ((r = 1; r <= RUNS; r++)); do
  s="$(get_speed "$MH_FILE_URL")" || { modelhub_alive || true; die "modelhub GET failed (run $r)"; }
  MH_SPEEDS+=("$s")
  s="$(get_speed "$NG_FILE_URL")" || die "nginx GET failed (run $r)"
  NG_SPEEDS+=("$s")
  log "run $r: modelhub $(mbps "${MH_SPEEDS[-1]}") MB/s, nginx $(mbps "${NG_SPEEDS[-1]}") MB/s"
done

log "$NRANGES random 1 MiB ranges, modelhub then nginx"
r2="$(metric bytes_read)"; s2="$(metric bytes_served)"
MH_RANGES="$(cs_py "$CS_DIR/ranges.py" "$MH_FILE_URL" "$FILE" "$NRANGES" 1048576)" ||
  { modelhub_alive || true; die "modelhub range GETs failed"; }
r3="$(metric bytes_read)"; s3="$(metric bytes_served)"
NG_RANGES="$(HF_TOKEN= "$BENCH_PY" "$CS_DIR/ranges.py" "$NG_FILE_URL" "$FILE" "$NRANGES" 1048576)" || die "nginx range GETs failed"
RANGE_AMP="$(ratio "$((r3 - r2))" "$((s3 - s2))")"
modelhub_alive || die "modelhub died"
rps() { awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } } END { printf "%.1f", v["ranges"] / v["seconds"] }' <<<"$1"; }

MH_MED="$(printf '%s\n' "${MH_SPEEDS[@]}" | median)"
NG_MED="$(printf '%s\n' "${NG_SPEEDS[@]}" | median)"
echo "GET of a ${SIZE_MIB} MiB chunk-stored file via /resolve vs nginx, median of $RUNS runs (MB = 10^6 B)"
echo "  modelhub runs MB/s: $(for s in "${MH_SPEEDS[@]}"; do printf '%s ' "$(mbps "$s")"; done)"
echo "  nginx    runs MB/s: $(for s in "${NG_SPEEDS[@]}"; do printf '%s ' "$(mbps "$s")"; done)"
echo "  modelhub: $(mbps "$MH_MED") MB/s; nginx: $(mbps "$NG_MED") MB/s (sendfile on)"
echo "  ratio modelhub/nginx: $(ratio "$MH_MED" "$NG_MED") (goal >= 0.6)"
echo "read amplification (chunk store bytes_read / bytes_served, goal <= 1.1)"
echo "  full download: $FULL_AMP ($((r1 - r0)) / $((s1 - s0)) bytes)"
echo "  $NRANGES random 1 MiB ranges: $RANGE_AMP ($((r3 - r2)) / $((s3 - s2)) bytes)"
echo "  ranges/s: modelhub $(rps "$MH_RANGES") ($MH_RANGES)"
echo "            nginx    $(rps "$NG_RANGES") ($NG_RANGES)"
