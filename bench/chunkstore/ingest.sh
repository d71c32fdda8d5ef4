#!/usr/bin/env bash
# Chunk store ingest throughput: huggingface_hub upload_file of a 1 GiB file of random BF16 tensors
# (a safetensors file from bench/chunkstore/variants_corpus.py, content unique to each run) to a
# modelhub started here with its access log on.
#   server-side time = the durations the access log gives for the part PUTs (route lfs_part, or
#   lfs_upload for a single PUT) and POST /api/lfs-complete (which streams the staged parts through
#   SHA-256, the gear chunker, BLAKE3 chunk hashes, compression and xorb writes)
#   also: the same bytes again to a second repo (every chunk already stored: the dedup path),
#   the server's CPU seconds, the chunk store counters from /metrics, and the single-core chunking
#   figure of bench/chunking/run.sh (built in build-bench after the server runs; INGEST_CHUNKING=0
#   skips it).
#   size: 1024 MiB (BENCH_QUICK=1: 256), INGEST_SIZE_MIB overrides; runs: 3 (quick: 1), INGEST_RUNS
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/cs_lib.sh"
bench_init curl

if [[ $BENCH_QUICK == 1 ]]; then SIZE_MIB=${INGEST_SIZE_MIB:-256}; RUNS=${INGEST_RUNS:-1}
else SIZE_MIB=${INGEST_SIZE_MIB:-1024}; RUNS=${INGEST_RUNS:-3}; fi

bench_header
start_modelhub_logged
FILE="$BENCH_WORK/model.safetensors"

# upload REPO: upload_file of $FILE; sets UP_S (client wall s), SRV_MS (server ms: parts + complete),
# PART_MS, DONE_MS, CPU_S (server CPU s during the upload)
upload() {
  local repo=$1 from cpu0 p c s
  from="$(log_lines)"
  cpu0="$(proc_cpu "$MH_PID")"
  UP_S="$(cs_py "$BENCH_SRC/hf_upload.py" "$FILE" "$repo" model.safetensors)" ||
    { modelhub_alive || true; die "upload_file to $repo failed"; }
  CPU_S="$(awk -v a="$cpu0" -v b="$(proc_cpu "$MH_PID")" 'BEGIN { printf "%.2f", b - a }')"
  read -r p _ <<<"$(log_ms lfs_part "$from")"
  read -r s _ <<<"$(log_ms lfs_upload "$from")"
  read -r c _ <<<"$(log_ms lfs_complete "$from")"
  PART_MS="$(awk -v a="$p" -v b="$s" 'BEGIN { print a + b }')"
  DONE_MS="$c"
  SRV_MS="$(awk -v a="$PART_MS" -v b="$c" 'BEGIN { print a + b }')"
  # the server must hold exactly these bytes (ETag of an LFS file is its sha256)
  local hdr
  hdr="$(curl -sS -I --max-time 30 -H "authorization: Bearer $MH_TOKEN" "$MH_URL/$repo/resolve/main/model.safetensors" | tr -d '\r')"
  grep -qi "^x-linked-etag: \"$WANT_SHA\"\$" <<<"$hdr" || { printf '%s\n' "$hdr" >&2; die "$repo: wrong sha256 stored"; }
}

mbs() { awk -v b="$BYTES" -v ms="$1" 'BEGIN { if (ms <= 0) print "n/a"; else printf "%.1f\n", b / (ms / 1000) / 1e6 }'; }

NEW_SRV=() NEW_DONE=() NEW_UP=() NEW_CPU=() DUP_SRV=() DUP_DONE=() DUP_CPU=()
for ((r = 1; r <= RUNS; r++)); do
  log "run $r: generating $SIZE_MIB MiB of random BF16 tensors"
  WANT_SHA="$(gen_model "$FILE" "$SIZE_MIB" "$((RANDOM * 32768 + RANDOM))")"
  BYTES="$(stat -c %s "$FILE")"
  cat "$FILE" >/dev/null  # page cache: the client reads it twice (sha256, upload)
  sync
  i0="$(metric ingested_bytes)"; n0="$(metric new_chunk_bytes)"; x0="$(metric xorb_bytes_written)"
  upload "bench/ingest-new-$r"
  NEW_SRV+=("$SRV_MS"); NEW_DONE+=("$DONE_MS"); NEW_UP+=("$UP_S"); NEW_CPU+=("$CPU_S")
  i1="$(metric ingested_bytes)"; n1="$(metric new_chunk_bytes)"; x1="$(metric xorb_bytes_written)"
  log "run $r new content: upload_file ${UP_S}s; server parts ${PART_MS}ms + complete ${DONE_MS}ms; cpu ${CPU_S}s; ingested $((i1 - i0)), new chunks $((n1 - n0)), xorbs written $((x1 - x0)) B"
  sync
  upload "bench/ingest-dup-$r"
  DUP_SRV+=("$SRV_MS"); DUP_DONE+=("$DONE_MS"); DUP_CPU+=("$CPU_S")
  n2="$(metric new_chunk_bytes)"
  log "run $r same bytes again: upload_file ${UP_S}s; server parts ${PART_MS}ms + complete ${DONE_MS}ms; cpu ${CPU_S}s; new chunks $((n2 - n1)) B"
  rm -f "$FILE"
done
modelhub_alive || die "modelhub died"

med() { printf '%s\n' "$@" | median; }
echo "ingest: upload_file of a ${SIZE_MIB} MiB safetensors file of random BF16, median of $RUNS run(s) (MB = 10^6 B)"
echo "  new content, server-side (part PUTs + lfs-complete) ms: ${NEW_SRV[*]}"
echo "  new content, lfs-complete alone (chunk+hash+compress+xorb write) ms: ${NEW_DONE[*]}"
echo "  new content, upload_file wall s: ${NEW_UP[*]}; server CPU s: ${NEW_CPU[*]}"
echo "  same bytes again, server-side ms: ${DUP_SRV[*]}; lfs-complete ms: ${DUP_DONE[*]}; server CPU s: ${DUP_CPU[*]}"
echo "  ingest pipeline, new content:  $(mbs "$(med "${NEW_SRV[@]}")") MB/s server-side (lfs-complete alone $(mbs "$(med "${NEW_DONE[@]}")") MB/s; upload_file $(awk -v b="$BYTES" -v s="$(med "${NEW_UP[@]}")" 'BEGIN{printf "%.1f", b/s/1e6}') MB/s)"
echo "  ingest pipeline, dedup (all chunks known): $(mbs "$(med "${DUP_SRV[@]}")") MB/s server-side (lfs-complete alone $(mbs "$(med "${DUP_DONE[@]}")") MB/s)"
echo "  server CPU per GB ingested: new $(awk -v c="$(med "${NEW_CPU[@]}")" -v b="$BYTES" 'BEGIN{printf "%.2f", c/(b/1e9)}') s, dedup $(awk -v c="$(med "${DUP_CPU[@]}")" -v b="$BYTES" 'BEGIN{printf "%.2f", c/(b/1e9)}') s"
echo "  xorb bytes on disk: $(xorb_bytes "$MH_DATA") for $((RUNS * 2)) uploads of $BYTES-byte files"

if [[ ${INGEST_CHUNKING:-1} == 1 ]]; then
  kill -TERM "$MH_PID" 2>/dev/null || true  # the server is done: free the cores for the build + run
  log "bench/chunking/run.sh (builds chunking_bench in build-bench first)"
  echo "single-core gear chunking (bench/chunking/run.sh --reps 3):"
  bash "$BENCH_SRC/chunking/run.sh" --reps 3 | sed 's/^/  /' || log "bench/chunking/run.sh failed (figure skipped)"
fi
