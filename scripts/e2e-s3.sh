#!/usr/bin/env bash
# Runs the black-box tests (tests/e2e) with large content on S3: starts a MinIO
# (scripts/s3-test-server.sh), creates a bucket, exports MODELHUB_BLOB_URL and the AWS_*
# credentials (every `modelhub serve` and `modelhub admin` the tests start inherits them),
# runs pytest with the given arguments, stops MinIO.
#
#   bash scripts/e2e-s3.sh tests/e2e/test_files.py tests/e2e/test_xet.py -q
# Tests that look at DATA/blobs on disk (test_chunk_store.py's storage measurements,
# test_gc.py's corrupted-xorb step) do not apply in this mode. Every server the tests start
# shares the one bucket prefix (xorbs are content-named, so uploads do not collide, but an
# `admin gc` sees the other servers' xorbs as unreferenced): mind that when reading gc counts.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
work="$(mktemp -d "${TMPDIR:-/tmp}/modelhub-e2e-s3.XXXXXX")"
cleanup() {
  bash scripts/s3-test-server.sh stop "$work/minio" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
env_lines="$(MODELHUB_S3_OWNER_PID=$$ bash scripts/s3-test-server.sh start "$work/minio")"
eval "$(grep -E '^(MODELHUB_S3_ENDPOINT|AWS_[A-Z_]+)=' <<<"$env_lines" | sed 's/^/export /')"
# The bucket: blob_bench creates it (and round-trips 1 MiB through it as a smoke test).
ninja -C build blob_bench >/dev/null
build/src/storage/blob/blob_bench "s3://modelhub-e2e?endpoint=$MODELHUB_S3_ENDPOINT" 1 --create-bucket >/dev/null
export MODELHUB_BLOB_URL="s3://modelhub-e2e/hub?endpoint=$MODELHUB_S3_ENDPOINT"
echo "[e2e-s3] MODELHUB_BLOB_URL=$MODELHUB_BLOB_URL" >&2
.venv/bin/python -m pytest "$@"
