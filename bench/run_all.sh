#!/usr/bin/env bash
# Runs the four modelhub benchmarks one after the other and prints their results together at the
# end. Figures only: no threshold fails a run. A benchmark that hits an error (server crash, wrong
# bytes, failed upload) is reported and makes this script exit 1 after the others have run.
#   BENCH_QUICK=1 bash bench/run_all.sh     # small sizes, a couple of minutes
#   bash bench/run_all.sh                   # full sizes (1 GiB GET, 2 GiB upload, 10 GiB RSS)
#   BENCH_ONLY="get_throughput head_rps"    # a subset
#   BENCH_OUT=FILE                          # also write the summary to FILE
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ALL=(get_throughput head_rps upload_2g rss_10g)
read -r -a RUN <<<"${BENCH_ONLY:-${ALL[*]}}"

SUMMARY="$(mktemp "${TMPDIR:-/tmp}/modelhub-bench-summary.XXXXXX")"
# One frozen copy of the binary for all four, so a rebuild during the run cannot mix versions.
SRC_BIN="${MODELHUB_BIN:-$(cd "$HERE/.." && pwd)/build/bin/modelhub}"
[[ -x $SRC_BIN ]] || { echo "modelhub binary not found at $SRC_BIN (run scripts/build.sh or set MODELHUB_BIN)" >&2; exit 1; }
BIN_COPY="$(mktemp "${TMPDIR:-/tmp}/modelhub-bench-bin.XXXXXX")"
cp "$SRC_BIN" "$BIN_COPY" && chmod +x "$BIN_COPY"
export MODELHUB_BIN="$BIN_COPY"
trap 'rm -f "$SUMMARY" "$BIN_COPY"' EXIT
failed=()
{
  echo "modelhub benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, quick=${BENCH_QUICK:-0}"
  echo "binary: $SRC_BIN, built $(date -u -r "$SRC_BIN" +%Y-%m-%dT%H:%M:%SZ), checkout at $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$SUMMARY"

for b in "${RUN[@]}"; do
  script="$HERE/$b.sh"
  [[ -f $script ]] || { echo "no benchmark $b" >&2; failed+=("$b(missing)"); continue; }
  echo "=================== $b ===================" >&2
  start=$SECONDS
  out="$(bash "$script")"
  rc=$?
  printf '%s\n' "$out"
  { printf '%s\n' "$out"; echo "  ($b: $((SECONDS - start)) s, exit $rc)"; } >>"$SUMMARY"
  ((rc == 0)) || failed+=("$b(exit $rc)")
done

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$SUMMARY"
echo
echo "=================== summary ==================="
cat "$SUMMARY"
[[ -n ${BENCH_OUT:-} ]] && cp "$SUMMARY" "$BENCH_OUT"
if ((${#failed[@]})); then
  echo "benchmarks with errors: ${failed[*]}"
  exit 1
fi
