#!/usr/bin/env bash
# `git lfs pull` of one 2 GiB LFS file: from modelhub (batch API → signed URL → the object streamed
# from the content store) vs from nginx serving the same bytes. The same git-lfs client does the same
# work in both runs (batch request, download, SHA-256 check, checkout into the work tree); only the
# server differs: for the nginx run, lfs.url points at nginx, which answers the batch request with a
# static JSON file naming the object's URL on the same nginx.
#
# Setup: the file is pushed once through modelhub with git + git-lfs (timed and printed, for the
# record). Each measured run starts from a fresh `GIT_LFS_SKIP_SMUDGE=1` clone. One warm-up each,
# then $RUNS alternating runs, median. Throughput = file size / wall time of `git lfs pull`.
# Also printed: a plain `curl -o` of the object from nginx, the ceiling for one HTTP download.
#
# Knobs: SIZE_MIB (default 2048; BENCH_QUICK=1: 256), RUNS (default 3; quick: 1).
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

SIZE_MIB="${SIZE_MIB:-2048}"
RUNS="${RUNS:-3}"
if [[ $BENCH_QUICK == 1 ]]; then
  SIZE_MIB="${SIZE_MIB_QUICK:-256}"
  RUNS="${RUNS_QUICK:-1}"
fi

bench_init git git-lfs curl nginx sha256sum
bench_header
start_modelhub

export HOME="$BENCH_WORK/home" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL="$BENCH_WORK/home/gitconfig" \
  GIT_TERMINAL_PROMPT=0 LC_ALL=C
mkdir -p "$HOME"
printf '[user]\n\tname = bench\n\temail = bench@example.invalid\n[init]\n\tdefaultBranch = main\n' >"$GIT_CONFIG_GLOBAL"
git lfs install --skip-repo >/dev/null
# No lock verification on push: it is not measured, and git-lfs's hint about it would print the token.
git config --global lfs.locksverify false

curl -fsS -X POST -H "authorization: Bearer $MH_TOKEN" -H 'content-type: application/json' \
  -d '{"name":"lfspull","organization":"bench"}' "$MH_URL/api/repos/create" >/dev/null || die "repo create failed"
HOST="${MH_URL#http://}"
URL="http://bench:$MH_TOKEN@$HOST/bench/lfspull"

log "making a ${SIZE_MIB} MiB file and pushing it with git-lfs"
SRC="$BENCH_WORK/src"
git clone -q "$URL" "$SRC"
make_random_file "$SRC/model.bin" "$SIZE_MIB"  # *.bin is LFS-tracked by the hub's default .gitattributes
SIZE=$(stat -c %s "$SRC/model.bin")
OID=$(sha256sum "$SRC/model.bin" | cut -d' ' -f1)
git -C "$SRC" add model.bin
git -C "$SRC" commit -q -m "2 GiB LFS file"
t0=$(date +%s.%N)
timeout 3600 git -C "$SRC" push -q origin main || die "push failed"
t1=$(date +%s.%N)
PUSH_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')
log "pushed in ${PUSH_S}s"
modelhub_alive || die "server died during the push"

# nginx: the object, and a static batch answer pointing at it (POST → 405 → served as GET).
WWW="$BENCH_WORK/www"
mkdir -p "$WWW/lfs/objects" "$WWW/obj"
mv "$SRC/model.bin" "$WWW/obj/$OID"
rm -rf "$SRC"
start_nginx "$WWW"
cat >"$WWW/lfs/objects/batch" <<JSON
{"transfer":"basic","objects":[{"oid":"$OID","size":$SIZE,"authenticated":true,
 "actions":{"download":{"href":"$NG_URL/obj/$OID","header":{},"expires_in":3600}}}]}
JSON
# start_nginx's config has no POST-to-static rule: restart it with one (same port, same root).
NG_CONF="$BENCH_WORK/nginx/nginx.conf"
sed -i 's|location / { }|location / { } location /lfs/ { default_type application/vnd.git-lfs+json; error_page 405 =200 $uri; }|' "$NG_CONF"
kill -HUP "$NG_PID"
sleep 0.5
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{}' "$NG_URL/lfs/objects/batch")
[[ $code == 200 ]] || die "nginx does not answer POST /lfs/objects/batch (HTTP $code)"

# pull_once modelhub|nginx: seconds of `git lfs pull` on stdout; checks the bytes once in a while.
PULLS=0
pull_once() {
  local which=$1 dest="$BENCH_WORK/clone"
  rm -rf "$dest"
  GIT_LFS_SKIP_SMUDGE=1 timeout 600 git clone -q "$URL" "$dest" || die "clone failed"
  [[ $which == nginx ]] && git -C "$dest" config lfs.url "$NG_URL/lfs"
  local s e
  s=$(date +%s.%N)
  timeout 3600 git -C "$dest" lfs pull || die "git lfs pull from $which failed"
  e=$(date +%s.%N)
  [[ $(stat -c %s "$dest/model.bin") == "$SIZE" ]] || die "pulled file from $which has the wrong size"
  PULLS=$((PULLS + 1))
  if ((PULLS <= 2)); then
    [[ $(sha256sum "$dest/model.bin" | cut -d' ' -f1) == "$OID" ]] || die "pulled file from $which differs"
  fi
  rm -rf "$dest"
  awk -v a="$s" -v b="$e" 'BEGIN{printf "%.4f\n", b-a}'
}

pull_once modelhub >/dev/null
pull_once nginx >/dev/null
: >"$BENCH_WORK/mh.txt"
: >"$BENCH_WORK/ng.txt"
for ((r = 1; r <= RUNS; r++)); do
  m=$(pull_once modelhub)
  n=$(pull_once nginx)
  echo "$m" >>"$BENCH_WORK/mh.txt"
  echo "$n" >>"$BENCH_WORK/ng.txt"
  log "run $r: modelhub ${m}s  nginx ${n}s"
done
modelhub_alive || die "server died"

CURL_BPS=$(curl -sS -o /dev/null -w '%{speed_download}' "$NG_URL/obj/$OID")
M=$(median <"$BENCH_WORK/mh.txt")
N=$(median <"$BENCH_WORK/ng.txt")
MB=$(awk -v s="$SIZE" -v t="$M" 'BEGIN{printf "%.1f", s/t/1e6}')
NB=$(awk -v s="$SIZE" -v t="$N" 'BEGIN{printf "%.1f", s/t/1e6}')
echo "file: $SIZE bytes (${SIZE_MIB} MiB); git-lfs $(git lfs version | cut -d' ' -f1 | cut -d/ -f2); push took ${PUSH_S}s"
printf 'git lfs pull from modelhub: median %.3f s = %s MB/s over %d runs\n' "$M" "$MB" "$RUNS"
printf 'git lfs pull from nginx   : median %.3f s = %s MB/s over %d runs\n' "$N" "$NB" "$RUNS"
echo "ratio modelhub / nginx throughput: $(ratio "$MB" "$NB") (goal >= 0.8)"
echo "for scale: curl -o /dev/null of the object from nginx: $(mbps "$CURL_BPS") MB/s"
