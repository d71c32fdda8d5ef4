#!/usr/bin/env bash
# Wall-clock time of huggingface_hub upload_file of a 2 GiB generated file (LFS batch API, multipart
# above 64 MiB) against `cp` of the same file to another place on the same filesystem plus `sync`.
#   size: 2 GiB (BENCH_QUICK=1: 512 MiB), UPLOAD_SIZE_MIB overrides
#   runs: 3 (BENCH_QUICK=1: 1), UPLOAD_RUNS overrides; medians. Each run salts the file's first
#         4 KiB so the server never deduplicates it against an earlier run.
# The upload time is the upload_file call alone (it includes the client's SHA-256 of the file, the
# LFS batch call, the part PUTs, the completion call and the commit). `sync` runs once before each
# timed step so that neither pays for the other's (or the generator's) dirty pages; the timed
# `sync` flushes everything dirty on the machine, other engineers' builds included.
# Prints both times, upload MB/s and the ratio upload/cp (lower is better; 1.0 = as fast as cp).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_init curl sha256sum

if [[ $BENCH_QUICK == 1 ]]; then SIZE_MIB=${UPLOAD_SIZE_MIB:-512}; RUNS=${UPLOAD_RUNS:-1}
else SIZE_MIB=${UPLOAD_SIZE_MIB:-2048}; RUNS=${UPLOAD_RUNS:-3}; fi
BYTES=$((SIZE_MIB * 1024 * 1024))

bench_header
start_modelhub
SRC="$BENCH_WORK/src/upload.bin"
DST_DIR="$BENCH_WORK/cp-dst"
mkdir -p "$(dirname "$SRC")" "$DST_DIR"
log "generating $SIZE_MIB MiB"
make_random_file "$SRC" "$SIZE_MIB"

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'; }
now() { date +%s.%N; }

UP_TIMES=() CP_TIMES=()
for ((r = 1; r <= RUNS; r++)); do
  head -c 4096 /dev/urandom | dd of="$SRC" bs=4096 count=1 conv=notrunc status=none
  WANT_SHA="$(sha256sum "$SRC" | cut -d' ' -f1)"   # also brings the file into the page cache
  sync
  t="$(hf_upload "$SRC" bench/upload-2g "run$r.bin")" || { modelhub_alive || true; die "upload_file failed (run $r)"; }
  UP_TIMES+=("$t")
  # the server must have stored exactly these bytes: ETag of an LFS file is its sha256
  hdr="$(curl -sS -I --max-time 30 "$MH_URL/bench/upload-2g/resolve/main/run$r.bin" | tr -d '\r')"
  grep -qi "^x-linked-size: $BYTES\$" <<<"$hdr" && grep -qi "^x-linked-etag: \"$WANT_SHA\"\$" <<<"$hdr" ||
    { printf '%s\n' "$hdr" >&2; die "uploaded file run$r.bin: wrong size or sha256 (want $BYTES, $WANT_SHA)"; }

  sync
  t0="$(now)"
  cp "$SRC" "$DST_DIR/copy.bin"
  sync
  t1="$(now)"
  CP_TIMES+=("$(elapsed "$t0" "$t1")")
  rm -f "$DST_DIR/copy.bin"
  log "run $r: upload_file ${UP_TIMES[-1]} s, cp+sync ${CP_TIMES[-1]} s"
done
modelhub_alive || die "modelhub died"

UP="$(printf '%s\n' "${UP_TIMES[@]}" | median)"
CP="$(printf '%s\n' "${CP_TIMES[@]}" | median)"
echo "upload_file of a ${SIZE_MIB} MiB file vs cp + sync on the same filesystem, median of $RUNS run(s)"
echo "  upload_file runs s: ${UP_TIMES[*]}"
echo "  cp+sync     runs s: ${CP_TIMES[*]}"
printf '  upload_file: %.2f s (%s MB/s)\n' "$UP" "$(mbps "$(awk -v b=$BYTES -v t="$UP" 'BEGIN{print b/t}')")"
printf '  cp + sync:   %.2f s (%s MB/s)\n' "$CP" "$(mbps "$(awk -v b=$BYTES -v t="$CP" 'BEGIN{print b/t}')")"
echo "  ratio upload/cp: $(ratio "$UP" "$CP") (time; 1.0 = as fast as cp)"
