// Internal to the x86 BLAKE3 kernels (blake3_sse41.cc, blake3_avx2.cc,
// blake3_avx512.cc); include from nowhere else. It needs the including file to
// be compiled with at least -msse4.1 (for the 4-lane code) or -mavx2 (8-lane).
//
// Layout: "transposed". Vector j of the state holds word j of the state of N
// independent inputs, one input per 32-bit lane; the message is transposed the
// same way while loading, so a round is the scalar round applied to vectors
// and never shuffles within a vector. Each including file supplies an Ops
// struct (Add, Xor, Set1, Rot16/12/8/7 for one vector type) in its own
// anonymous namespace; everything here is in an anonymous namespace too, so
// no copy compiled with wide instructions can leak into baseline code.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "crypto/blake3_impl.h"

namespace modelhub::blake3_internal {
namespace {

#define MH_B3_INLINE [[gnu::always_inline]] inline
// Loops over vector arrays must be fully unrolled: only then can the compiler
// keep the arrays in registers instead of on the stack.
#if defined(__clang__)
#define MH_B3_UNROLL _Pragma("clang loop unroll(full)")
#else
#define MH_B3_UNROLL _Pragma("GCC unroll 16")
#endif

// Half of the G function on four columns (or four diagonals) at once: the
// first half adds mx and rotates by 16 and 12, the second adds my and rotates
// by 8 and 7. Interleaving four independent G's keeps the pipelines full.
template <class Ops, bool kFirstHalf>
MH_B3_INLINE void HalfG4(typename Ops::V& a0, typename Ops::V& a1, typename Ops::V& a2,
                         typename Ops::V& a3, typename Ops::V& b0, typename Ops::V& b1,
                         typename Ops::V& b2, typename Ops::V& b3, typename Ops::V& c0,
                         typename Ops::V& c1, typename Ops::V& c2, typename Ops::V& c3,
                         typename Ops::V& d0, typename Ops::V& d1, typename Ops::V& d2,
                         typename Ops::V& d3, const typename Ops::V& m0,
                         const typename Ops::V& m1, const typename Ops::V& m2,
                         const typename Ops::V& m3) {
  a0 = Ops::Add(Ops::Add(a0, m0), b0);
  a1 = Ops::Add(Ops::Add(a1, m1), b1);
  a2 = Ops::Add(Ops::Add(a2, m2), b2);
  a3 = Ops::Add(Ops::Add(a3, m3), b3);
  d0 = Ops::Xor(d0, a0);
  d1 = Ops::Xor(d1, a1);
  d2 = Ops::Xor(d2, a2);
  d3 = Ops::Xor(d3, a3);
  if constexpr (kFirstHalf) {
    d0 = Ops::Rot16(d0);
    d1 = Ops::Rot16(d1);
    d2 = Ops::Rot16(d2);
    d3 = Ops::Rot16(d3);
  } else {
    d0 = Ops::Rot8(d0);
    d1 = Ops::Rot8(d1);
    d2 = Ops::Rot8(d2);
    d3 = Ops::Rot8(d3);
  }
  c0 = Ops::Add(c0, d0);
  c1 = Ops::Add(c1, d1);
  c2 = Ops::Add(c2, d2);
  c3 = Ops::Add(c3, d3);
  b0 = Ops::Xor(b0, c0);
  b1 = Ops::Xor(b1, c1);
  b2 = Ops::Xor(b2, c2);
  b3 = Ops::Xor(b3, c3);
  if constexpr (kFirstHalf) {
    b0 = Ops::Rot12(b0);
    b1 = Ops::Rot12(b1);
    b2 = Ops::Rot12(b2);
    b3 = Ops::Rot12(b3);
  } else {
    b0 = Ops::Rot7(b0);
    b1 = Ops::Rot7(b1);
    b2 = Ops::Rot7(b2);
    b3 = Ops::Rot7(b3);
  }
}

template <class Ops, int kRound>
MH_B3_INLINE void RoundWide(typename Ops::V v[16], const typename Ops::V m[16]) {
  constexpr const uint8_t* s = kMsgSchedule[kRound];
  // Columns.
  HalfG4<Ops, true>(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11],
                    v[12], v[13], v[14], v[15], m[s[0]], m[s[2]], m[s[4]], m[s[6]]);
  HalfG4<Ops, false>(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11],
                     v[12], v[13], v[14], v[15], m[s[1]], m[s[3]], m[s[5]], m[s[7]]);
  // Diagonals: (0,5,10,15) (1,6,11,12) (2,7,8,13) (3,4,9,14).
  HalfG4<Ops, true>(v[0], v[1], v[2], v[3], v[5], v[6], v[7], v[4], v[10], v[11], v[8], v[9],
                    v[15], v[12], v[13], v[14], m[s[8]], m[s[10]], m[s[12]], m[s[14]]);
  HalfG4<Ops, false>(v[0], v[1], v[2], v[3], v[5], v[6], v[7], v[4], v[10], v[11], v[8], v[9],
                     v[15], v[12], v[13], v[14], m[s[9]], m[s[11]], m[s[13]], m[s[15]]);
}

// The seven rounds of the compression function on transposed state.
template <class Ops>
MH_B3_INLINE void RoundsWide(typename Ops::V v[16], const typename Ops::V m[16]) {
  RoundWide<Ops, 0>(v, m);
  RoundWide<Ops, 1>(v, m);
  RoundWide<Ops, 2>(v, m);
  RoundWide<Ops, 3>(v, m);
  RoundWide<Ops, 4>(v, m);
  RoundWide<Ops, 5>(v, m);
  RoundWide<Ops, 6>(v, m);
}

// Prefetching. hash_many is called on consecutive chunks, so while a call
// hashes chunks [k, k + lanes), the next call will read [k + lanes, k + 2 * lanes):
// the line one batch (lanes * 1 KiB) ahead of each lane's current block. Asking
// for it now, into L2, keeps the sixteen (or eight, four) interleaved streams
// coming from memory in time; the hardware prefetchers alone do not follow that
// many. Measured on Zen 4 with the file in the page cache: AVX-512 kernel
// 3.8 -> 5.3 GB/s (a prefetch a few lines ahead into L1 gained far less).
// Parent blocks (one block per input, in a small buffer) are not prefetched.
// The address may lie past the input (a prefetch never faults), so it is
// computed as an integer rather than with pointer arithmetic.
template <size_t kLanes>
MH_B3_INLINE void PrefetchNextBatch(const uint8_t* block) {
  const uintptr_t next = reinterpret_cast<uintptr_t>(block) + kLanes * kChunkLen;
  _mm_prefetch(reinterpret_cast<const char*>(next), _MM_HINT_T1);
}

// Per-lane chunk counters, split into low and high words.
template <size_t kLanes>
MH_B3_INLINE void LaneCounters(uint64_t counter, bool increment, uint32_t lo[kLanes],
                               uint32_t hi[kLanes]) {
  MH_B3_UNROLL
  for (size_t i = 0; i < kLanes; ++i) {
    const uint64_t c = counter + (increment ? i : 0);
    lo[i] = static_cast<uint32_t>(c);
    hi[i] = static_cast<uint32_t>(c >> 32);
  }
}

// Sets up the 16 state vectors for one block and runs the rounds; h becomes
// the new chaining values.
template <class Ops>
MH_B3_INLINE void CompressWide(typename Ops::V h[8], const typename Ops::V m[16],
                               const typename Ops::V& counter_lo,
                               const typename Ops::V& counter_hi, uint8_t block_flags) {
  using V = typename Ops::V;
  V v[16] = {h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7],
             Ops::Set1(kIv[0]), Ops::Set1(kIv[1]), Ops::Set1(kIv[2]), Ops::Set1(kIv[3]),
             counter_lo, counter_hi, Ops::Set1(uint32_t{kBlockLen}), Ops::Set1(block_flags)};
  RoundsWide<Ops>(v, m);
  MH_B3_UNROLL
  for (int i = 0; i < 8; ++i) h[i] = Ops::Xor(v[i], v[i + 8]);
}

// ---- 4 lanes (__m128i) -------------------------------------------------------

// 4x4 transpose of 32-bit words: row i becomes column i.
MH_B3_INLINE void Transpose4x4(__m128i& r0, __m128i& r1, __m128i& r2, __m128i& r3) {
  const __m128i ab_01 = _mm_unpacklo_epi32(r0, r1);  // a0 b0 a1 b1
  const __m128i ab_23 = _mm_unpackhi_epi32(r0, r1);  // a2 b2 a3 b3
  const __m128i cd_01 = _mm_unpacklo_epi32(r2, r3);
  const __m128i cd_23 = _mm_unpackhi_epi32(r2, r3);
  r0 = _mm_unpacklo_epi64(ab_01, cd_01);  // a0 b0 c0 d0
  r1 = _mm_unpackhi_epi64(ab_01, cd_01);
  r2 = _mm_unpacklo_epi64(ab_23, cd_23);
  r3 = _mm_unpackhi_epi64(ab_23, cd_23);
}

// Hashes 4 inputs of `blocks` blocks; writes 4 chaining values to out.
template <class Ops>
inline void Hash4(const uint8_t* const* inputs, size_t blocks, const uint32_t key[8],
                  uint64_t counter, bool increment_counter, uint8_t flags, uint8_t flags_start,
                  uint8_t flags_end, uint8_t* out) {
  __m128i h[8];
  MH_B3_UNROLL
  for (int i = 0; i < 8; ++i) h[i] = Ops::Set1(key[i]);
  alignas(16) uint32_t lo[4];
  alignas(16) uint32_t hi[4];
  LaneCounters<4>(counter, increment_counter, lo, hi);
  const __m128i counter_lo = _mm_load_si128(reinterpret_cast<const __m128i*>(lo));
  const __m128i counter_hi = _mm_load_si128(reinterpret_cast<const __m128i*>(hi));

  uint8_t block_flags = flags | flags_start;
  for (size_t b = 0; b < blocks; ++b) {
    if (b + 1 == blocks) block_flags |= flags_end;
    const size_t off = b * kBlockLen;
    __m128i m[16];
    MH_B3_UNROLL
    for (int q = 0; q < 4; ++q) {
      MH_B3_UNROLL
      for (int i = 0; i < 4; ++i) {
        m[4 * q + i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(inputs[i] + off + 16 * q));
      }
      if (q == 0 && blocks > 1) {
        MH_B3_UNROLL
        for (int i = 0; i < 4; ++i) PrefetchNextBatch<4>(inputs[i] + off);
      }
      Transpose4x4(m[4 * q], m[4 * q + 1], m[4 * q + 2], m[4 * q + 3]);
    }
    CompressWide<Ops>(h, m, counter_lo, counter_hi, block_flags);
    block_flags = flags;
  }

  Transpose4x4(h[0], h[1], h[2], h[3]);
  Transpose4x4(h[4], h[5], h[6], h[7]);
  MH_B3_UNROLL
  for (int i = 0; i < 4; ++i) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 32 * i), h[i]);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 32 * i + 16), h[4 + i]);
  }
}

// ---- 8 lanes (__m256i), needs AVX2 ------------------------------------------

#if defined(__AVX2__)
// 8x8 transpose of 32-bit words: row i becomes column i.
MH_B3_INLINE void Transpose8x8(__m256i r[8]) {
  // Within each 128-bit half: 2x2 blocks of words, then of 64-bit pairs.
  const __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]);
  const __m256i t1 = _mm256_unpackhi_epi32(r[0], r[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]);
  const __m256i t3 = _mm256_unpackhi_epi32(r[2], r[3]);
  const __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]);
  const __m256i t5 = _mm256_unpackhi_epi32(r[4], r[5]);
  const __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]);
  const __m256i t7 = _mm256_unpackhi_epi32(r[6], r[7]);
  // u0 = rows 0-3 of columns 0 | 4, u1: 1 | 5, u2: 2 | 6, u3: 3 | 7; u4..u7 rows 4-7.
  const __m256i u0 = _mm256_unpacklo_epi64(t0, t2);
  const __m256i u1 = _mm256_unpackhi_epi64(t0, t2);
  const __m256i u2 = _mm256_unpacklo_epi64(t1, t3);
  const __m256i u3 = _mm256_unpackhi_epi64(t1, t3);
  const __m256i u4 = _mm256_unpacklo_epi64(t4, t6);
  const __m256i u5 = _mm256_unpackhi_epi64(t4, t6);
  const __m256i u6 = _mm256_unpacklo_epi64(t5, t7);
  const __m256i u7 = _mm256_unpackhi_epi64(t5, t7);
  // Join the halves: low halves make columns 0-3, high halves columns 4-7.
  r[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
  r[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
  r[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
  r[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
  r[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
  r[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
  r[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
  r[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

// Hashes 8 inputs of `blocks` blocks; writes 8 chaining values to out.
template <class Ops>
inline void Hash8(const uint8_t* const* inputs, size_t blocks, const uint32_t key[8],
                  uint64_t counter, bool increment_counter, uint8_t flags, uint8_t flags_start,
                  uint8_t flags_end, uint8_t* out) {
  __m256i h[8];
  MH_B3_UNROLL
  for (int i = 0; i < 8; ++i) h[i] = Ops::Set1(key[i]);
  alignas(32) uint32_t lo[8];
  alignas(32) uint32_t hi[8];
  LaneCounters<8>(counter, increment_counter, lo, hi);
  const __m256i counter_lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(lo));
  const __m256i counter_hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(hi));

  uint8_t block_flags = flags | flags_start;
  for (size_t b = 0; b < blocks; ++b) {
    if (b + 1 == blocks) block_flags |= flags_end;
    const size_t off = b * kBlockLen;
    __m256i m[16];
    MH_B3_UNROLL
    for (int half = 0; half < 2; ++half) {
      MH_B3_UNROLL
      for (int i = 0; i < 8; ++i) {
        m[8 * half + i] =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(inputs[i] + off + 32 * half));
      }
      if (half == 0 && blocks > 1) {
        MH_B3_UNROLL
        for (int i = 0; i < 8; ++i) PrefetchNextBatch<8>(inputs[i] + off);
      }
      Transpose8x8(m + 8 * half);
    }
    CompressWide<Ops>(h, m, counter_lo, counter_hi, block_flags);
    block_flags = flags;
  }

  Transpose8x8(h);
  MH_B3_UNROLL
  for (int i = 0; i < 8; ++i) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32 * i), h[i]);
  }
}
#endif  // __AVX2__

}  // namespace
}  // namespace modelhub::blake3_internal
