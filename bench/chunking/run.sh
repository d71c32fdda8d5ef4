#!/usr/bin/env bash
# Builds and runs the Xet chunking benchmark (single thread, 1 GiB random buffer in memory).
#   bench/chunking/run.sh [--mib N] [--reps R]
# Uses build dir $BUILD_DIR (default build-bench, Release). Paste the output with this command into
# docs/benchmarks.md ("Xet chunking").
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMODELHUB_TESTS=OFF >/dev/null
ninja -C "$BUILD_DIR" -j2 chunking_bench >/dev/null
echo "# $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; git $(git -C "$ROOT" rev-parse --short HEAD)"
exec "$BUILD_DIR/src/storage/cas/xet/chunking_bench" "$@"
