#include "storage/cas/xet/xet_hash.h"

#include <cstring>

namespace modelhub::xet {
namespace {

constexpr char kDigits[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

XetHash XetHash::FromRaw(const void* p) {
  Bytes raw;
  std::memcpy(raw.data(), p, kSize);
  return XetHash(raw);
}

XetHash XetHash::Marker() {
  Bytes raw;
  raw.fill(0xff);
  return XetHash(raw);
}

uint64_t XetHash::Word(size_t i) const {
  uint64_t w = 0;
  for (size_t b = 0; b < 8; ++b) w |= uint64_t{raw_[8 * i + b]} << (8 * b);
  return w;
}

// Digit pair k (k = 0..31) of the string is byte (k / 8) * 8 + 7 - k % 8: each word printed most
// significant byte first.
std::string XetHash::ToHex() const {
  std::string out(2 * kSize, '0');
  for (size_t k = 0; k < kSize; ++k) {
    const uint8_t b = raw_[(k / 8) * 8 + 7 - k % 8];
    out[2 * k] = kDigits[b >> 4];
    out[2 * k + 1] = kDigits[b & 15];
  }
  return out;
}

Result<XetHash> XetHash::FromHex(std::string_view hex) {
  if (hex.size() != 2 * kSize) {
    return Status::InvalidArgument("xet hash must be 64 hex digits, got " + std::to_string(hex.size()) +
                                   " characters");
  }
  Bytes raw;
  for (size_t k = 0; k < kSize; ++k) {
    const int hi = HexValue(hex[2 * k]);
    const int lo = HexValue(hex[2 * k + 1]);
    if (hi < 0 || lo < 0) return Status::InvalidArgument("xet hash has a non-hex character");
    raw[(k / 8) * 8 + 7 - k % 8] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return XetHash(raw);
}

}  // namespace modelhub::xet
