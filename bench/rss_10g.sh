#!/usr/bin/env bash
# Peak resident memory of the modelhub server while it takes a 10 GiB upload (huggingface_hub
# upload_file: LFS batch, multipart) and while it serves the same 10 GiB back (curl GET via
# /resolve, piped into sha256sum to check the bytes). Goal: < 200 MiB in both phases.
#   size: 10 GiB (BENCH_QUICK=1: 1 GiB), RSS_SIZE_MIB overrides. The file repeats one 64 MiB random
#         block (storage keeps plain files, so repetition does not shrink anything server-side).
#   peak: the larger of VmHWM (reset between phases through /proc/PID/clear_refs) and the largest
#         VmRSS seen by a 100 ms poller. The reference is the idle server's RSS after start-up.
# Needs about 3x the size free on the work folder's filesystem (source file, the stored blob and the
# upload's temporary parts): skips (exit 0) below 35 GiB free (3.5x size for other sizes).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ $BENCH_QUICK == 1 ]]; then SIZE_MIB=${RSS_SIZE_MIB:-1024}; else SIZE_MIB=${RSS_SIZE_MIB:-10240}; fi
BYTES=$((SIZE_MIB * 1024 * 1024))
NEED_GIB=$(((SIZE_MIB * 35 / 10 + 1023) / 1024))
((SIZE_MIB == 10240)) && NEED_GIB=35

PARENT="${BENCH_DIR:-/tmp}"
mkdir -p "$PARENT"
FREE_GIB=$(($(df -Pk "$PARENT" | awk 'NR == 2 {print $4}') / 1024 / 1024))
if ((FREE_GIB < NEED_GIB)); then
  echo "== $BENCH_NAME: SKIPPED: $FREE_GIB GiB free on $PARENT, needs $NEED_GIB GiB for a $SIZE_MIB MiB run (set BENCH_DIR to a bigger filesystem)"
  exit 0
fi

bench_init curl sha256sum
bench_header
log "$FREE_GIB GiB free on $PARENT (needs $NEED_GIB)"
start_modelhub

status_kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$MH_PID/status"; }

# rss_poller OUT: writes the largest VmRSS (KiB) seen every 100 ms to OUT until killed
rss_poller() {
  local out=$1 max=0 k v rest
  while kill -0 "$MH_PID" 2>/dev/null; do
    while read -r k v rest; do
      if [[ $k == VmRSS: ]]; then
        ((v > max)) && { max=$v; echo "$max" >"$out.tmp" && mv -f "$out.tmp" "$out"; }
        break
      fi
    done <"/proc/$MH_PID/status" 2>/dev/null || true
    sleep 0.1
  done
}
POLLER_PID=""
start_poller() { echo 0 >"$1"; rss_poller "$1" & POLLER_PID=$!; bench_track_pid "$POLLER_PID"; }
stop_poller() { kill "$POLLER_PID" 2>/dev/null || true; wait "$POLLER_PID" 2>/dev/null || true; }
reset_hwm() { echo 5 >"/proc/$MH_PID/clear_refs" 2>/dev/null || log "cannot reset VmHWM (clear_refs); upload peak carries over"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f\n", k/1024 }'; }
max_of() { printf '%s\n' "$@" | sort -n | tail -n 1; }

SRC="$BENCH_WORK/src/big.bin"
mkdir -p "$(dirname "$SRC")"
log "generating $SIZE_MIB MiB (64 MiB random block repeated)"
make_random_file "$SRC" "$SIZE_MIB"
WANT_SHA="$(sha256sum "$SRC" | cut -d' ' -f1)"
sync

sleep 1
IDLE_KIB=$(status_kib VmRSS)
reset_hwm

# ---- upload
start_poller "$BENCH_WORK/rss-upload"
log "upload_file of $SIZE_MIB MiB"
UP_S="$(hf_upload "$SRC" bench/rss-10g big.bin)" || { stop_poller; modelhub_alive || true; die "upload_file failed"; }
stop_poller
modelhub_alive || die "modelhub died during the upload"
UP_HWM=$(status_kib VmHWM)
UP_POLL=$(cat "$BENCH_WORK/rss-upload")
UP_AFTER=$(status_kib VmRSS)
log "upload: ${UP_S} s, VmHWM $(mib "$UP_HWM") MiB, polled max $(mib "$UP_POLL") MiB, after $(mib "$UP_AFTER") MiB"

# ---- download
reset_hwm
start_poller "$BENCH_WORK/rss-download"
log "GET of $SIZE_MIB MiB (curl | sha256sum)"
t0=$(date +%s.%N)
GOT_SHA="$(set -o pipefail; curl -sS -L --max-time 3600 "$MH_URL/bench/rss-10g/resolve/main/big.bin" | sha256sum | cut -d' ' -f1)" ||
  { stop_poller; modelhub_alive || true; die "download failed"; }
t1=$(date +%s.%N)
stop_poller
modelhub_alive || die "modelhub died during the download"
DL_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }')
DL_HWM=$(status_kib VmHWM)
DL_POLL=$(cat "$BENCH_WORK/rss-download")
[[ $GOT_SHA == "$WANT_SHA" ]] || die "download returned wrong bytes: sha256 $GOT_SHA, want $WANT_SHA"
log "download: ${DL_S} s, VmHWM $(mib "$DL_HWM") MiB, polled max $(mib "$DL_POLL") MiB, sha256 ok"

UP_PEAK=$(max_of "$UP_HWM" "$UP_POLL")
DL_PEAK=$(max_of "$DL_HWM" "$DL_POLL")
echo "server RSS during a ${SIZE_MIB} MiB upload (upload_file) and download (curl via /resolve)"
echo "  idle after start-up:  $(mib "$IDLE_KIB") MiB (reference)"
echo "  upload   peak: $(mib "$UP_PEAK") MiB (VmHWM $(mib "$UP_HWM"), polled $(mib "$UP_POLL")); ${UP_S} s, $(mbps "$(awk -v b=$BYTES -v t="$UP_S" 'BEGIN{print b/t}')") MB/s"
echo "  download peak: $(mib "$DL_PEAK") MiB (VmHWM $(mib "$DL_HWM"), polled $(mib "$DL_POLL")); ${DL_S} s, $(mbps "$(awk -v b=$BYTES -v t="$DL_S" 'BEGIN{print b/t}')") MB/s incl. client sha256"
echo "  peak/idle: upload $(ratio "$UP_PEAK" "$IDLE_KIB"), download $(ratio "$DL_PEAK" "$IDLE_KIB"); goal: peak < 200 MiB -> upload $( (( UP_PEAK < 200 * 1024 )) && echo met || echo NOT met), download $( (( DL_PEAK < 200 * 1024 )) && echo met || echo NOT met)"
