#!/usr/bin/env bash
# Builds the Debian package (scripts/package.sh), installs it with dpkg, checks what it installed
# (binary, systemd unit, system user), starts the installed binary on a temporary data folder and a
# free loopback port, asks it /health and /api/whoami-v2, stops it, and removes the package again.
# Run as root. Exits non-zero on any failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[test-package] %s\n' "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

if dpkg-query -W -f='${Status}' modelhub 2>/dev/null | grep -q 'install ok installed'; then
  fail "a modelhub package is already installed on this machine; not touching it"
fi
deb=$(bash scripts/package.sh)
log "installing $deb"
dpkg -i "$deb" >&2 || fail "dpkg -i"
tmp=$(mktemp -d)
pid=""
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
  dpkg -r modelhub >/dev/null 2>&1 || true
}
trap cleanup EXIT

[[ -x /usr/bin/modelhub ]] || fail "/usr/bin/modelhub missing"
[[ $(/usr/bin/modelhub --version) == "modelhub "* ]] || fail "modelhub --version"
unit=/usr/lib/systemd/system/modelhub.service
[[ -f $unit ]] || unit=/lib/systemd/system/modelhub.service
[[ -f $unit ]] || fail "systemd unit missing"
grep -q '^ExecStart=/usr/bin/modelhub serve --data /var/lib/modelhub' "$unit" || fail "unit's ExecStart: $(grep ExecStart "$unit")"
getent passwd modelhub >/dev/null || fail "postinst did not create the modelhub user"
[[ $(stat -c %U /var/lib/modelhub) == modelhub ]] || fail "/var/lib/modelhub is not owned by modelhub"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
/usr/bin/modelhub serve --data "$tmp/data" --listen "127.0.0.1:$port" >"$tmp/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || fail "the installed server exited: $(tail -5 "$tmp/server.log")"
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/health" >/dev/null || fail "no answer from the installed server"
/usr/bin/modelhub admin --data "$tmp/data" user create pkgtest >/dev/null
token=$(/usr/bin/modelhub admin --data "$tmp/data" token create pkgtest --role read --name t | tail -n 1)
who=$(curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/whoami-v2")
[[ $who == *'"name":"pkgtest"'* ]] || fail "whoami through the installed server: $who"
log "the installed package serves; removing it"
