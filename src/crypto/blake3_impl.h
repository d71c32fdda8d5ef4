// Internal to the BLAKE3 implementation (blake3*.cc): constants shared by the
// tree code and the kernels, and the kernel entry points. Not a public API.
//
// A "kernel" hashes many equal-length inputs at once (hash_many): each input is
// `blocks` whole 64-byte blocks, compressed from `key` with its own chunk
// counter, and the 32-byte chaining value of input i lands at out + 32 * i.
// The same call hashes parent nodes (one block each, counter 0, PARENT flag).
//
// The SIMD kernels are compiled with -msse4.1 / -mavx2 / -mavx512f and are
// only called after a run-time CPU check. They must not define or instantiate
// any inline function with external linkage (the linker could keep their copy
// for baseline code), so this header holds only data and declarations, and the
// kernels keep their helpers in anonymous namespaces.
#pragma once

#include <cstddef>
#include <cstdint>

namespace modelhub::blake3_internal {

inline constexpr size_t kBlockLen = 64;
inline constexpr size_t kChunkLen = 1024;
inline constexpr size_t kBlocksPerChunk = kChunkLen / kBlockLen;
// Widest kernel: 16 lanes of 32 bits in an AVX-512 register.
inline constexpr size_t kMaxSimdDegree = 16;

// Domain flags, the last word of the compression function's state.
inline constexpr uint8_t kChunkStart = 1 << 0;
inline constexpr uint8_t kChunkEnd = 1 << 1;
inline constexpr uint8_t kParent = 1 << 2;
inline constexpr uint8_t kRoot = 1 << 3;
inline constexpr uint8_t kKeyedHash = 1 << 4;
inline constexpr uint8_t kDeriveKeyContext = 1 << 5;
inline constexpr uint8_t kDeriveKeyMaterial = 1 << 6;

// The SHA-256 initial hash values; the key in hash mode.
inline constexpr uint32_t kIv[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                                    0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};

// kMsgSchedule[r][i]: the message word used at position i of round r. Row r+1
// is row r permuted by {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8}
// (checked by a static_assert in blake3_portable.cc).
inline constexpr uint8_t kMsgSchedule[7][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
    {3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
    {10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
    {12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
    {9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
    {11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

// One compression, the chaining value updated in place (the first 8 words of
// the output). block_len may be < 64 for the last block of a chunk; the block
// is then zero-padded by the caller.
void CompressInPlacePortable(uint32_t cv[8], const uint8_t block[kBlockLen], uint8_t block_len,
                             uint64_t counter, uint8_t flags);
// One compression with all 16 output words (root/XOF output), little-endian.
void CompressXofPortable(const uint32_t cv[8], const uint8_t block[kBlockLen], uint8_t block_len,
                         uint64_t counter, uint8_t flags, uint8_t out[64]);

// hash_many, see above. The first block of each input gets flags | flags_start,
// the last flags | flags_end. With increment_counter, input i uses counter + i
// (chunks); otherwise all use counter (parents).
using HashManyFn = void (*)(const uint8_t* const* inputs, size_t num_inputs, size_t blocks,
                            const uint32_t key[8], uint64_t counter, bool increment_counter,
                            uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t* out);

void HashManyPortable(const uint8_t* const* inputs, size_t num_inputs, size_t blocks,
                      const uint32_t key[8], uint64_t counter, bool increment_counter,
                      uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t* out);

#if defined(MODELHUB_BLAKE3_X86)
// 4 inputs at a time; the remainder goes to the portable kernel.
void HashManySse41(const uint8_t* const* inputs, size_t num_inputs, size_t blocks,
                   const uint32_t key[8], uint64_t counter, bool increment_counter, uint8_t flags,
                   uint8_t flags_start, uint8_t flags_end, uint8_t* out);
// 8 at a time; the remainder goes to HashManySse41 (every AVX2 CPU has SSE4.1).
void HashManyAvx2(const uint8_t* const* inputs, size_t num_inputs, size_t blocks,
                  const uint32_t key[8], uint64_t counter, bool increment_counter, uint8_t flags,
                  uint8_t flags_start, uint8_t flags_end, uint8_t* out);
// 16 at a time, then 8 with AVX-512VL rotates; the remainder goes to HashManySse41.
void HashManyAvx512(const uint8_t* const* inputs, size_t num_inputs, size_t blocks,
                    const uint32_t key[8], uint64_t counter, bool increment_counter,
                    uint8_t flags, uint8_t flags_start, uint8_t flags_end, uint8_t* out);
#endif

}  // namespace modelhub::blake3_internal
