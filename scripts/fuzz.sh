#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang-14 into ./build-fuzz and
# runs each for SECONDS_PER_TARGET seconds (default 30) on a scratch copy of
# its seed corpus (tests/fuzz/corpus/<target>; the repository is not modified).
# Exits non-zero if any target crashes, times out (-timeout=10), leaks or
# exceeds -rss_limit_mb=2048; the input that did it is copied to
# build-fuzz/fuzz-artifacts/ and its log tail is printed.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#   MODELHUB_FUZZ_TARGETS  space-separated subset (default: every tests/fuzz/fuzz_*.cc)
#   MODELHUB_FUZZ_JOBS     ninja -j (default 2)
#   MODELHUB_FUZZ_BUILD_DIR  build directory (default ./build-fuzz)
# Reproduce a finding: build-fuzz/fuzz/<target> build-fuzz/fuzz-artifacts/<file>
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_PER_TARGET="${1:-30}"
BUILD_DIR="${MODELHUB_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
if [[ -n ${MODELHUB_FUZZ_TARGETS:-} ]]; then
  read -r -a TARGETS <<<"$MODELHUB_FUZZ_TARGETS"
else
  TARGETS=()
  for f in tests/fuzz/fuzz_*.cc; do TARGETS+=("$(basename "$f" .cc)"); done
fi
ARTIFACTS="$BUILD_DIR/fuzz-artifacts"

if ! [[ $SECONDS_PER_TARGET =~ ^[0-9]+$ ]] || ((SECONDS_PER_TARGET < 1)); then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]" >&2
  exit 2
fi

if [[ ! -f $BUILD_DIR/build.ninja ]]; then
  echo "[fuzz] configuring $BUILD_DIR (clang-14, MODELHUB_FUZZ=ON)" >&2
  # MODELHUB_WERROR=OFF: a clang-only warning in src/ must not stop fuzzing (the
  # fuzz sources themselves are built with -Werror regardless).
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
    -DMODELHUB_FUZZ=ON -DMODELHUB_TESTS=OFF -DMODELHUB_WERROR=OFF || { echo "[fuzz] configure failed" >&2; exit 1; }
fi
echo "[fuzz] ninja -C $BUILD_DIR -j${MODELHUB_FUZZ_JOBS:-2} ${TARGETS[*]}" >&2
ninja -C "$BUILD_DIR" -j"${MODELHUB_FUZZ_JOBS:-2}" "${TARGETS[@]}" || { echo "[fuzz] build failed" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/modelhub-fuzz.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$ARTIFACTS"

failed=()
for t in "${TARGETS[@]}"; do
  corpus="$WORK/corpus/$t"
  mkdir -p "$corpus" "$WORK/tmp/$t" "$WORK/artifacts/$t"
  if [[ -d tests/fuzz/corpus/$t ]]; then cp -R "tests/fuzz/corpus/$t/." "$corpus/"; fi
  dict=()
  if [[ -f tests/fuzz/$t.dict ]]; then dict=(-dict="tests/fuzz/$t.dict"); fi
  log="$WORK/$t.log"
  echo "[fuzz] $t: ${SECONDS_PER_TARGET}s" >&2
  # TMPDIR: scratch data folders of the harnesses (fuzz_hub_api) stay in $WORK.
  TMPDIR="$WORK/tmp/$t" "$BUILD_DIR/fuzz/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$WORK/artifacts/$t/" "${dict[@]}" \
    "$corpus" >"$log" 2>&1
  rc=$?
  stats="$(grep -E '^stat::(number_of_executed_units|new_units_added):' "$log" | awk '{print $2}' | paste -sd/ -)"
  if ((rc != 0)); then
    failed+=("$t")
    echo "[fuzz] $t FAILED (exit $rc); the report from its log:" >&2
    # From the first report line (a failed check, a sanitizer or libFuzzer error), 40 lines.
    awk '/FUZZ_CHECK failed|ERROR: |runtime error:|ALARM:/ {on = 1} on && n < 40 {print; n++}' "$log" >&2
    for f in "$WORK/artifacts/$t"/*; do
      [[ -e $f ]] || continue
      cp "$f" "$ARTIFACTS/$t-$(basename "$f")"
      echo "[fuzz] reproducer: $BUILD_DIR/fuzz/$t $ARTIFACTS/$t-$(basename "$f")" >&2
    done
  else
    echo "[fuzz] $t ok (executions/new units: ${stats:-?})" >&2
  fi
done

if ((${#failed[@]})); then
  echo "[fuzz] FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "[fuzz] all targets ran ${SECONDS_PER_TARGET}s without findings" >&2
