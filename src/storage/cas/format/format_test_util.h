// Test helpers for the xorb and shard codecs: deterministic chunk contents of several kinds and stand-in
// hash functions (the codecs take hashing as a parameter; the real Xet hashes live in storage/cas/xet).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "storage/cas/format/xorb.h"

namespace modelhub::xet::testing {

enum class DataKind {
  kRandom,  // incompressible
  kText,    // repetitive ASCII: LZ4 wins
  kFloats,  // slowly varying little-endian float32 values: byte grouping helps
  kZeros,
};

inline uint64_t SplitMix64(uint64_t* s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline std::string MakeData(DataKind kind, size_t n, uint64_t seed = 1) {
  std::string out(n, '\0');
  uint64_t s = seed;
  switch (kind) {
    case DataKind::kRandom:
      for (size_t i = 0; i < n; i += 8) {
        uint64_t v = SplitMix64(&s);
        std::memcpy(&out[i], &v, std::min<size_t>(8, n - i));
      }
      break;
    case DataKind::kText: {
      static constexpr std::string_view kWords[] = {"tensor ", "weight ", "layer.", "norm ", "bias\n", "attn_"};
      size_t i = 0;
      while (i < n) {
        std::string_view w = kWords[SplitMix64(&s) % 6];
        for (char c : w) {
          if (i == n) break;
          out[i++] = c;
        }
      }
      break;
    }
    case DataKind::kFloats:
      for (size_t i = 0; i < n; i += 4) {
        float f = 1.0f + 0.001f * static_cast<float>(SplitMix64(&s) % 1000);
        std::memcpy(&out[i], &f, std::min<size_t>(4, n - i));
      }
      break;
    case DataKind::kZeros:
      break;
  }
  return out;
}

// Stand-in hashes: distinct for distinct inputs in practice, cheap, and deterministic.
// h with byte i xor-ed with mask.
inline XetHash Flip(const XetHash& h, size_t i, uint8_t mask = 1) {
  XetHash::Bytes b = h.bytes();
  b[i] ^= mask;
  return XetHash(b);
}

inline XetHash FakeChunkHash(std::string_view data) {
  XetHash::Bytes h{};
  uint64_t s = 0x1234 + data.size();
  for (unsigned char c : data) s = (s ^ c) * 0x100000001B3ull;
  for (size_t i = 0; i < 32; i += 8) {
    uint64_t v = SplitMix64(&s);
    std::memcpy(&h[i], &v, 8);
  }
  return XetHash(h);
}

inline XetHash FakeXorbHash(std::span<const MerkleNode> chunks) {
  std::string text;
  for (const auto& c : chunks) {
    text.append(c.hash.view());
    text.append(std::to_string(c.size));
  }
  return FakeChunkHash(text);
}

inline XorbHashers FakeHashers() { return {FakeChunkHash, FakeXorbHash}; }

}  // namespace modelhub::xet::testing
