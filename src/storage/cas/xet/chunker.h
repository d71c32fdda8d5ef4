// Xet content-defined chunking: a gear rolling hash cuts a byte stream into chunks of 8 KiB..128 KiB
// (64 KiB on average), bit-exact with hf_xet >= 1.1.10 / xet-core (the rule of xet-core PR #487).
// The algorithm and its constants are written down in docs/formats/xet-hashing.md.
//
// Chunk boundaries depend only on the bytes, never on how they are fed: XetChunker accepts the stream
// in pieces of any size (including 0) and reports the same cut positions as ChunkBuffer does for the
// whole buffer. It keeps no copy of the data, only the rolling hash and the current chunk's length,
// so a caller that also hashes chunks keeps at most one chunk (128 KiB) or streams into a hasher.
//
// Calling sequence:
//   XetChunker c;
//   for each piece: for (uint64_t end : c.Next(piece.data(), piece.size())) { a chunk ends at `end` }
//   if (auto end = c.Finish()) { the last chunk ends at *end (== total bytes fed) }
// Cut positions are absolute stream offsets of chunk ends (one past the last byte of the chunk).
//
// Thread-safety: a XetChunker belongs to one thread; ChunkBuffer is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace modelhub::xet {

inline constexpr uint64_t kTargetChunkSize = 64 * 1024;
inline constexpr uint64_t kMinChunkSize = kTargetChunkSize / 8;  // 8192
inline constexpr uint64_t kMaxChunkSize = kTargetChunkSize * 2;  // 131072
// A cut may follow a byte whose updated hash has its top 16 bits zero (p = 2^-16 per byte):
// (TARGET-1) shifted up to the top of the word.
inline constexpr uint64_t kBoundaryMask = 0xFFFF000000000000ULL;
// h = (h << 1) + gear[b] forgets a byte after 64 steps, so hashing a chunk starts 64 bytes before
// the first position that may be tested: byte 8127 of the chunk, tested first after byte 8191.
inline constexpr uint64_t kGearWindow = 64;
inline constexpr uint64_t kFirstHashedOffset = kMinChunkSize - kGearWindow - 1;  // 8127

struct ChunkBoundary {
  uint64_t offset = 0;  // of the chunk's first byte in the stream
  uint64_t length = 0;  // 1..kMaxChunkSize
  friend bool operator==(const ChunkBoundary&, const ChunkBoundary&) = default;
};

class XetChunker {
 public:
  XetChunker() = default;

  // Consumes the next n bytes of the stream and returns the stream offsets of every chunk end that
  // falls inside them, in order. A chunk that reaches kMaxChunkSize, or a hash match, ends here even
  // when it is the last byte of the piece; the open chunk at the end of the piece stays open.
  std::vector<uint64_t> Next(const void* data, size_t n);
  // The same, appending to *cuts (no allocation once it has capacity). Returns how many were appended.
  size_t Next(const void* data, size_t n, std::vector<uint64_t>* cuts);

  // Lower-level step: consumes bytes up to and including the first cut. Returns the number of bytes
  // consumed if a chunk ended (the chunk's end is then at the piece's offset + that number), or
  // nullopt if all n bytes were consumed and the chunk is still open. For callers that hash chunk
  // bytes as they go.
  std::optional<size_t> NextCut(const void* data, size_t n);

  // Ends the stream. Returns the end offset of the last chunk if bytes were fed since the last cut
  // (that chunk may be shorter than kMinChunkSize), nullopt otherwise (empty stream, or the stream
  // ended exactly at a cut). Afterwards the chunker is reset for a new stream starting at offset 0.
  std::optional<uint64_t> Finish();

  uint64_t position() const { return position_; }                   // bytes fed so far
  uint64_t chunk_start() const { return position_ - chunk_len_; }  // where the open chunk starts

 private:
  uint64_t position_ = 0;   // total bytes consumed
  uint64_t chunk_len_ = 0;  // bytes of the open chunk consumed so far
  uint64_t hash_ = 0;       // gear hash of the open chunk (0 until byte kFirstHashedOffset)
};

// One-shot chunking of a whole buffer: the chunks in order, covering it exactly. Empty input gives
// no chunks; input shorter than kMinChunkSize gives one chunk.
std::vector<ChunkBoundary> ChunkBuffer(std::span<const uint8_t> data);
std::vector<ChunkBoundary> ChunkBuffer(std::string_view data);

}  // namespace modelhub::xet
