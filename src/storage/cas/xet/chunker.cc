#include "storage/cas/xet/chunker.h"

#include <algorithm>

#include "storage/cas/xet/gear_table.h"

namespace modelhub::xet {
namespace {

// (h & kBoundaryMask) == 0 is the same test as h < 2^48; the comparison is one instruction.
constexpr uint64_t kCutBelow = uint64_t{1} << 48;
static_assert(kBoundaryMask == ~(kCutBelow - 1), "mask must be the top 16 bits");

// Rolls n bytes into h without testing (the 64 bytes before a chunk's first testable position).
inline uint64_t HashOnly(const uint8_t* p, size_t n, uint64_t h) {
  for (size_t i = 0; i < n; ++i) h = (h << 1) + kGearTable[p[i]];
  return h;
}

// Rolls p[0..n) into *hp, testing after every byte. Returns the index + 1 of the first byte after
// which the hash passes the cut test (*hp is then the hash after that byte), or 0 if none does
// (*hp is the hash after all n bytes).
//
// This is the hot loop. The plain recurrence h = 2h + g is a two-instruction dependency chain per
// byte. Written two bytes at a time, h'' = 4h + (2g0 + g1), the bracket does not depend on h, so the
// loop-carried chain is two instructions per two bytes; the odd positions (2h + g0) are computed
// beside the chain. Every intermediate hash is still tested, in order, so the first match wins.
size_t ScanForCut(const uint8_t* p, size_t n, uint64_t* hp) {
  const uint64_t* g = kGearTable;
  uint64_t h = *hp;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t g0 = g[p[i]], g1 = g[p[i + 1]], g2 = g[p[i + 2]], g3 = g[p[i + 3]];
    const uint64_t g4 = g[p[i + 4]], g5 = g[p[i + 5]], g6 = g[p[i + 6]], g7 = g[p[i + 7]];
    const uint64_t h1 = (h << 1) + g0;
    const uint64_t h2 = (h << 2) + ((g0 << 1) + g1);
    const uint64_t h3 = (h2 << 1) + g2;
    const uint64_t h4 = (h2 << 2) + ((g2 << 1) + g3);
    const uint64_t h5 = (h4 << 1) + g4;
    const uint64_t h6 = (h4 << 2) + ((g4 << 1) + g5);
    const uint64_t h7 = (h6 << 1) + g6;
    const uint64_t h8 = (h6 << 2) + ((g6 << 1) + g7);
    if (h1 < kCutBelow) return *hp = h1, i + 1;
    if (h2 < kCutBelow) return *hp = h2, i + 2;
    if (h3 < kCutBelow) return *hp = h3, i + 3;
    if (h4 < kCutBelow) return *hp = h4, i + 4;
    if (h5 < kCutBelow) return *hp = h5, i + 5;
    if (h6 < kCutBelow) return *hp = h6, i + 6;
    if (h7 < kCutBelow) return *hp = h7, i + 7;
    if (h8 < kCutBelow) return *hp = h8, i + 8;
    h = h8;
  }
  for (; i < n; ++i) {
    h = (h << 1) + g[p[i]];
    if (h < kCutBelow) return *hp = h, i + 1;
  }
  *hp = h;
  return 0;
}

}  // namespace

std::optional<size_t> XetChunker::NextCut(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  size_t i = 0;
  // Bytes before kFirstHashedOffset cannot influence any testable hash: skip them unread.
  if (chunk_len_ < kFirstHashedOffset) {
    const size_t skip = static_cast<size_t>(std::min<uint64_t>(kFirstHashedOffset - chunk_len_, n));
    chunk_len_ += skip;
    i += skip;
  }
  // The 64 bytes that fill the window before the first test (after the chunk's 8192nd byte).
  if (chunk_len_ >= kFirstHashedOffset && chunk_len_ < kMinChunkSize - 1) {
    const size_t k = static_cast<size_t>(std::min<uint64_t>(kMinChunkSize - 1 - chunk_len_, n - i));
    hash_ = HashOnly(p + i, k, hash_);
    chunk_len_ += k;
    i += k;
  }
  if (chunk_len_ >= kMinChunkSize - 1) {
    // Every byte from here is followed by a test; the chunk may grow to kMaxChunkSize at most.
    const size_t limit = static_cast<size_t>(std::min<uint64_t>(kMaxChunkSize - chunk_len_, n - i));
    const size_t hit = ScanForCut(p + i, limit, &hash_);
    const size_t used = hit != 0 ? hit : limit;
    chunk_len_ += used;
    i += used;
    if (hit != 0 || chunk_len_ == kMaxChunkSize) {
      position_ += i;
      chunk_len_ = 0;
      hash_ = 0;
      return i;
    }
  }
  position_ += n;
  return std::nullopt;
}

size_t XetChunker::Next(const void* data, size_t n, std::vector<uint64_t>* cuts) {
  const auto* p = static_cast<const uint8_t*>(data);
  size_t done = 0;
  size_t appended = 0;
  while (auto k = NextCut(p + done, n - done)) {
    done += *k;
    cuts->push_back(position_);
    ++appended;
  }
  return appended;
}

std::vector<uint64_t> XetChunker::Next(const void* data, size_t n) {
  std::vector<uint64_t> cuts;
  Next(data, n, &cuts);
  return cuts;
}

std::optional<uint64_t> XetChunker::Finish() {
  std::optional<uint64_t> last;
  if (chunk_len_ != 0) last = position_;
  position_ = 0;
  chunk_len_ = 0;
  hash_ = 0;
  return last;
}

std::vector<ChunkBoundary> ChunkBuffer(std::span<const uint8_t> data) {
  XetChunker chunker;
  std::vector<uint64_t> ends;
  ends.reserve(data.size() / kTargetChunkSize + 2);
  chunker.Next(data.data(), data.size(), &ends);
  if (auto last = chunker.Finish()) ends.push_back(*last);
  std::vector<ChunkBoundary> chunks;
  chunks.reserve(ends.size());
  uint64_t start = 0;
  for (uint64_t end : ends) {
    chunks.push_back({start, end - start});
    start = end;
  }
  return chunks;
}

std::vector<ChunkBoundary> ChunkBuffer(std::string_view data) {
  return ChunkBuffer(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

}  // namespace modelhub::xet
