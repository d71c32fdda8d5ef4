#!/usr/bin/env bash
# Stored bytes for the variants corpus (bench/chunkstore/variants_corpus.py, the generator of
# tests/e2e/test_chunk_store.py): a ~1 GiB safetensors base model of random BF16 tensors, then an
# identical copy (other repo), 3 of 40 tensors changed, header grown by a key (every byte shifted),
# 4 tensors appended, a config.json-only edit, and a "full fine-tune" (every value's low bit flipped
# at random), each uploaded with huggingface_hub to a fresh modelhub. Prints per upload the
# cumulative MB for: no dedup (every version kept), file-level dedup (distinct sha256: plain LFS
# servers), and the chunk store (bytes of DATA/blobs/xorbs), plus the totals. Every version is
# downloaded once and its sha256 checked (VARIANTS_VERIFY=0 skips).
#   size: 1024 MiB (BENCH_QUICK=1: 128), VARIANTS_MIB overrides
#   VARIANTS_DATA: "random" (default; incompressible) and/or "normal" (BF16 values shaped like trained
#   weights: low-entropy exponents), e.g. VARIANTS_DATA="random normal"; each gets its own server.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/cs_lib.sh"
bench_init curl

if [[ $BENCH_QUICK == 1 ]]; then SIZE_MIB=${VARIANTS_MIB:-128}; else SIZE_MIB=${VARIANTS_MIB:-1024}; fi
VERIFY=()
[[ ${VARIANTS_VERIFY:-1} == 1 ]] && VERIFY=(--verify)

bench_header
for kind in ${VARIANTS_DATA:-random}; do
  rm -rf "$BENCH_WORK/mh-data" "$BENCH_WORK/hf_home"  # a fresh server and data folder per data kind
  start_modelhub
  cs_py "$CS_DIR/variants.py" "$MH_DATA" "$SIZE_MIB" --data "$kind" "${VERIFY[@]}" ||
    { modelhub_alive || true; die "variants ($kind) failed"; }
  modelhub_alive || die "modelhub died"
  kill -TERM "$MH_PID" 2>/dev/null || true
  wait "$MH_PID" 2>/dev/null || true
done
