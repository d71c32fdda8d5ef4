// BLAKE3 (hash, keyed_hash, derive_key, extendable output), our own
// implementation: a portable kernel plus SSE4.1, AVX2 and AVX-512 kernels for
// hashing many chunks in parallel, chosen once at run time from the CPU's
// features (on non-x86 builds only the portable kernel exists).
// Verified against the official test vectors (shared/testdata/blake3) and b3sum.
//
// Thread-safety: a Blake3 object belongs to one thread; the free functions
// are thread-safe. A moved-from Blake3 may only be assigned to or destroyed.
// Nothing here fails: no method returns an error or throws (except
// std::bad_alloc from the constructors).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace modelhub {

inline constexpr size_t kBlake3KeyLen = 32;
inline constexpr size_t kBlake3OutLen = 32;

using Blake3Digest = std::array<uint8_t, kBlake3OutLen>;

class Blake3 {
 public:
  Blake3();                                     // hash mode
  explicit Blake3(const uint8_t key[kBlake3KeyLen]);  // keyed_hash mode
  static Blake3 DeriveKey(std::string_view context);  // derive_key mode
  ~Blake3();
  Blake3(Blake3&&) noexcept;
  Blake3& operator=(Blake3&&) noexcept;
  Blake3(const Blake3&) = delete;
  Blake3& operator=(const Blake3&) = delete;

  void Update(const void* data, size_t n);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // Writes out_len bytes of output (XOF) starting at seek; the state is unchanged,
  // so Finalize may be called again and Update may continue.
  void Finalize(uint8_t* out, size_t out_len, uint64_t seek = 0) const;
  Blake3Digest Digest() const;
  void Reset();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

Blake3Digest Blake3Hash(std::string_view data);
Blake3Digest Blake3KeyedHash(const uint8_t key[kBlake3KeyLen], std::string_view data);

// Which kernel is in use ("avx512", "avx2", "sse41", "portable"); for logs and benchmarks.
const char* Blake3KernelName();
// For tests and benchmarks: force a kernel ("portable", "sse41", "avx2", "avx512"); "auto" (or
// nullptr) returns to the dispatcher's pick. Returns false, changing nothing, if the name is
// unknown or the CPU cannot run it. Not thread-safe with concurrent hashing; call before any use.
bool Blake3ForceKernel(const char* name);

}  // namespace modelhub
