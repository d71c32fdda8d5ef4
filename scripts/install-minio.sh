#!/usr/bin/env bash
# Builds the pinned MinIO server (the S3-compatible peer of the S3BlobStore tests and
# benchmarks) from the Go module proxy, once. Idempotent: does nothing when the binary of
# the pinned version is already there. Called by scripts/install-deps.sh.
#
#   MODELHUB_TOOLS_DIR  where tools go (default ${XDG_CACHE_HOME:-$HOME/.cache}/modelhub-tools);
#                       the binary lands in $MODELHUB_TOOLS_DIR/minio-<version>/minio
#   prints the binary's path on stdout.
#
# Needs Go >= 1.24 (MinIO's go.mod). Without one it says so and exits 3; the S3 tests then
# skip with that reason. Cost on the 2-core reference machine: about 4 minutes, about 2 GiB
# of scratch (module + build cache, removed afterwards) and 150 MB for the binary.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/minio-version.sh
source "$ROOT/scripts/minio-version.sh"

log() { printf '[install-minio] %s\n' "$*" >&2; }

if [[ -x $MODELHUB_MINIO_BIN ]]; then
  log "MinIO $MODELHUB_MINIO_VERSION already at $MODELHUB_MINIO_BIN"
  echo "$MODELHUB_MINIO_BIN"
  exit 0
fi

GO="$(command -v go || true)"
[[ -n $GO ]] || { [[ -x /usr/local/go/bin/go ]] && GO=/usr/local/go/bin/go; }
if [[ -z $GO ]]; then
  log "no Go toolchain found: cannot build MinIO (S3 tests will be skipped)"
  exit 3
fi
gov="$("$GO" env GOVERSION)"  # go1.26.8
IFS=. read -r major minor _ <<<"${gov#go}"
if ((major < 1 || (major == 1 && minor < 24))); then
  log "$gov is older than the go 1.24 MinIO needs (S3 tests will be skipped)"
  exit 3
fi

scratch="$(mktemp -d "${TMPDIR:-/tmp}/modelhub-minio-build.XXXXXX")"
trap 'chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch"' EXIT
dest="$(dirname "$MODELHUB_MINIO_BIN")"
mkdir -p "$dest"
log "building github.com/minio/minio@$MODELHUB_MINIO_VERSION with $gov (a few minutes)"
start=$SECONDS
GOFLAGS=-mod=mod GOBIN="$scratch/bin" GOMODCACHE="$scratch/mod" GOCACHE="$scratch/cache" GOTOOLCHAIN=local \
  "$GO" install "github.com/minio/minio@$MODELHUB_MINIO_VERSION" >&2
mv "$scratch/bin/minio" "$MODELHUB_MINIO_BIN.tmp"
mv "$MODELHUB_MINIO_BIN.tmp" "$MODELHUB_MINIO_BIN"
log "MinIO built in $((SECONDS - start)) s: $MODELHUB_MINIO_BIN ($(du -h "$MODELHUB_MINIO_BIN" | cut -f1))"
echo "$MODELHUB_MINIO_BIN"
