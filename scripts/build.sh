#!/usr/bin/env bash
# Configures (once) and builds modelhub into ./build with Ninja.
#   MODELHUB_JOBS       parallel jobs (default: number of cores)
#   MODELHUB_BUILD_TYPE CMake build type for the first configure (default: RelWithDebInfo)
#   MODELHUB_TESTS      ON: build the unit tests too (scripts/test.sh); OFF: only the server
#                       (scripts/serve.sh, needs no GoogleTest). Unset: ON for a new build directory,
#                       else whatever it was configured with.
#   MODELHUB_TARGETS    space-separated Ninja targets (default: everything configured), e.g. "modelhub"
#   extra arguments are passed to the first `cmake` configure, e.g. -DMODELHUB_WERROR=OFF
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD_DIR="$ROOT/build"

want_tests=${MODELHUB_TESTS:-}
if [[ ! -f $BUILD_DIR/build.ninja ]]; then
  echo "[build] configuring $BUILD_DIR" >&2
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${MODELHUB_BUILD_TYPE:-RelWithDebInfo}" \
    -DMODELHUB_TESTS="${want_tests:-ON}" "$@"
elif [[ -n $want_tests ]] && ! grep -qx "MODELHUB_TESTS:BOOL=$want_tests" "$BUILD_DIR/CMakeCache.txt"; then
  echo "[build] reconfiguring $BUILD_DIR with MODELHUB_TESTS=$want_tests" >&2
  cmake -S . -B "$BUILD_DIR" -DMODELHUB_TESTS="$want_tests"
fi
read -r -a targets <<<"${MODELHUB_TARGETS:-}"
echo "[build] ninja -C build -j${MODELHUB_JOBS:-$(nproc)} ${targets[*]}" >&2
ninja -C "$BUILD_DIR" -j"${MODELHUB_JOBS:-$(nproc)}" "${targets[@]}"
