// Byte-level helpers shared by the xorb and shard codecs: little-endian stores and loads, and WireReader, a
// bounds-checked cursor over untrusted bytes that never reads past its end.
//
// Thread-safety: values and pure functions; a WireReader belongs to one thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "storage/cas/xet/xet_hash.h"

namespace modelhub::xet {

inline void PutU8(std::string* out, uint8_t v) { out->push_back(static_cast<char>(v)); }
inline void PutU24(std::string* out, uint32_t v) {
  for (int i = 0; i < 3; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline void PutHash(std::string* out, const XetHash& h) { out->append(reinterpret_cast<const char*>(h.data()), XetHash::kSize); }
inline void PutZeros(std::string* out, size_t n) { out->append(n, '\0'); }

inline uint32_t LoadU24(const char* p) {
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  return uint32_t(u[0]) | (uint32_t(u[1]) << 8) | (uint32_t(u[2]) << 16);
}
inline uint32_t LoadU32(const char* p) {
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  return uint32_t(u[0]) | (uint32_t(u[1]) << 8) | (uint32_t(u[2]) << 16) | (uint32_t(u[3]) << 24);
}
inline uint64_t LoadU64(const char* p) { return uint64_t(LoadU32(p)) | (uint64_t(LoadU32(p + 4)) << 32); }
inline XetHash LoadHash(const char* p) { return XetHash::FromRaw(p); }

// A cursor over [data, data + size). Every Read* first checks that enough bytes remain and returns false
// (consuming nothing) when they do not, so a caller turns a short read into an error without ever
// touching memory past the end.
class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }
  bool Has(size_t n) const { return n <= remaining(); }
  const char* cur() const { return data_.data() + pos_; }

  bool Skip(size_t n) {
    if (!Has(n)) return false;
    pos_ += n;
    return true;
  }
  bool ReadU8(uint8_t* v) {
    if (!Has(1)) return false;
    *v = static_cast<uint8_t>(data_[pos_]);
    pos_ += 1;
    return true;
  }
  bool ReadU24(uint32_t* v) { return Fixed(3, v, LoadU24); }
  bool ReadU32(uint32_t* v) { return Fixed(4, v, LoadU32); }
  bool ReadU64(uint64_t* v) { return Fixed(8, v, LoadU64); }
  bool ReadHash(XetHash* h) { return Fixed(32, h, LoadHash); }
  bool ReadBytes(size_t n, std::string_view* out) {
    if (!Has(n)) return false;
    *out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }

 private:
  template <typename T, typename F>
  bool Fixed(size_t n, T* v, F load) {
    if (!Has(n)) return false;
    *v = load(data_.data() + pos_);
    pos_ += n;
    return true;
  }

  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace modelhub::xet
