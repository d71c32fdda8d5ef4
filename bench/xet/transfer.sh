#!/usr/bin/env bash
# Xet transfer: upload and download of a 2 GiB file through huggingface_hub + hf_xet (the Xet CAS
# under /api/cas) against the same client on the plain path (HF_HUB_DISABLE_XET=1: LFS batch upload,
# multipart; /resolve download rebuilt by the server), and the Xet download against nginx (sendfile)
# serving the raw file (curl writing it to a file, as the clients write theirs). Every upload is a new random file (AES-CTR keystream: no repeats, so no
# client-side dedup) from a fresh client home (no local Xet cache); every download goes to a fresh
# cache and is checked by sha256.
#   size: 2048 MiB (BENCH_QUICK=1: 256), XET_SIZE_MIB overrides; XET_RUNS (2, quick 1); medians.
# Prints seconds and MB/s per path and the ratios xet/plain (throughput; > 1 = Xet faster) and
# xet download/nginx.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bench_init curl nginx sha256sum openssl

if [[ $BENCH_QUICK == 1 ]]; then SIZE_MIB=${XET_SIZE_MIB:-256}; RUNS=${XET_RUNS:-1}
else SIZE_MIB=${XET_SIZE_MIB:-2048}; RUNS=${XET_RUNS:-2}; fi
BYTES=$((SIZE_MIB * 1024 * 1024))

bench_header
start_modelhub
mkdir -p "$BENCH_WORK/www"

gen() {  # gen PATH: SIZE_MIB of AES-CTR keystream under a random key (openssl dies of SIGPIPE at the end)
  { openssl enc -aes-128-ctr -nosalt -K "$(openssl rand -hex 16)" -iv "$(openssl rand -hex 16)" </dev/zero 2>/dev/null ||
    true; } | head -c "$BYTES" >"$1"
  [[ $(stat -c %s "$1") == "$BYTES" ]] || die "could not generate $1"
}

client() {  # client XET(0|1) HOME ARGS...: prints seconds
  local xet=$1 home=$2
  shift 2
  local -a env=(HF_ENDPOINT="$MH_URL" HF_TOKEN="$MH_TOKEN" HF_HOME="$home" HF_HUB_DISABLE_TELEMETRY=1
    HF_HUB_DISABLE_PROGRESS_BARS=1 HF_HUB_DISABLE_UPDATE_CHECK=1 NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost)
  ((xet)) || env+=(HF_HUB_DISABLE_XET=1)
  env "${env[@]}" timeout 3600 "$BENCH_PY" "$BENCH_SRC/xet/xet_client.py" "$@" 2>>"$BENCH_WORK/client.log"
}

metric() { curl -sS "$MH_URL/metrics" | awk -v n="modelhub_$1_total" '$1 == n { print $2 }'; }
secs_to_mbps() { awk -v b="$BYTES" -v s="$1" 'BEGIN { printf "%.1f\n", b / s / 1e6 }'; }

UP_XET=() UP_LFS=() DN_XET=() DN_PLAIN=() DN_NGINX=()
for ((r = 1; r <= RUNS; r++)); do
  for path in xet lfs; do
    f="$BENCH_WORK/$path-$r.bin"
    gen "$f"
    sum="$(sha256sum "$f" | cut -d' ' -f1)"
    sync
    x0="$(metric xet_xorb_bytes_received)"
    if [[ $path == xet ]]; then
      t="$(client 1 "$BENCH_WORK/home-up-$path-$r" upload "$f" bench/xet "$path-$r.bin")" || die "xet upload failed: $(tail -5 "$BENCH_WORK/client.log")"
      UP_XET+=("$t")
    else
      t="$(client 0 "$BENCH_WORK/home-up-$path-$r" upload "$f" bench/xet "$path-$r.bin")" || die "lfs upload failed: $(tail -5 "$BENCH_WORK/client.log")"
      UP_LFS+=("$t")
    fi
    x1="$(metric xet_xorb_bytes_received)"
    log "run $r: $path upload $t s ($(secs_to_mbps "$t") MB/s); xorb bytes received $((x1 - x0))"
    # Both files are downloaded both ways below; keep one copy for nginx.
    [[ $path == xet ]] && mv "$f" "$BENCH_WORK/www/raw-$r.bin" && RAW_SUM="$sum" || rm -f "$f"
    eval "SUM_$path=$sum"
  done
  sync
  cache="$BENCH_WORK/cache-x-$r"
  t="$(client 1 "$BENCH_WORK/home-dn-x-$r" download bench/xet "xet-$r.bin" "$cache")" || die "xet download failed: $(tail -5 "$BENCH_WORK/client.log")"
  got="$(sha256sum "$(find "$cache" -name "xet-$r.bin" | head -1)" | cut -d' ' -f1)"
  [[ $got == "$SUM_xet" ]] || die "xet download: sha256 $got, want $SUM_xet"
  DN_XET+=("$t"); rm -rf "$cache"
  log "run $r: xet download $t s ($(secs_to_mbps "$t") MB/s)"
  cache="$BENCH_WORK/cache-p-$r"
  t="$(client 0 "$BENCH_WORK/home-dn-p-$r" download bench/xet "xet-$r.bin" "$cache")" || die "plain download failed: $(tail -5 "$BENCH_WORK/client.log")"
  got="$(sha256sum "$(find "$cache" -name "xet-$r.bin" | head -1)" | cut -d' ' -f1)"
  [[ $got == "$SUM_xet" ]] || die "plain download: sha256 $got, want $SUM_xet"
  DN_PLAIN+=("$t"); rm -rf "$cache"
  log "run $r: plain download $t s ($(secs_to_mbps "$t") MB/s)"
  [[ -n ${NG_URL:-} ]] || start_nginx "$BENCH_WORK/www"
  # Written to a file like the clients do (hf_xet and hf_hub_download write the blob to the cache).
  s="$(curl -sS -o "$BENCH_WORK/nginx.out" -w '%{speed_download}' "$NG_URL/raw-$r.bin")"
  rm -f "$BENCH_WORK/nginx.out"
  DN_NGINX+=("$(awk -v b="$BYTES" -v s="$s" 'BEGIN { printf "%.3f\n", b / s }')")
  log "run $r: nginx GET $(mbps "$s") MB/s"
  rm -f "$BENCH_WORK/www/raw-$r.bin"
done

up_x="$(printf '%s\n' "${UP_XET[@]}" | median)"; up_l="$(printf '%s\n' "${UP_LFS[@]}" | median)"
dn_x="$(printf '%s\n' "${DN_XET[@]}" | median)"; dn_p="$(printf '%s\n' "${DN_PLAIN[@]}" | median)"
dn_n="$(printf '%s\n' "${DN_NGINX[@]}" | median)"
echo "Xet transfer of $SIZE_MIB MiB random files, huggingface_hub + hf_xet, medians of $RUNS run(s) (MB = 10^6 B)"
echo "  upload   xet   $up_x s  $(secs_to_mbps "$up_x") MB/s"
echo "  upload   lfs   $up_l s  $(secs_to_mbps "$up_l") MB/s (HF_HUB_DISABLE_XET=1: LFS multipart)"
echo "  download xet   $dn_x s  $(secs_to_mbps "$dn_x") MB/s"
echo "  download plain $dn_p s  $(secs_to_mbps "$dn_p") MB/s (HF_HUB_DISABLE_XET=1: /resolve)"
echo "  download nginx $dn_n s  $(secs_to_mbps "$dn_n") MB/s (curl -o FILE, nginx sendfile)"
echo "  ratio upload xet/lfs (throughput):     $(ratio "$up_l" "$up_x")"
echo "  ratio download xet/plain (throughput): $(ratio "$dn_p" "$dn_x")"
echo "  ratio download xet/nginx (throughput): $(ratio "$dn_n" "$dn_x")"
echo "  server peak RSS over the whole run (VmHWM): $(awk '/^VmHWM/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$MH_PID/status")"
echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
