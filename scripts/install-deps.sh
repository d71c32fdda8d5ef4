#!/usr/bin/env bash
# Installs what modelhub needs on Debian 12, idempotently.
#
#   scripts/install-deps.sh --server   only what building and running the server needs (Debian
#                                      packages: compiler, CMake/Ninja, the libraries, git). Used by
#                                      scripts/serve.sh.
#   scripts/install-deps.sh            everything the tests need as well (scripts/test.sh):
#     1. Debian packages (apt-get update + install only when something is missing; node and npm
#        only when no `node`/`npm` is on PATH),
#     2. a Python venv at .venv with the pins of tests/requirements.txt, and a second one at
#        .venv-hf036 with tests/requirements-hf036.txt (the older huggingface_hub 0.36 client);
#        each skipped when its stamp file says it already matches its requirements,
#     3. the JS test client in tests/js/node_modules (`npm ci` from the committed package-lock.json,
#        skipped when a stamp says node_modules matches the lock),
#     4. MinIO, the S3-compatible test peer, built once from the Go module proxy at a pinned
#        version (scripts/install-minio.sh; skipped when already built; without Go >= 1.24 a
#        warning, and the S3 tests skip saying so).
# Run as root (or with sudo available). Safe to run again and again.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '[install-deps] %s\n' "$*" >&2; }

SERVER_ONLY=0
case "${1:-}" in
  --server) SERVER_ONLY=1 ;;
  "") ;;
  *) log "usage: $0 [--server]"; exit 2 ;;
esac

# What building and running the server needs (git: the server runs git upload-pack/receive-pack).
SERVER_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libboost-dev libgit2-dev libsqlite3-dev libssl-dev nlohmann-json3-dev libcli11-dev libfmt-dev
  liblz4-dev zlib1g-dev libpq-dev libcurl4-openssl-dev libutf8proc-dev
  git
)
# What the tests add: unit tests and fuzzing (GoogleTest, clang-14 + libFuzzer), the clients and peers
# the black-box tests drive (git-lfs, Python, PostgreSQL, nginx), benchmark tools (wrk, b3sum).
TEST_PACKAGES=(
  clang-14 libgtest-dev libgmock-dev libclang-rt-14-dev
  git-lfs python3-venv nginx-light wrk curl b3sum postgresql
)
APT_PACKAGES=("${SERVER_PACKAGES[@]}")
((SERVER_ONLY)) || APT_PACKAGES+=("${TEST_PACKAGES[@]}")
# Extra packages can be added without editing this file: MODELHUB_EXTRA_APT="liblz4-dev libzstd-dev"
if [[ -n "${MODELHUB_EXTRA_APT:-}" ]]; then
  read -r -a extra <<<"$MODELHUB_EXTRA_APT"
  APT_PACKAGES+=("${extra[@]}")
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
    log "not root and no sudo: cannot install Debian packages"; exit 1; fi
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
# The JS client tests need node >= 18 and npm. Debian's nodejs/npm only when none is on PATH (a
# machine may already have a newer node from elsewhere, which must not be shadowed or replaced).
if ((!SERVER_ONLY)); then
  if ! command -v node >/dev/null 2>&1; then missing+=(nodejs); fi
  if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
fi
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -q
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "Debian packages: all ${#APT_PACKAGES[@]} present"
fi

if ((SERVER_ONLY)); then
  log "server dependencies ready"
  exit 0
fi

# ---- Python venvs ------------------------------------------------------------------------------
# Debian's own python3 (the one python3-venv belongs to), not whatever python3 comes first in PATH.
PY=/usr/bin/python3
[[ -x $PY ]] || PY="$(command -v python3)"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

# ensure_venv DIR REQUIREMENTS: creates DIR with $PY if needed and installs the pins, unless the
# stamp in DIR (sha256 of the requirements file and the Python version) says it is already done.
ensure_venv() {
  local venv="$ROOT/$1" req="$ROOT/$2" stamp want
  stamp="$venv/.modelhub-requirements.sha256"
  want="$( (sha256sum "$req" | cut -d' ' -f1; "$PY" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"
  if [[ -x $venv/bin/python && -f $stamp && "$(cat "$stamp")" == "$want" ]] && "$venv/bin/python" -c '' 2>/dev/null; then
    log "venv $1 already matches $2"
    return 0
  fi
  if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c '' 2>/dev/null; then
    log "creating venv at $1 with $PY"
    rm -rf "$venv"
    "$PY" -m venv "$venv"
  fi
  log "installing Python requirements ($2) into $1"
  "$venv/bin/python" -m pip install -q -r "$req"
  "$venv/bin/python" -m pip check >&2 || { log "pip check found conflicts in $1"; return 1; }
  echo "$want" >"$stamp"
  log "venv $1 ready"
}

ensure_venv .venv tests/requirements.txt
ensure_venv .venv-hf036 tests/requirements-hf036.txt
# hf_xet 1.1.3 beside it (used through PYTHONPATH by tests/e2e/test_hf036.py): the oldest hf_xet that
# huggingface_hub 0.36 accepts, from before xorb footers and shard lookup tables were dropped from uploads.
OLD_XET="$ROOT/.venv-hf036/hf_xet-1.1.3"
if [[ -f $OLD_XET/.modelhub-done ]]; then
  log "hf_xet 1.1.3 already in .venv-hf036/hf_xet-1.1.3"
else
  rm -rf "$OLD_XET"
  "$ROOT/.venv-hf036/bin/python" -m pip install -q --no-deps --target "$OLD_XET" hf_xet==1.1.3
  touch "$OLD_XET/.modelhub-done"
  log "hf_xet 1.1.3 ready in .venv-hf036/hf_xet-1.1.3"
fi

# ---- JS client (tests/js) ------------------------------------------------------------------------
JS_DIR="$ROOT/tests/js"
JS_STAMP="$JS_DIR/node_modules/.modelhub-lock.sha256"
js_want="$(cat "$JS_DIR/package.json" "$JS_DIR/package-lock.json" | sha256sum | cut -d' ' -f1)"
if [[ -f $JS_STAMP && "$(cat "$JS_STAMP")" == "$js_want" ]]; then
  log "tests/js/node_modules already matches package-lock.json"
else
  log "installing the JS test client: npm ci in tests/js"
  (cd "$JS_DIR" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  echo "$js_want" >"$JS_STAMP"
  log "tests/js/node_modules ready"
fi

# ---- MinIO (S3 test peer) -------------------------------------------------------------------------
rc=0
bash "$ROOT/scripts/install-minio.sh" >/dev/null || rc=$?
case $rc in
  0) ;;
  3) log "MinIO not built (no suitable Go); the S3 tests will skip" ;;
  *) log "building MinIO failed"; exit 1 ;;
esac
