#!/usr/bin/env bash
# Installs everything modelhub needs to build and test on Debian 12, idempotently:
#   1. Debian packages (apt-get update + install only when something is missing),
#   2. a Python venv at .venv with the pins of tests/requirements.txt (skipped when a stamp
#      file says the venv already matches those requirements).
# Run as root (or with sudo available). Safe to run again and again.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '[install-deps] %s\n' "$*" >&2; }

APT_PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config clang-14
  # libraries
  libboost-dev libgit2-dev libsqlite3-dev libssl-dev nlohmann-json3-dev libcli11-dev libfmt-dev
  liblz4-dev zlib1g-dev libgtest-dev libgmock-dev libclang-rt-14-dev
  # test peers and tools
  git git-lfs python3-venv nginx-light wrk curl b3sum
)
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
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -q
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  log "Debian packages: all ${#APT_PACKAGES[@]} present"
fi

# ---- Python venv -------------------------------------------------------------------------------
# Debian's own python3 (the one python3-venv belongs to), not whatever python3 comes first in PATH.
PY=/usr/bin/python3
[[ -x $PY ]] || PY="$(command -v python3)"
VENV="$ROOT/.venv"
REQ="$ROOT/tests/requirements.txt"
STAMP="$VENV/.modelhub-requirements.sha256"
want="$( (sha256sum "$REQ" | cut -d' ' -f1; "$PY" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"

if [[ -x $VENV/bin/python && -f $STAMP && "$(cat "$STAMP")" == "$want" ]] && "$VENV/bin/python" -c '' 2>/dev/null; then
  log "venv .venv already matches tests/requirements.txt"
  exit 0
fi

if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c '' 2>/dev/null; then
  log "creating venv at .venv with $PY"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
fi
log "installing Python requirements (tests/requirements.txt)"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
"$VENV/bin/python" -m pip install -q -r "$REQ"
"$VENV/bin/python" -m pip check >&2 || { log "pip check found conflicts"; exit 1; }
echo "$want" >"$STAMP"
log "venv ready"
