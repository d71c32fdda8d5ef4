// SHA-256 and HMAC-SHA256 (OpenSSL EVP underneath, which uses SHA-NI/AVX2 when
// the CPU has them). Streaming: Update() any number of times, then Final().
// Thread-safety: one object per thread; the free functions are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace modelhub {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t n);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  std::string FinalRaw();  // 32 bytes; the object is reset afterwards
  std::string FinalHex();  // 64 lowercase hex chars

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string Sha256Hex(std::string_view data);
std::string HmacSha256(std::string_view key, std::string_view data);  // 32 raw bytes
// Constant-time comparison for secrets (signatures, token hashes).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace modelhub
