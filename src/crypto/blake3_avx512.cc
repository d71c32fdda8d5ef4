// BLAKE3 hash_many with AVX-512: sixteen inputs per call of Hash16, one per
// 32-bit lane of a zmm register; then eight and four at a time with the
// AVX-512VL rotate instructions on ymm/xmm. 16 state + 16 message vectors fit
// the 32 vector registers, and vprord makes every rotation one instruction.
// Compiled with -mavx512f -mavx512vl; only reached after a CPU check.

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_epi32(), written as
// `__m512i __Y = __Y;`, which -Wuninitialized reports at every inlined use
// (GCC bug 105593, fixed in later releases). The values are always overwritten.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "crypto/blake3_impl.h"
#include "crypto/blake3_simd.h"

namespace modelhub::blake3_internal {
namespace {

struct Avx512Ops {
  using V = __m512i;
  static V Add(V a, V b) { return _mm512_add_epi32(a, b); }
  static V Xor(V a, V b) { return _mm512_xor_si512(a, b); }
  static V Set1(uint32_t x) { return _mm512_set1_epi32(static_cast<int>(x)); }
  static V Rot16(V x) { return _mm512_ror_epi32(x, 16); }
  static V Rot12(V x) { return _mm512_ror_epi32(x, 12); }
  static V Rot8(V x) { return _mm512_ror_epi32(x, 8); }
  static V Rot7(V x) { return _mm512_ror_epi32(x, 7); }
};

struct Avx512VlOps8 {
  using V = __m256i;
  static V Add(V a, V b) { return _mm256_add_epi32(a, b); }
  static V Xor(V a, V b) { return _mm256_xor_si256(a, b); }
  static V Set1(uint32_t x) { return _mm256_set1_epi32(static_cast<int>(x)); }
  static V Rot16(V x) { return _mm256_ror_epi32(x, 16); }
  static V Rot12(V x) { return _mm256_ror_epi32(x, 12); }
  static V Rot8(V x) { return _mm256_ror_epi32(x, 8); }
  static V Rot7(V x) { return _mm256_ror_epi32(x, 7); }
};

struct Avx512VlOps4 {
  using V = __m128i;
  static V Add(V a, V b) { return _mm_add_epi32(a, b); }
  static V Xor(V a, V b) { return _mm_xor_si128(a, b); }
  static V Set1(uint32_t x) { return _mm_set1_epi32(static_cast<int>(x)); }
  static V Rot16(V x) { return _mm_ror_epi32(x, 16); }
  static V Rot12(V x) { return _mm_ror_epi32(x, 12); }
  static V Rot8(V x) { return _mm_ror_epi32(x, 8); }
  static V Rot7(V x) { return _mm_ror_epi32(x, 7); }
};

// For each group of four rows (4g..4g+3), a 4x4 word transpose inside every
// 128-bit lane: u[g][k], lane L, holds rows 4g..4g+3 of column 4L + k.
MH_B3_INLINE void TransposeLanes4(const __m512i* r, __m512i u[4]) {
  const __m512i ab_lo = _mm512_unpacklo_epi32(r[0], r[1]);
  const __m512i ab_hi = _mm512_unpackhi_epi32(r[0], r[1]);
  const __m512i cd_lo = _mm512_unpacklo_epi32(r[2], r[3]);
  const __m512i cd_hi = _mm512_unpackhi_epi32(r[2], r[3]);
  u[0] = _mm512_unpacklo_epi64(ab_lo, cd_lo);
  u[1] = _mm512_unpackhi_epi64(ab_lo, cd_lo);
  u[2] = _mm512_unpacklo_epi64(ab_hi, cd_hi);
  u[3] = _mm512_unpackhi_epi64(ab_hi, cd_hi);
}

// 16x16 transpose of 32-bit words: row i becomes column i.
MH_B3_INLINE void Transpose16x16(__m512i r[16]) {
  __m512i u[4][4];
  MH_B3_UNROLL
  for (int g = 0; g < 4; ++g) TransposeLanes4(r + 4 * g, u[g]);
  // Then a 4x4 transpose of 128-bit lanes across the four groups: column
  // 4L + k is lane L of u[0][k], u[1][k], u[2][k], u[3][k].
  MH_B3_UNROLL
  for (int k = 0; k < 4; ++k) {
    const __m512i p0 = _mm512_shuffle_i32x4(u[0][k], u[1][k], 0x44);  // u0.L0 u0.L1 u1.L0 u1.L1
    const __m512i p1 = _mm512_shuffle_i32x4(u[0][k], u[1][k], 0xEE);  // u0.L2 u0.L3 u1.L2 u1.L3
    const __m512i p2 = _mm512_shuffle_i32x4(u[2][k], u[3][k], 0x44);
    const __m512i p3 = _mm512_shuffle_i32x4(u[2][k], u[3][k], 0xEE);
    r[k] = _mm512_shuffle_i32x4(p0, p2, 0x88);       // lanes L0 of u0..u3
    r[4 + k] = _mm512_shuffle_i32x4(p0, p2, 0xDD);   // L1
    r[8 + k] = _mm512_shuffle_i32x4(p1, p3, 0x88);   // L2
    r[12 + k] = _mm512_shuffle_i32x4(p1, p3, 0xDD);  // L3
  }
}

// Hashes 16 inputs of `blocks` blocks; writes 16 chaining values to out.
void Hash16(const uint8_t* const* inputs, size_t blocks, const uint32_t key[8], uint64_t counter,
            bool increment_counter, uint8_t flags, uint8_t flags_start, uint8_t flags_end,
            uint8_t* out) {
  __m512i h[8];
  MH_B3_UNROLL
  for (int i = 0; i < 8; ++i) h[i] = Avx512Ops::Set1(key[i]);
  alignas(64) uint32_t lo[16];
  alignas(64) uint32_t hi[16];
  LaneCounters<16>(counter, increment_counter, lo, hi);
  const __m512i counter_lo = _mm512_load_si512(lo);
  const __m512i counter_hi = _mm512_load_si512(hi);

  uint8_t block_flags = flags | flags_start;
  for (size_t b = 0; b < blocks; ++b) {
    if (b + 1 == blocks) block_flags |= flags_end;
    const size_t off = b * kBlockLen;
    __m512i m[16];
    MH_B3_UNROLL
    for (int i = 0; i < 16; ++i) m[i] = _mm512_loadu_si512(inputs[i] + off);
    if (blocks > 1) {
      MH_B3_UNROLL
      for (int i = 0; i < 16; ++i) PrefetchNextBatch<16>(inputs[i] + off);
    }
    Transpose16x16(m);
    CompressWide<Avx512Ops>(h, m, counter_lo, counter_hi, block_flags);
    block_flags = flags;
  }

  // 8 rows (state words) x 16 columns (inputs): input 4L + k gets lane L of
  // u[0][k] (words 0-3) followed by lane L of u[1][k] (words 4-7).
  __m512i u[2][4];
  TransposeLanes4(h, u[0]);
  TransposeLanes4(h + 4, u[1]);
  const __m512i pick_l01 = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
  const __m512i pick_l23 = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
  MH_B3_UNROLL
  for (int k = 0; k < 4; ++k) {
    const __m512i l01 = _mm512_permutex2var_epi64(u[0][k], pick_l01, u[1][k]);
    const __m512i l23 = _mm512_permutex2var_epi64(u[0][k], pick_l23, u[1][k]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32 * k), _mm512_castsi512_si256(l01));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32 * (4 + k)),
                        _mm512_extracti64x4_epi64(l01, 1));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32 * (8 + k)),
                        _mm512_castsi512_si256(l23));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32 * (12 + k)),
                        _mm512_extracti64x4_epi64(l23, 1));
  }
}

}  // namespace

void HashManyAvx512(const uint8_t* const* inputs, size_t num_inputs, size_t blocks,
                    const uint32_t key[8], uint64_t counter, bool increment_counter,
                    uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t* out) {
  while (num_inputs >= 16) {
    Hash16(inputs, blocks, key, counter, increment_counter, flags, flags_start, flags_end, out);
    if (increment_counter) counter += 16;
    inputs += 16;
    num_inputs -= 16;
    out += 16 * 32;
  }
  if (num_inputs >= 8) {
    Hash8<Avx512VlOps8>(inputs, blocks, key, counter, increment_counter, flags, flags_start,
                        flags_end, out);
    if (increment_counter) counter += 8;
    inputs += 8;
    num_inputs -= 8;
    out += 8 * 32;
  }
  if (num_inputs >= 4) {
    Hash4<Avx512VlOps4>(inputs, blocks, key, counter, increment_counter, flags, flags_start,
                        flags_end, out);
    if (increment_counter) counter += 4;
    inputs += 4;
    num_inputs -= 4;
    out += 4 * 32;
  }
  HashManyPortable(inputs, num_inputs, blocks, key, counter, increment_counter, flags,
                   flags_start, flags_end, out);
}

}  // namespace modelhub::blake3_internal
