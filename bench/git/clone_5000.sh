#!/usr/bin/env bash
# git clone of a repository with 5,000 small files in 100 commits: through modelhub's smart HTTP
# (git upload-pack behind the server) vs `git clone file://` of the very same bare repository (git's
# own transport over a pipe, no HTTP). Prints both medians and the ratio (modelhub / file://).
#
# The repository is built locally on top of the hub's initial commit (100 commits of 50 files, ~1 KiB
# of random hex each) and pushed once through modelhub (which also exercises the pre-receive hook on
# 100 new commits). Then: one warm-up clone each, then $RUNS alternating runs of each, median.
#
# Knobs: RUNS (default 5; BENCH_QUICK=1: 2), FILES (5000), COMMITS (100); see bench/lib.sh for the rest.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

RUNS="${RUNS:-5}"
FILES="${FILES:-5000}"
COMMITS="${COMMITS:-100}"
[[ $BENCH_QUICK == 1 ]] && RUNS="${RUNS_QUICK:-2}"

bench_init git curl
bench_header
start_modelhub

# A git that reads no system/global config (and never prompts).
export HOME="$BENCH_WORK/home" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL="$BENCH_WORK/home/gitconfig" \
  GIT_TERMINAL_PROMPT=0 LC_ALL=C
mkdir -p "$HOME"
printf '[user]\n\tname = bench\n\temail = bench@example.invalid\n[init]\n\tdefaultBranch = main\n' >"$GIT_CONFIG_GLOBAL"

REPO="bench/clone5000"
curl -fsS -X POST -H "authorization: Bearer $MH_TOKEN" -H 'content-type: application/json' \
  -d '{"name":"clone5000","organization":"bench"}' "$MH_URL/api/repos/create" >/dev/null ||
  die "repo create failed"
HOST="${MH_URL#http://}"
PUSH_URL="http://bench:$MH_TOKEN@$HOST/$REPO"

log "building $FILES files in $COMMITS commits"
SRC="$BENCH_WORK/src"
git clone -q "$PUSH_URL" "$SRC"
"$BENCH_PY" - "$SRC" "$FILES" "$COMMITS" <<'PY'
import os, subprocess, sys
src, files, commits = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
per = files // commits
n = 0
for c in range(commits):
    for _ in range(per):
        d = os.path.join(src, f"dir{n % 50:02d}", f"sub{(n // 50) % 10}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"file{n:05d}.txt"), "w") as f:
            f.write(os.urandom(512).hex() + "\n")
        n += 1
    subprocess.run(["git", "add", "-A"], cwd=src, check=True)
    subprocess.run(["git", "commit", "-q", "-m", f"commit {c}: {per} files"], cwd=src, check=True)
PY
t0=$(date +%s.%N)
timeout 600 git -C "$SRC" push -q origin main || die "push failed"
t1=$(date +%s.%N)
HEAD_SHA="$(git -C "$SRC" rev-parse HEAD)"
log "pushed $(git -C "$SRC" rev-list --count HEAD) commits in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s"
modelhub_alive || die "server died during the push"

BARE="$(ls -d "$MH_DATA"/repos/*.git | head -n 1)"
[[ "$(git --git-dir "$BARE" rev-parse refs/heads/main)" == "$HEAD_SHA" ]] || die "server repo is not at $HEAD_SHA"
HTTP_URL="$MH_URL/$REPO"
FILE_URL="file://$BARE"

# clone_once MODE URL: seconds on stdout; checks the result. MODE: full (with checkout) or bare
# (transfer only: pack generation, HTTP, index-pack).
clone_once() {
  local mode=$1 url=$2 dest="$BENCH_WORK/clone"
  rm -rf "$dest"
  local s e args=()
  [[ $mode == bare ]] && args=(--bare)
  s=$(date +%s.%N)
  timeout 600 git clone -q "${args[@]}" "$url" "$dest" || die "git clone $url failed"
  e=$(date +%s.%N)
  [[ "$(git --git-dir "$dest/$([[ $mode == bare ]] || echo .git)" rev-parse HEAD)" == "$HEAD_SHA" ]] ||
    die "clone of $url is not at $HEAD_SHA"
  if [[ $mode == full ]]; then
    local n
    n=$(git -C "$dest" ls-files | wc -l)
    ((n >= FILES)) || die "clone of $url has $n files"
  fi
  rm -rf "$dest"
  awk -v a="$s" -v b="$e" 'BEGIN{printf "%.4f\n", b-a}'
}

PACK=$(du -sk "$BARE/objects" | cut -f1)
echo "repo: $FILES files, $COMMITS commits (+1 initial), objects on disk ${PACK} KiB; git $(git --version | cut -d' ' -f3), protocol v2"
for mode in full bare; do
  clone_once "$mode" "$HTTP_URL" >/dev/null
  clone_once "$mode" "$FILE_URL" >/dev/null
  : >"$BENCH_WORK/http.txt"
  : >"$BENCH_WORK/file.txt"
  for ((r = 1; r <= RUNS; r++)); do
    h=$(clone_once "$mode" "$HTTP_URL")
    f=$(clone_once "$mode" "$FILE_URL")
    echo "$h" >>"$BENCH_WORK/http.txt"
    echo "$f" >>"$BENCH_WORK/file.txt"
    log "$mode run $r: modelhub ${h}s  file:// ${f}s"
  done
  modelhub_alive || die "server died"
  H=$(median <"$BENCH_WORK/http.txt")
  F=$(median <"$BENCH_WORK/file.txt")
  label="git clone"
  [[ $mode == bare ]] && label="git clone --bare"
  printf '%-17s via modelhub smart HTTP: median %.3f s over %d runs\n' "$label" "$H" "$RUNS"
  printf '%-17s via file:// (reference) : median %.3f s over %d runs\n' "$label" "$F" "$RUNS"
  echo "$label ratio modelhub / file://: $(ratio "$H" "$F") (lower is better; 1.0 = no HTTP overhead)"
done
