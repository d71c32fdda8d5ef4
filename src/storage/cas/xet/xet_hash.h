// XetHash: the 32-byte hash value of Xet (chunk, xorb, file and verification hashes), and the Xet hex
// format used for it in URLs, JSON, shard names and headers. That format is not plain hex: the 32
// bytes are read as four little-endian u64 words and each word is printed as 16 hex digits, so every
// 8-byte group appears byte-reversed. See docs/formats/xet-hashing.md.
//
// Thread-safety: a value type; safe to copy between threads.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace modelhub::xet {

class XetHash {
 public:
  static constexpr size_t kSize = 32;
  using Bytes = std::array<uint8_t, kSize>;

  constexpr XetHash() = default;  // the zero hash (empty file, empty merkle tree)
  constexpr explicit XetHash(const Bytes& raw) : raw_(raw) {}
  // Copies kSize raw bytes from p.
  static XetHash FromRaw(const void* p);
  // Parses the Xet hex format: exactly 64 hex digits (either case), nothing else. InvalidArgument
  // for anything else; never throws. Safe on untrusted input.
  static Result<XetHash> FromHex(std::string_view hex);
  // All bytes 0xff: the bookend/marker hash of shards.
  static XetHash Marker();

  std::string ToHex() const;  // 64 lowercase digits in the Xet format
  const Bytes& bytes() const { return raw_; }
  const uint8_t* data() const { return raw_.data(); }
  std::string_view view() const { return {reinterpret_cast<const char*>(raw_.data()), kSize}; }

  uint64_t Word(size_t i) const;  // i in 0..3: bytes 8i..8i+7 as a little-endian u64
  // The shard lookup key ("truncated hash"): word 0.
  uint64_t Truncated() const { return Word(0); }
  // "hash % n" as Xet defines it: word 3 modulo n (n > 0). The merkle cut uses n = 4, global dedup
  // eligibility n = 1024.
  uint64_t Mod(uint64_t n) const { return Word(3) % n; }
  bool IsZero() const { return *this == XetHash(); }

  friend bool operator==(const XetHash&, const XetHash&) = default;
  friend auto operator<=>(const XetHash&, const XetHash&) = default;  // byte order, for sorted maps

 private:
  Bytes raw_{};
};

}  // namespace modelhub::xet

// Hashes in use are BLAKE3 outputs, so one word is already uniform.
template <>
struct std::hash<modelhub::xet::XetHash> {
  size_t operator()(const modelhub::xet::XetHash& h) const noexcept { return static_cast<size_t>(h.Word(0)); }
};
