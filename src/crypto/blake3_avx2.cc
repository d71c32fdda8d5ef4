// BLAKE3 hash_many with AVX2: eight inputs per call of Hash8, one per 32-bit
// lane. Compiled with -mavx2; only reached after a CPU check (blake3.cc).

#include "crypto/blake3_impl.h"
#include "crypto/blake3_simd.h"

namespace modelhub::blake3_internal {
namespace {

struct Avx2Ops {
  using V = __m256i;
  static V Add(V a, V b) { return _mm256_add_epi32(a, b); }
  static V Xor(V a, V b) { return _mm256_xor_si256(a, b); }
  static V Set1(uint32_t x) { return _mm256_set1_epi32(static_cast<int>(x)); }
  // Rotations by whole bytes are byte shuffles (one instruction); the others shift and or.
  static V Rot16(V x) {
    return _mm256_shuffle_epi8(
        x, _mm256_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2, 13, 12, 15, 14, 9,
                           8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2));
  }
  static V Rot12(V x) {
    return _mm256_or_si256(_mm256_srli_epi32(x, 12), _mm256_slli_epi32(x, 20));
  }
  static V Rot8(V x) {
    return _mm256_shuffle_epi8(
        x, _mm256_set_epi8(12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1, 12, 15, 14, 13, 8,
                           11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1));
  }
  static V Rot7(V x) { return _mm256_or_si256(_mm256_srli_epi32(x, 7), _mm256_slli_epi32(x, 25)); }
};

}  // namespace

void HashManyAvx2(const uint8_t* const* inputs, size_t num_inputs, size_t blocks,
                  const uint32_t key[8], uint64_t counter, bool increment_counter, uint8_t flags,
                  uint8_t flags_start, uint8_t flags_end, uint8_t* out) {
  while (num_inputs >= 8) {
    Hash8<Avx2Ops>(inputs, blocks, key, counter, increment_counter, flags, flags_start,
                   flags_end, out);
    if (increment_counter) counter += 8;
    inputs += 8;
    num_inputs -= 8;
    out += 8 * 32;
  }
  HashManySse41(inputs, num_inputs, blocks, key, counter, increment_counter, flags, flags_start,
                flags_end, out);
}

}  // namespace modelhub::blake3_internal
