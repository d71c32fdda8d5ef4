// Portable BLAKE3 compression function and hash_many: plain C++ on 32-bit
// words, byte order handled explicitly so it is correct on any host.

#include <cstring>

#include "crypto/blake3_impl.h"

namespace modelhub::blake3_internal {
namespace {

constexpr uint8_t kMsgPermutation[16] = {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8};

constexpr bool ScheduleIsPermutationChain() {
  for (int r = 0; r + 1 < 7; ++r) {
    for (int i = 0; i < 16; ++i) {
      if (kMsgSchedule[r + 1][i] != kMsgSchedule[r][kMsgPermutation[i]]) return false;
    }
  }
  for (int i = 0; i < 16; ++i) {
    if (kMsgSchedule[0][i] != i) return false;
  }
  return true;
}
static_assert(ScheduleIsPermutationChain(), "kMsgSchedule does not follow the BLAKE3 permutation");

inline uint32_t LoadLe32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

inline void StoreLe32(uint8_t* p, uint32_t w) {
  p[0] = static_cast<uint8_t>(w);
  p[1] = static_cast<uint8_t>(w >> 8);
  p[2] = static_cast<uint8_t>(w >> 16);
  p[3] = static_cast<uint8_t>(w >> 24);
}

inline uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

inline void G(uint32_t v[16], int a, int b, int c, int d, uint32_t mx, uint32_t my) {
  v[a] = v[a] + v[b] + mx;
  v[d] = Rotr(v[d] ^ v[a], 16);
  v[c] = v[c] + v[d];
  v[b] = Rotr(v[b] ^ v[c], 12);
  v[a] = v[a] + v[b] + my;
  v[d] = Rotr(v[d] ^ v[a], 8);
  v[c] = v[c] + v[d];
  v[b] = Rotr(v[b] ^ v[c], 7);
}

// Runs the seven rounds; v[0..15] is the full output state before the
// feed-forward.
inline void Rounds(uint32_t v[16], const uint32_t cv[8], const uint8_t block[kBlockLen],
                   uint8_t block_len, uint64_t counter, uint8_t flags) {
  uint32_t m[16];
  for (int i = 0; i < 16; ++i) m[i] = LoadLe32(block + 4 * i);
  for (int i = 0; i < 8; ++i) v[i] = cv[i];
  v[8] = kIv[0];
  v[9] = kIv[1];
  v[10] = kIv[2];
  v[11] = kIv[3];
  v[12] = static_cast<uint32_t>(counter);
  v[13] = static_cast<uint32_t>(counter >> 32);
  v[14] = block_len;
  v[15] = flags;
  for (const auto& s : kMsgSchedule) {
    G(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
    G(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
    G(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
    G(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
    G(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
    G(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
    G(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
    G(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
  }
}

}  // namespace

void CompressInPlacePortable(uint32_t cv[8], const uint8_t block[kBlockLen], uint8_t block_len,
                             uint64_t counter, uint8_t flags) {
  uint32_t v[16];
  Rounds(v, cv, block, block_len, counter, flags);
  for (int i = 0; i < 8; ++i) cv[i] = v[i] ^ v[i + 8];
}

void CompressXofPortable(const uint32_t cv[8], const uint8_t block[kBlockLen], uint8_t block_len,
                         uint64_t counter, uint8_t flags, uint8_t out[64]) {
  uint32_t v[16];
  Rounds(v, cv, block, block_len, counter, flags);
  for (int i = 0; i < 8; ++i) {
    StoreLe32(out + 4 * i, v[i] ^ v[i + 8]);
    StoreLe32(out + 32 + 4 * i, v[i + 8] ^ cv[i]);
  }
}

void HashManyPortable(const uint8_t* const* inputs, size_t num_inputs, size_t blocks,
                      const uint32_t key[8], uint64_t counter, bool increment_counter,
                      uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t* out) {
  for (size_t n = 0; n < num_inputs; ++n) {
    uint32_t cv[8];
    std::memcpy(cv, key, sizeof cv);
    uint8_t block_flags = flags | flags_start;
    for (size_t b = 0; b < blocks; ++b) {
      if (b + 1 == blocks) block_flags |= flags_end;
      CompressInPlacePortable(cv, inputs[n] + b * kBlockLen, kBlockLen, counter, block_flags);
      block_flags = flags;
    }
    for (int i = 0; i < 8; ++i) StoreLe32(out + 32 * n + 4 * i, cv[i]);
    if (increment_counter) ++counter;
  }
}

}  // namespace modelhub::blake3_internal
