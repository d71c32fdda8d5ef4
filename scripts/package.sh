#!/usr/bin/env bash
# Builds the Debian package of the server: build-deb/modelhub_<version>_<arch>.deb (installs
# /usr/bin/modelhub, the systemd unit modelhub.service, and creates the `modelhub` system user; the
# service keeps its data in /var/lib/modelhub). Needs what `scripts/install-deps.sh --server` installs.
# RelWithDebInfo as the everyday build (GCC 12 -O3 raises a false -Wrestrict), stripped by CPack.
#   MODELHUB_JOBS  parallel jobs (default: number of cores)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD_DIR="$ROOT/build-deb"
if [[ ! -f $BUILD_DIR/build.ninja ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr -DMODELHUB_TESTS=OFF >&2
fi
ninja -C "$BUILD_DIR" -j"${MODELHUB_JOBS:-$(nproc)}" modelhub >&2
(cd "$BUILD_DIR" && rm -f ./*.deb && cpack -G DEB >&2)
deb=$(ls "$BUILD_DIR"/*.deb)
echo "[package] $deb" >&2
echo "$deb"
