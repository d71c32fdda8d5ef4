#!/usr/bin/env bash
# Configures (once) and builds modelhub into ./build with Ninja.
#   MODELHUB_JOBS       parallel jobs (default: number of cores)
#   MODELHUB_BUILD_TYPE CMake build type for the first configure (default: RelWithDebInfo)
#   extra arguments are passed to the first `cmake` configure, e.g. -DMODELHUB_WERROR=OFF
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD_DIR="$ROOT/build"

if [[ ! -f $BUILD_DIR/build.ninja ]]; then
  echo "[build] configuring $BUILD_DIR" >&2
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${MODELHUB_BUILD_TYPE:-RelWithDebInfo}" "$@"
fi
echo "[build] ninja -C build -j${MODELHUB_JOBS:-$(nproc)}" >&2
ninja -C "$BUILD_DIR" -j"${MODELHUB_JOBS:-$(nproc)}"
