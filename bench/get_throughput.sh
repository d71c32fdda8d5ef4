#!/usr/bin/env bash
# GET throughput of one large LFS file through /resolve, against nginx (sendfile on) serving the
# same bytes from a plain file. Uploads the file first with huggingface_hub upload_file.
#   size: 1 GiB (BENCH_QUICK=1: 256 MiB), GET_SIZE_MIB overrides
#   runs: 5 each, alternating, after one warm-up each (GET_RUNS overrides); median of
#         curl's %{speed_download}
# Prints modelhub MB/s, nginx MB/s (MB = 10^6 bytes) and the ratio (goal >= 0.8).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init curl nginx sha256sum

if [[ $BENCH_QUICK == 1 ]]; then SIZE_MIB=${GET_SIZE_MIB:-256}; RUNS=${GET_RUNS:-3}
else SIZE_MIB=${GET_SIZE_MIB:-1024}; RUNS=${GET_RUNS:-5}; fi

bench_header
start_modelhub
mkdir -p "$BENCH_WORK/www"
FILE="$BENCH_WORK/www/big.bin"
log "generating $SIZE_MIB MiB"
make_random_file "$FILE" "$SIZE_MIB"
WANT_SHA="$(sha256sum "$FILE" | cut -d' ' -f1)"
log "uploading with upload_file"
UP_S="$(hf_upload "$FILE" bench/get-throughput big.bin)" ||
  { modelhub_alive || true; die "upload_file failed"; }
log "upload_file took ${UP_S}s"
start_nginx "$BENCH_WORK/www"

MH_FILE_URL="$MH_URL/bench/get-throughput/resolve/main/big.bin"
NG_FILE_URL="$NG_URL/big.bin"

# one GET to /dev/null; prints bytes/s, fails unless 200 with the full size
get_speed() {
  local url=$1 out
  out="$(curl -sS -L --max-time 600 -o /dev/null -w '%{http_code} %{size_download} %{speed_download}' "$url")" || return 1
  read -r code size speed <<<"$out"
  if [[ $code != 200 || $size != $((SIZE_MIB * 1024 * 1024)) ]]; then
    log "GET $url: HTTP $code, $size bytes (want 200, $((SIZE_MIB * 1024 * 1024)))"
    return 1
  fi
  echo "$speed"
}

log "checking the bytes served by modelhub"
GOT_SHA="$(curl -sS -L --max-time 600 "$MH_FILE_URL" | sha256sum | cut -d' ' -f1)"
[[ $GOT_SHA == "$WANT_SHA" ]] || { modelhub_alive || true; die "modelhub served wrong bytes: sha256 $GOT_SHA, want $WANT_SHA"; }

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
modelhub_alive || die "modelhub died during the runs"

MH_MED="$(printf '%s\n' "${MH_SPEEDS[@]}" | median)"
NG_MED="$(printf '%s\n' "${NG_SPEEDS[@]}" | median)"
echo "GET ${SIZE_MIB} MiB LFS file via /resolve, median of $RUNS runs (curl speed_download, MB = 10^6 B)"
echo "  modelhub runs MB/s: $(for s in "${MH_SPEEDS[@]}"; do printf '%s ' "$(mbps "$s")"; done)"
echo "  nginx    runs MB/s: $(for s in "${NG_SPEEDS[@]}"; do printf '%s ' "$(mbps "$s")"; done)"
echo "  modelhub: $(mbps "$MH_MED") MB/s"
echo "  nginx:    $(mbps "$NG_MED") MB/s (sendfile on)"
echo "  ratio modelhub/nginx: $(ratio "$MH_MED" "$NG_MED") (goal >= 0.8)"
