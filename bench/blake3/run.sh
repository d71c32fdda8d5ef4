#!/usr/bin/env bash
# BLAKE3, one thread: our kernels against b3sum --num-threads 1 on the same random file.
#
#   bench/blake3/run.sh [PATH_TO_blake3_bench]
#
# Builds nothing: first `ninja -C build-b3 blake3_bench` (default binary build-b3/src/crypto/).
# Makes a 1 GiB file of /dev/urandom bytes in /tmp (removed on exit), reads it once so both
# sides hash from the page cache, then:
#   1. blake3_bench per kernel, in process: mmap + hash + munmap (as b3sum does), and hashing
#      only, from a buffer the file was read into once (--in-memory); best of B3_RUNS;
#   2. b3sum --num-threads 1 and `blake3_bench --once` (default kernel), each a whole process
#      that mmaps the file (b3sum maps files too), timed the same way: hyperfine if installed,
#      else best of 3 with bash's `time`. Checks both print the same digest.
# Prints GB/s (10^9 bytes/s) from the best wall time and from the mean CPU time (user + sys;
# steadier when other jobs share the cores) and the ratios ours/b3sum (goal >= 0.9).
#
# Knobs: B3_SIZE_MIB (1024), B3_RUNS (10), B3_FILE (hash this file instead of making one).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${1:-$ROOT/build-b3/src/crypto/blake3_bench}"
SIZE_MIB="${B3_SIZE_MIB:-1024}"
RUNS="${B3_RUNS:-10}"

die() { echo "run.sh: $*" >&2; exit 1; }
[[ -x $BIN ]] || die "no blake3_bench at $BIN (ninja -C build-b3 blake3_bench, or pass its path)"
command -v b3sum >/dev/null || die "b3sum not found (Debian: apt-get install b3sum)"

WORK="$(mktemp -d /tmp/blake3-bench.XXXXXX)"
trap 'rm -rf -- "$WORK"' EXIT
if [[ -n ${B3_FILE:-} ]]; then
  FILE="$B3_FILE"
else
  FILE="$WORK/random.bin"
  head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$FILE"
fi
BYTES="$(stat -c %s "$FILE")"
cat "$FILE" >/dev/null  # into the page cache

CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
AVX512="no"
grep -qw avx512f /proc/cpuinfo && AVX512="yes (b3sum uses its AVX-512 code)"
LOAD="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "== blake3 $(date -u +%Y-%m-%dT%H:%M:%SZ): $CPU, $(nproc) cores, load $LOAD"
echo "   avx512f: $AVX512; $(b3sum --version); file $BYTES bytes"

echo "-- in process, per kernel: mmap + hash + munmap, best of $RUNS:"
"$BIN" --runs "$RUNS" "$FILE" | sed 's/^/   /'
echo "-- in process, per kernel: hashing only, file read into memory once (--in-memory):"
"$BIN" --runs "$RUNS" --in-memory "$FILE" | grep -v '^#' | sed 's/^/   /'

WANT="$(b3sum --num-threads 1 --no-names "$FILE")"
GOT="$("$BIN" --once "$FILE")"
[[ $WANT == "$GOT" ]] || die "digest mismatch: b3sum $WANT, blake3_bench $GOT"

B3_CMD="b3sum --num-threads 1 --no-names $FILE"
OUR_CMD="$BIN --once $FILE"
# Prints "best_wall_s mean_cpu_s" for each command, one line each.
if command -v hyperfine >/dev/null; then
  TIMER="hyperfine -N --warmup 1 --runs $RUNS"
  hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$WORK/h.json" "$B3_CMD" "$OUR_CMD" \
    >/dev/null
  TIMES="$(python3 -c '
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(min(r["times"]), r["user"] + r["system"])' "$WORK/h.json")"
else
  TIMER="best of 3, bash time"
  TIMES=""
  for cmd in "$B3_CMD" "$OUR_CMD"; do
    best_wall=1e9; best_cpu=1e9
    for _ in 1 2 3; do
      t="$( { TIMEFORMAT='%R %U %S'; time $cmd >/dev/null; } 2>&1 )"
      read -r wall user sys <<<"$t"
      best_wall="$(awk -v a="$best_wall" -v b="$wall" 'BEGIN{print (b<a)?b:a}')"
      best_cpu="$(awk -v a="$best_cpu" -v b="$user" -v c="$sys" 'BEGIN{print (b+c<a)?b+c:a}')"
    done
    TIMES+="$best_wall $best_cpu"$'\n'
  done
fi
read -r B3_WALL B3_CPU <<<"$(sed -n 1p <<<"$TIMES")"
read -r OUR_WALL OUR_CPU <<<"$(sed -n 2p <<<"$TIMES")"

gbps() { awk -v b="$BYTES" -v t="$1" 'BEGIN { printf "%.3f", b / t / 1e9 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
row() { printf '   %-28s wall %s GB/s   cpu %s GB/s\n' "$1" "$(gbps "$2")" "$(gbps "$3")"; }
echo "-- whole process, same file, $TIMER (digest $WANT):"
row "b3sum --num-threads 1" "$B3_WALL" "$B3_CPU"
row "blake3_bench --once ($("$BIN" --which))" "$OUR_WALL" "$OUR_CPU"
echo "   ratio ours/b3sum: wall $(ratio "$B3_WALL" "$OUR_WALL")," \
  "cpu $(ratio "$B3_CPU" "$OUR_CPU") (goal >= 0.9)"
