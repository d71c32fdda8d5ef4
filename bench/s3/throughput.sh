#!/usr/bin/env bash
# Write and read throughput of S3BlobStore on a local MinIO (signed payloads, the default, and
# UNSIGNED-PAYLOAD), against LocalBlobStore on the same disk and against curl talking to the
# same MinIO (curl --aws-sigv4: one PUT of a file, which curl sends without a payload hash, and
# one GET to /dev/null). Prints MB/s (10^6 bytes/s) per run, medians and ratios; never fails on
# a threshold, only on an error.
#
#   bash bench/s3/throughput.sh            # 1 GiB, 3 rounds
#   BENCH_MIB=256 BENCH_ROUNDS=1 bash bench/s3/throughput.sh
# Needs: build/src/storage/blob/blob_bench (built here with ninja), MinIO (scripts/install-minio.sh),
# curl >= 7.75; about 4x BENCH_MIB of free disk under BENCH_DIR (default /tmp).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MIB="${BENCH_MIB:-1024}"
ROUNDS="${BENCH_ROUNDS:-3}"
log() { printf '[s3-throughput] %s\n' "$*" >&2; }

ninja -C "$ROOT/build" blob_bench >/dev/null
BENCH_BIN="$ROOT/build/src/storage/blob/blob_bench"

WORK="$(mktemp -d "${BENCH_DIR:-/tmp}/mh-s3bench.XXXXXX")"
cleanup() {
  bash "$ROOT/scripts/s3-test-server.sh" stop "$WORK/minio" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

env_out="$(bash "$ROOT/scripts/s3-test-server.sh" start "$WORK/minio")"
eval "$(grep -E '^(MODELHUB_S3_ENDPOINT|AWS_[A-Z_]+)=' <<<"$env_out" | sed 's/^/export /')"
EP=$MODELHUB_S3_ENDPOINT
S3_URL="s3://bench?endpoint=$EP&path_style=true"
log "MinIO at $EP, $MIB MiB objects, $ROUNDS rounds"

"$BENCH_BIN" "$S3_URL" 1 --create-bucket >/dev/null  # creates the bucket, warms up

# The curl reference uploads a file of the same size (page cache warm).
head -c $((MIB << 20)) /dev/urandom >"$WORK/ref.bin"
cat "$WORK/ref.bin" >/dev/null
SIGV4=(--aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY")

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

lw=() lr=() sw=() sr=() uw=() ur=() cw=() cr=() rss=()
# Each run starts with no dirty pages left by the one before (sync), so none pays for another's writeback.
for round in $(seq "$ROUNDS"); do
  sync
  out="$("$BENCH_BIN" "$WORK/local" "$MIB")"
  lw+=("$(field write_MBps "$out")") lr+=("$(field read_MBps "$out")")
  log "round $round local: $out"
  sync
  out="$("$BENCH_BIN" "$S3_URL" "$MIB")"
  sw+=("$(field write_MBps "$out")") sr+=("$(field read_MBps "$out")") rss+=("$(field peak_rss_MiB "$out")")
  log "round $round S3BlobStore: $out"
  sync
  out="$("$BENCH_BIN" "$S3_URL&signed_payload=false" "$MIB")"
  uw+=("$(field write_MBps "$out")") ur+=("$(field read_MBps "$out")")
  log "round $round S3BlobStore unsigned: $out"
  sync
  put="$(curl -fsS "${SIGV4[@]}" -T "$WORK/ref.bin" -o /dev/null -w '%{speed_upload}' "$EP/bench/curl-ref")"
  get="$(curl -fsS "${SIGV4[@]}" -o /dev/null -w '%{speed_download}' "$EP/bench/curl-ref")"
  cw+=("$(awk -v b="$put" 'BEGIN {printf "%.1f", b / 1e6}')") cr+=("$(awk -v b="$get" 'BEGIN {printf "%.1f", b / 1e6}')")
  log "round $round curl: put ${cw[-1]} MB/s, get ${cr[-1]} MB/s"
done

LW=$(median "${lw[@]}") LR=$(median "${lr[@]}") SW=$(median "${sw[@]}") SR=$(median "${sr[@]}")
UW=$(median "${uw[@]}") UR=$(median "${ur[@]}") CW=$(median "${cw[@]}") CR=$(median "${cr[@]}") RSS=$(median "${rss[@]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo "# $MIB MiB object, median of $ROUNDS rounds, MB/s = 10^6 bytes/s; git $(git -C "$ROOT" rev-parse --short HEAD)"
printf '%-34s write %8s  read %8s\n' "LocalBlobStore (fsync)" "$LW" "$LR"
printf '%-34s write %8s  read %8s   peak RSS %s MiB\n' "S3BlobStore -> MinIO" "$SW" "$SR" "$RSS"
printf '%-34s write %8s  read %8s\n' "S3BlobStore unsigned -> MinIO" "$UW" "$UR"
printf '%-34s write %8s  read %8s\n' "curl --aws-sigv4 -> MinIO" "$CW" "$CR"
printf '%-34s write %8s  read %8s\n' "ratio S3BlobStore / curl" "$(ratio "$SW" "$CW")" "$(ratio "$SR" "$CR")"
printf '%-34s write %8s  read %8s\n' "ratio S3BlobStore unsigned / curl" "$(ratio "$UW" "$CW")" "$(ratio "$UR" "$CR")"
printf '%-34s write %8s  read %8s\n' "ratio S3BlobStore / Local" "$(ratio "$SW" "$LW")" "$(ratio "$SR" "$LR")"
