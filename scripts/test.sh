#!/usr/bin/env bash
# Installs dependencies, builds, runs the unit tests (ctest) and the black-box tests (pytest tests/e2e).
# Exits non-zero if anything fails. Extra arguments are passed to pytest (e.g. -k files -x).
#   MODELHUB_SKIP_UNIT=1  skip ctest;  MODELHUB_SKIP_E2E=1  skip pytest;  MODELHUB_SKIP_FUZZ=1  skip fuzzing
#   MODELHUB_SKIP_E2E_SCALEOUT=1  skip the second and third pytest passes (PostgreSQL; PostgreSQL + S3)
#   MODELHUB_SKIP_PACKAGE=1  skip building, installing and running the Debian package (scripts/test-package.sh)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/install-deps.sh || { echo "[test] install-deps failed" >&2; exit 1; }
MODELHUB_TESTS=ON bash scripts/build.sh || { echo "[test] build failed" >&2; exit 1; }

# The S3 suites skip (saying why) when MinIO is missing; where install-deps built it, a skip would
# hide a broken setup, so it becomes a failure.
# shellcheck source=scripts/minio-version.sh
source scripts/minio-version.sh
if [[ -x $MODELHUB_MINIO_BIN ]]; then export MODELHUB_S3_TEST_REQUIRE=1; fi

status=0
# install-deps installed PostgreSQL: its tests must run, a missing server fails them instead of skipping.
export MODELHUB_REQUIRE_POSTGRES=${MODELHUB_REQUIRE_POSTGRES:-1}

if [[ -z ${MODELHUB_SKIP_UNIT:-} ]]; then
  echo "[test] unit tests: ctest --test-dir build" >&2
  ctest --test-dir build --output-on-failure -j"$(nproc)" || status=1
fi

if [[ -z ${MODELHUB_SKIP_E2E:-} ]]; then
  echo "[test] black-box tests: pytest tests/e2e" >&2
  .venv/bin/python -m pytest tests/e2e -v -rsfE --durations=15 "$@"
  rc=$?
  case $rc in
    0) ;;
    5) echo "[test] pytest collected no tests" >&2; status=1 ;;
    *) status=1 ;;
  esac
fi

# The same suite on the scale-out backends: every hub the tests start keeps its metadata in a database
# of its own on a PostgreSQL started by the tests (loopback) and, with +s3, its blobs under a prefix of
# its own in a bucket of a MinIO started by the tests. Smaller files than the first pass: the sizes are
# what the embedded pass measures; these passes check behaviour.
scaleout_pass() {  # scaleout_pass BACKEND [pytest args]
  local backend=$1
  shift
  echo "[test] black-box tests on $backend: MODELHUB_E2E_BACKEND=$backend pytest tests/e2e" >&2
  MODELHUB_E2E_BACKEND=$backend MODELHUB_E2E_LARGE_MB=${MODELHUB_E2E_LARGE_MB:-64} \
    MODELHUB_E2E_CS_MB=${MODELHUB_E2E_CS_MB_SCALEOUT:-128} MODELHUB_E2E_XET_MB=${MODELHUB_E2E_XET_MB_SCALEOUT:-128} \
    .venv/bin/python -m pytest tests/e2e -q -rsfE --ignore=tests/e2e/test_scaleout.py "$@"
}
if [[ -z ${MODELHUB_SKIP_E2E:-} && -z ${MODELHUB_SKIP_E2E_SCALEOUT:-} ]]; then
  scaleout_pass postgres "$@" || status=1
  scaleout_pass postgres+s3 "$@" || status=1
fi

# The Debian package: built with one command (scripts/package.sh), installed, run, removed.
if [[ -z ${MODELHUB_SKIP_PACKAGE:-} ]]; then
  if [[ $(id -u) -eq 0 ]]; then
    echo "[test] Debian package: scripts/test-package.sh" >&2
    bash scripts/test-package.sh || status=1
  else
    echo "[test] Debian package: SKIPPED (installing a package needs root)" >&2
  fi
fi

if [[ -z ${MODELHUB_SKIP_FUZZ:-} ]]; then
  # Every parser of untrusted bytes has a libFuzzer target; CI runs each for a bounded time.
  echo "[test] fuzzing: scripts/fuzz.sh ${MODELHUB_FUZZ_SECONDS:-20}" >&2
  bash scripts/fuzz.sh "${MODELHUB_FUZZ_SECONDS:-20}" || status=1
fi

if ((status)); then echo "[test] FAILED" >&2; else echo "[test] all passed" >&2; fi
exit $status
