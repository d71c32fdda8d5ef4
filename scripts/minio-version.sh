# Sourced by the MinIO scripts: the pinned version and where its binary lives.
# MinIO publishes no semver tags to the module proxy; this pseudo-version is its
# master of 2026-02-12 (`go list -m github.com/minio/minio@latest` at the time).
MODELHUB_MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
MODELHUB_TOOLS_DIR="${MODELHUB_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelhub-tools}"
MODELHUB_MINIO_BIN="${MODELHUB_MINIO:-$MODELHUB_TOOLS_DIR/minio-$MODELHUB_MINIO_VERSION/minio}"
