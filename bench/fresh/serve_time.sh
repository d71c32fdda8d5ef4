#!/usr/bin/env bash
# How long a newcomer waits: from `git clone` on a fresh Debian 12 machine to the first request the
# server answers, through the README's first command (./scripts/serve.sh).
#
# The fresh machine is a Debian 12 chroot made by debootstrap (the standard base system plus git and
# ca-certificates; made once, kept as a pristine copy, and copied anew for every run, so nothing of an
# earlier run — packages, ccache, build — is there). Run as root:
#   bash bench/fresh/serve_time.sh [WORKDIR]     (default WORKDIR /var/tmp/modelhub-fresh)
# Prints the seconds spent in apt (install-deps --server), in the build, and in total until the first
# answer to GET /health, plus the machine's load average at the start (the figure assumes a quiet
# machine: other work on the cores lengthens the build).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK=${1:-/var/tmp/modelhub-fresh}
PRISTINE=$WORK/pristine
RUN=$WORK/run
log() { printf '[fresh] %s\n' "$*" >&2; }

if [[ ! -f $PRISTINE/etc/debian_version ]]; then
  command -v debootstrap >/dev/null || { apt-get update -q && apt-get install -y -q debootstrap; }
  log "debootstrap bookworm into $PRISTINE (once)"
  rm -rf "$PRISTINE"
  debootstrap --include=git,ca-certificates bookworm "$PRISTINE" http://deb.debian.org/debian >&2
fi

mounts=()
cleanup() {
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[$i]}" 2>/dev/null || true; done
  [[ -n ${server_pid:-} ]] && kill "$server_pid" 2>/dev/null || true
}
trap cleanup EXIT

log "copying the pristine machine"
rm -rf "$RUN"
cp -a "$PRISTINE" "$RUN"
cp /etc/resolv.conf "$RUN/etc/resolv.conf"
for m in proc sys dev dev/pts; do
  mount --bind "/$m" "$RUN/$m"
  mounts+=("$RUN/$m")
done
# The clone: the repository at HEAD, as `git clone` gives it.
git clone -q "$ROOT" "$RUN/root/modelhub"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
load=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average at start: $load; running ./scripts/serve.sh in the chroot (port $port)"
start=$(date +%s.%N)
chroot "$RUN" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
  MODELHUB_LISTEN="127.0.0.1:$port" bash -c 'cd /root/modelhub && ./scripts/serve.sh' >"$WORK/serve.log" 2>&1 &
server_pid=$!
apt_done=""; build_done=""
while true; do
  if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then break; fi
  kill -0 "$server_pid" 2>/dev/null || { log "serve.sh exited:"; tail -20 "$WORK/serve.log" >&2; exit 1; }
  now=$(date +%s.%N)
  [[ -z $apt_done ]] && grep -q '^\[build\]' "$WORK/serve.log" && apt_done=$now
  [[ -z $build_done ]] && grep -q '^modelhub: serving' "$WORK/serve.log" && build_done=$now
  sleep 0.2
done
end=$(date +%s.%N)
[[ -n $apt_done ]] || apt_done=$end
[[ -n $build_done ]] || build_done=$end
python3 - "$start" "$apt_done" "$build_done" "$end" "$load" "$(nproc)" <<'PY'
import sys
s, a, b, e = map(float, sys.argv[1:5])
print(f"fresh Debian 12 ({sys.argv[6]} cores, load at start {sys.argv[5]}): dependencies {a - s:.0f} s, "
      f"build {b - a:.0f} s, first answer after {e - s:.0f} s ({(e - s) / 60:.1f} min) from the clone")
PY
