// BLAKE3 tree hashing on top of the kernels in blake3_impl.h.
//
// Input is split into 1024-byte chunks (16 blocks of 64 bytes) whose chaining
// values (CVs) are the leaves of a binary tree; a parent's block is its left
// CV followed by its right CV. The left subtree of any node holds the largest
// power-of-two number of chunks that leaves at least one byte for the right.
//
// Hashing state: the chunk being filled plus a stack of CVs of complete
// subtrees, largest (leftmost) at the bottom. Merging is lazy: before a new CV
// is pushed, the stack is merged down to popcount(chunks so far) entries (the
// binary representation of the chunk count is exactly the sequence of complete
// subtrees), so the rightmost CVs stay unmerged until we know more input
// follows; only then can we be sure they are not the root.
//
// Large updates skip the chunk-at-a-time path: an aligned power-of-two subtree
// of whole chunks is hashed by recursing to runs of `degree` chunks (one
// hash_many call hashes them side by side), then reducing the CVs pairwise
// with hash_many on parent blocks, down to the subtree's two top CVs, which are
// pushed onto the stack.

#include "crypto/blake3.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>

#include "crypto/blake3_impl.h"

namespace modelhub {
namespace {

using blake3_internal::CompressInPlacePortable;
using blake3_internal::CompressXofPortable;
using blake3_internal::HashManyFn;
using blake3_internal::kBlockLen;
using blake3_internal::kBlocksPerChunk;
using blake3_internal::kChunkEnd;
using blake3_internal::kChunkLen;
using blake3_internal::kChunkStart;
using blake3_internal::kDeriveKeyContext;
using blake3_internal::kDeriveKeyMaterial;
using blake3_internal::kIv;
using blake3_internal::kKeyedHash;
using blake3_internal::kMaxSimdDegree;
using blake3_internal::kParent;
using blake3_internal::kRoot;

constexpr size_t kCvLen = 32;
// 2^54 chunks of 2^10 bytes is 2^64 bytes, so the stack never holds more than
// 54 complete subtrees, plus one CV pushed before the lazy merge.
constexpr size_t kMaxDepth = 54;
// CompressSubtreeWide returns at least two CVs, even for the portable kernel.
constexpr size_t kMaxSimdDegreeOr2 = kMaxSimdDegree < 2 ? 2 : kMaxSimdDegree;

// ---- Kernel choice -----------------------------------------------------------

struct Kernel {
  const char* name;
  HashManyFn hash_many;
  size_t degree;  // inputs hashed side by side
};

constexpr Kernel kPortableKernel{"portable", blake3_internal::HashManyPortable, 1};
#if defined(MODELHUB_BLAKE3_X86)
constexpr Kernel kSse41Kernel{"sse41", blake3_internal::HashManySse41, 4};
constexpr Kernel kAvx2Kernel{"avx2", blake3_internal::HashManyAvx2, 8};
constexpr Kernel kAvx512Kernel{"avx512", blake3_internal::HashManyAvx512, 16};
#endif

// Fastest first.
constexpr const Kernel* kKernels[] = {
#if defined(MODELHUB_BLAKE3_X86)
    &kAvx512Kernel, &kAvx2Kernel, &kSse41Kernel,
#endif
    &kPortableKernel};

bool CpuCanRun(const Kernel& k) {
#if defined(MODELHUB_BLAKE3_X86)
  // __builtin_cpu_supports also checks that the OS saves the wide registers.
  __builtin_cpu_init();
  const bool sse41 = __builtin_cpu_supports("sse4.1");
  const bool avx2 = sse41 && __builtin_cpu_supports("avx2");
  if (&k == &kAvx512Kernel) {
    return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
  }
  if (&k == &kAvx2Kernel) return avx2;
  if (&k == &kSse41Kernel) return sse41;
#endif
  return &k == &kPortableKernel;
}

const Kernel* DetectKernel() {
  for (const Kernel* k : kKernels) {
    if (CpuCanRun(*k)) return k;
  }
  return &kPortableKernel;
}

std::atomic<const Kernel*> g_forced_kernel{nullptr};

const Kernel& ActiveKernel() {
  if (const Kernel* forced = g_forced_kernel.load(std::memory_order_acquire)) return *forced;
  static const Kernel* const detected = DetectKernel();
  return *detected;
}

// ---- Bytes and words -----------------------------------------------------------

uint32_t LoadLe32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

void KeyWords(const uint8_t key[kBlake3KeyLen], uint32_t words[8]) {
  for (int i = 0; i < 8; ++i) words[i] = LoadLe32(key + 4 * i);
}

void CvBytes(const uint32_t cv[8], uint8_t out[kCvLen]) {
  for (int i = 0; i < 8; ++i) {
    out[4 * i] = static_cast<uint8_t>(cv[i]);
    out[4 * i + 1] = static_cast<uint8_t>(cv[i] >> 8);
    out[4 * i + 2] = static_cast<uint8_t>(cv[i] >> 16);
    out[4 * i + 3] = static_cast<uint8_t>(cv[i] >> 24);
  }
}

// ---- Compression outputs ---------------------------------------------------------

// The inputs of a compression not yet done: it becomes a CV (inner node) or,
// with ROOT, the output stream (root node, any length, any offset).
struct Output {
  uint32_t cv[8];
  uint8_t block[kBlockLen];
  uint8_t block_len;
  uint64_t counter;
  uint8_t flags;

  void ChainingValue(uint8_t out[kCvLen]) const {
    uint32_t words[8];
    std::memcpy(words, cv, sizeof words);
    CompressInPlacePortable(words, block, block_len, counter, flags);
    CvBytes(words, out);
  }

  // Output block i is the root compression with counter i; byte `seek` of the
  // stream is byte seek % 64 of block seek / 64.
  void RootBytes(uint64_t seek, uint8_t* out, size_t len) const {
    uint64_t block_counter = seek / kBlockLen;
    size_t offset = static_cast<size_t>(seek % kBlockLen);
    uint8_t buf[kBlockLen];
    while (len > 0) {
      CompressXofPortable(cv, block, block_len, block_counter, flags | kRoot, buf);
      const size_t take = std::min(kBlockLen - offset, len);
      std::memcpy(out, buf + offset, take);
      out += take;
      len -= take;
      offset = 0;
      ++block_counter;
    }
  }
};

Output ParentOutput(const uint8_t block[kBlockLen], const uint32_t key[8], uint8_t flags) {
  Output o;
  std::memcpy(o.cv, key, sizeof o.cv);
  std::memcpy(o.block, block, kBlockLen);
  o.block_len = kBlockLen;
  o.counter = 0;
  o.flags = flags | kParent;
  return o;
}

// One chunk being filled; the last block stays buffered until we know whether
// it ends the chunk.
struct ChunkState {
  uint32_t cv[8];
  uint64_t counter;
  uint8_t buf[kBlockLen];
  uint8_t buf_len;
  uint8_t blocks_compressed;
  uint8_t flags;

  void Init(const uint32_t key[8], uint64_t chunk_counter, uint8_t mode_flags) {
    std::memcpy(cv, key, sizeof cv);
    counter = chunk_counter;
    std::memset(buf, 0, sizeof buf);
    buf_len = 0;
    blocks_compressed = 0;
    flags = mode_flags;
  }

  size_t Len() const { return kBlockLen * blocks_compressed + buf_len; }
  uint8_t StartFlag() const { return blocks_compressed == 0 ? kChunkStart : 0; }

  // Caller guarantees Len() + n <= kChunkLen.
  void Update(const uint8_t* in, size_t n) {
    if (buf_len > 0) {
      const size_t take = std::min(kBlockLen - buf_len, n);
      std::memcpy(buf + buf_len, in, take);
      buf_len = static_cast<uint8_t>(buf_len + take);
      in += take;
      n -= take;
      if (n == 0) return;
      CompressInPlacePortable(cv, buf, kBlockLen, counter, flags | StartFlag());
      ++blocks_compressed;
      buf_len = 0;
      std::memset(buf, 0, sizeof buf);
    }
    while (n > kBlockLen) {
      CompressInPlacePortable(cv, in, kBlockLen, counter, flags | StartFlag());
      ++blocks_compressed;
      in += kBlockLen;
      n -= kBlockLen;
    }
    std::memcpy(buf + buf_len, in, n);
    buf_len = static_cast<uint8_t>(buf_len + n);
  }

  Output MakeOutput() const {
    Output o;
    std::memcpy(o.cv, cv, sizeof o.cv);
    std::memcpy(o.block, buf, kBlockLen);
    o.block_len = buf_len;
    o.counter = counter;
    o.flags = flags | StartFlag() | kChunkEnd;
    return o;
  }
};

// ---- Subtrees with the wide kernels -------------------------------------------

// Hashes len <= degree * kChunkLen bytes starting at chunk `counter`: whole
// chunks side by side, a trailing partial chunk alone. Returns the number of CVs.
size_t CompressChunksParallel(const uint8_t* input, size_t len, const uint32_t key[8],
                              uint64_t counter, uint8_t flags, const Kernel& kernel,
                              uint8_t* out) {
  const uint8_t* chunks[kMaxSimdDegree];
  size_t n = 0;
  for (; (n + 1) * kChunkLen <= len; ++n) chunks[n] = input + n * kChunkLen;
  kernel.hash_many(chunks, n, kBlocksPerChunk, key, counter, true, flags, kChunkStart, kChunkEnd,
                   out);
  const size_t done = n * kChunkLen;
  if (done == len) return n;
  ChunkState partial;
  partial.Init(key, counter + n, flags);
  partial.Update(input + done, len - done);
  partial.MakeOutput().ChainingValue(out + n * kCvLen);
  return n + 1;
}

// Hashes adjacent pairs of num_cvs CVs into parent CVs; an odd last CV is
// carried up unchanged. Returns the number of CVs written.
size_t CompressParentsParallel(const uint8_t* cvs, size_t num_cvs, const uint32_t key[8],
                               uint8_t flags, const Kernel& kernel, uint8_t* out) {
  const uint8_t* parents[kMaxSimdDegreeOr2];
  const size_t n = num_cvs / 2;
  for (size_t i = 0; i < n; ++i) parents[i] = cvs + 2 * kCvLen * i;
  kernel.hash_many(parents, n, 1, key, 0, false, flags | kParent, 0, 0, out);
  if (num_cvs % 2 == 0) return n;
  std::memcpy(out + n * kCvLen, cvs + 2 * kCvLen * n, kCvLen);
  return n + 1;
}

// Hashes a subtree of len bytes starting at chunk `counter` (aligned to its own
// size) down to at most max(degree, 2) CVs, at least 2 when len > kChunkLen.
// Each CV is that of a complete subtree of equal size (except the last), so the
// caller can keep pairing them.
size_t CompressSubtreeWide(const uint8_t* input, size_t len, const uint32_t key[8],
                           uint64_t counter, uint8_t flags, const Kernel& kernel, uint8_t* out) {
  if (len <= kernel.degree * kChunkLen) {
    return CompressChunksParallel(input, len, key, counter, flags, kernel, out);
  }
  const size_t left_len = std::bit_floor((len - 1) / kChunkLen) * kChunkLen;
  const uint64_t right_counter = counter + left_len / kChunkLen;
  // With one lane the left side would return one CV; ask for two so that the
  // result has at least two.
  const size_t left_cvs_max = (kernel.degree == 1 && left_len > kChunkLen) ? 2 : kernel.degree;
  uint8_t cvs[2 * kMaxSimdDegreeOr2 * kCvLen];
  const size_t left_n = CompressSubtreeWide(input, left_len, key, counter, flags, kernel, cvs);
  const size_t right_n = CompressSubtreeWide(input + left_len, len - left_len, key, right_counter,
                                             flags, kernel, cvs + left_cvs_max * kCvLen);
  if (left_n == 1) {  // one lane, one chunk on each side: the caller pairs them
    std::memcpy(out, cvs, 2 * kCvLen);
    return 2;
  }
  return CompressParentsParallel(cvs, left_n + right_n, key, flags, kernel, out);
}

// Hashes a subtree of more than one chunk to its two top CVs (the block of its
// root, which is not compressed here: it may be the root of everything).
void CompressSubtreeToParentBlock(const uint8_t* input, size_t len, const uint32_t key[8],
                                  uint64_t counter, uint8_t flags, const Kernel& kernel,
                                  uint8_t out[2 * kCvLen]) {
  uint8_t cvs[kMaxSimdDegreeOr2 * kCvLen];
  size_t n = CompressSubtreeWide(input, len, key, counter, flags, kernel, cvs);
  uint8_t next[kMaxSimdDegreeOr2 * kCvLen / 2 + kCvLen];
  while (n > 2) {
    n = CompressParentsParallel(cvs, n, key, flags, kernel, next);
    std::memcpy(cvs, next, n * kCvLen);
  }
  std::memcpy(out, cvs, 2 * kCvLen);
}

}  // namespace

// ---- The hasher --------------------------------------------------------------

struct Blake3::State {
  uint32_t key[8];
  uint8_t flags;
  ChunkState chunk;
  size_t stack_len;
  uint8_t stack[(kMaxDepth + 1) * kCvLen];

  void Init(const uint32_t k[8], uint8_t mode_flags) {
    std::memcpy(key, k, sizeof key);
    flags = mode_flags;
    chunk.Init(key, 0, flags);
    stack_len = 0;
  }

  // Merges the top of the stack until it holds popcount(total_chunks) CVs.
  void MergeStack(uint64_t total_chunks) {
    const size_t keep = static_cast<size_t>(std::popcount(total_chunks));
    while (stack_len > keep) {
      uint8_t* left = stack + (stack_len - 2) * kCvLen;
      ParentOutput(left, key, flags).ChainingValue(left);
      --stack_len;
    }
  }

  // Pushes the CV of a complete subtree that starts at chunk `counter`.
  void PushCv(const uint8_t cv[kCvLen], uint64_t counter) {
    MergeStack(counter);
    std::memcpy(stack + stack_len * kCvLen, cv, kCvLen);
    ++stack_len;
  }

  void Update(const uint8_t* in, size_t n) {
    if (n == 0) return;
    const Kernel& kernel = ActiveKernel();

    // Top up a partial chunk first; finish it only if more input follows.
    if (chunk.Len() > 0) {
      const size_t take = std::min(kChunkLen - chunk.Len(), n);
      chunk.Update(in, take);
      in += take;
      n -= take;
      if (n == 0) return;
      uint8_t cv[kCvLen];
      chunk.MakeOutput().ChainingValue(cv);
      PushCv(cv, chunk.counter);
      chunk.Init(key, chunk.counter + 1, flags);
    }

    // Whole subtrees, each the largest power of two of chunks that fits the
    // input and is aligned to its size in the tree. At least one byte is kept
    // back for the chunk state: the last chunk may be the root.
    while (n > kChunkLen) {
      size_t subtree_len = std::bit_floor(n);
      const uint64_t bytes_so_far = chunk.counter * kChunkLen;
      while (((subtree_len - 1) & bytes_so_far) != 0) subtree_len /= 2;
      const uint64_t subtree_chunks = subtree_len / kChunkLen;
      if (subtree_len == kChunkLen) {
        ChunkState one;
        one.Init(key, chunk.counter, flags);
        one.Update(in, kChunkLen);
        uint8_t cv[kCvLen];
        one.MakeOutput().ChainingValue(cv);
        PushCv(cv, chunk.counter);
      } else {
        uint8_t pair[2 * kCvLen];
        CompressSubtreeToParentBlock(in, subtree_len, key, chunk.counter, flags, kernel, pair);
        PushCv(pair, chunk.counter);
        PushCv(pair + kCvLen, chunk.counter + subtree_chunks / 2);
      }
      chunk.counter += subtree_chunks;
      in += subtree_len;
      n -= subtree_len;
    }

    if (n > 0) {
      chunk.Update(in, n);
      MergeStack(chunk.counter);
    }
  }

  // The root node: the chunk state if it is the only chunk, else the parents
  // of everything on the stack, folded from the right.
  Output RootOutput() const {
    if (stack_len == 0) return chunk.MakeOutput();
    Output out;
    size_t remaining;
    if (chunk.Len() > 0) {
      out = chunk.MakeOutput();
      remaining = stack_len;
    } else {
      // The input ended on a subtree pushed whole: its two top CVs are still on the stack.
      out = ParentOutput(stack + (stack_len - 2) * kCvLen, key, flags);
      remaining = stack_len - 2;
    }
    uint8_t block[kBlockLen];
    while (remaining > 0) {
      --remaining;
      std::memcpy(block, stack + remaining * kCvLen, kCvLen);
      out.ChainingValue(block + kCvLen);
      out = ParentOutput(block, key, flags);
    }
    return out;
  }
};

Blake3::Blake3() : s_(std::make_unique<State>()) { s_->Init(kIv, 0); }

Blake3::Blake3(const uint8_t key[kBlake3KeyLen]) : s_(std::make_unique<State>()) {
  uint32_t words[8];
  KeyWords(key, words);
  s_->Init(words, kKeyedHash);
}

Blake3 Blake3::DeriveKey(std::string_view context) {
  Blake3 context_hasher;
  context_hasher.s_->Init(kIv, kDeriveKeyContext);
  context_hasher.Update(context);
  uint8_t context_key[kBlake3KeyLen];
  context_hasher.Finalize(context_key, sizeof context_key);
  Blake3 h;
  uint32_t words[8];
  KeyWords(context_key, words);
  h.s_->Init(words, kDeriveKeyMaterial);
  return h;
}

Blake3::~Blake3() = default;
Blake3::Blake3(Blake3&&) noexcept = default;
Blake3& Blake3::operator=(Blake3&&) noexcept = default;

void Blake3::Update(const void* data, size_t n) {
  s_->Update(static_cast<const uint8_t*>(data), n);
}

void Blake3::Finalize(uint8_t* out, size_t out_len, uint64_t seek) const {
  s_->RootOutput().RootBytes(seek, out, out_len);
}

Blake3Digest Blake3::Digest() const {
  Blake3Digest d;
  Finalize(d.data(), d.size());
  return d;
}

void Blake3::Reset() {
  uint32_t key[8];
  std::memcpy(key, s_->key, sizeof key);
  s_->Init(key, s_->flags);
}

Blake3Digest Blake3Hash(std::string_view data) {
  Blake3 h;
  h.Update(data);
  return h.Digest();
}

Blake3Digest Blake3KeyedHash(const uint8_t key[kBlake3KeyLen], std::string_view data) {
  Blake3 h(key);
  h.Update(data);
  return h.Digest();
}

const char* Blake3KernelName() { return ActiveKernel().name; }

bool Blake3ForceKernel(const char* name) {
  if (name == nullptr || std::strcmp(name, "auto") == 0) {
    g_forced_kernel.store(nullptr, std::memory_order_release);
    return true;
  }
  for (const Kernel* k : kKernels) {
    if (std::strcmp(k->name, name) == 0) {
      if (!CpuCanRun(*k)) return false;
      g_forced_kernel.store(k, std::memory_order_release);
      return true;
    }
  }
  return false;
}

}  // namespace modelhub
