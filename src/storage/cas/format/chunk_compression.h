// Compression of single Xet chunks as stored in xorb records (docs/formats/xorb.md): None, LZ4 frame, and
// ByteGrouping4 + LZ4 frame; the BG4 byte-plane split and its inverse; the BG4 predictor that picks a
// scheme; and the "not smaller than raw -> store None" rule.
//
// Decompression is safe on untrusted payloads: output is bounded by the declared size, and every
// mismatch is an InvalidArgument naming what was wrong.
//
// Thread-safety: pure functions; thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace modelhub::xet {

// The scheme byte of a xorb record header. Values are the wire values.
enum class CompressionScheme : uint8_t {
  kNone = 0,
  kLz4 = 1,
  kBg4Lz4 = 2,
};
const char* CompressionSchemeName(CompressionScheme s);  // "none", "lz4", "bg4-lz4"
// True for 0, 1, 2 (99 = xet-core's "Auto" and every other value are not valid in a record).
bool IsValidCompressionScheme(uint8_t wire_value);

// How a writer chooses the scheme of each chunk.
enum class CompressionPolicy {
  kAuto,    // Bg4Predictor picks LZ4 or BG4-LZ4 (like xet-core's default)
  kBest,    // try LZ4 and BG4-LZ4, keep the smaller
  kNone,
  kLz4,
  kBg4Lz4,
};

// Per-byte-plane popcount histograms of a byte stream, as in xet-core's BG4Predictor: byte i (counting
// from the given offset) lands in plane i % 4, bin popcount(byte).
class Bg4Predictor {
 public:
  void Add(std::string_view data, size_t offset = 0);
  // True if the largest KL divergence between one plane's popcount distribution and the pooled one
  // (add-one smoothed) exceeds 0.02, i.e. regrouping bytes is likely to help LZ4.
  bool Bg4Recommended() const;
  const std::array<std::array<uint32_t, 9>, 4>& histograms() const { return hist_; }

 private:
  std::array<std::array<uint32_t, 9>, 4> hist_{};
};

// Size of plane p (0..3) of an n-byte chunk: n/4 + (n%4 > p).
inline size_t Bg4PlaneSize(size_t n, int p) { return n / 4 + (n % 4 > static_cast<size_t>(p) ? 1 : 0); }
// Planes g0|g1|g2|g3 of data, concatenated (byte i goes to plane i % 4).
std::string Bg4Split(std::string_view data);
// Inverse of Bg4Split: interleaves the planes back (input length = output length).
std::string Bg4Regroup(std::string_view planes);

// One LZ4 frame (64 KiB independent blocks, no checksums) of data.
std::string Lz4FrameCompress(std::string_view data);
// Decodes a sequence of LZ4 frames that must expand to exactly expected_size bytes, appending them to
// *out. InvalidArgument if the payload is malformed, truncated, has bytes left over, or expands to any
// other size.
Status Lz4FrameDecompress(std::string_view payload, size_t expected_size, std::string* out);

// A chunk encoded for a xorb record.
struct CompressedChunk {
  CompressionScheme scheme = CompressionScheme::kNone;
  std::string payload;  // the raw chunk if scheme == kNone
};
// Encodes raw per the policy; falls back to kNone when the result is not smaller than raw.
CompressedChunk CompressChunk(std::string_view raw, CompressionPolicy policy);
// The scheme kAuto would try for raw (before the "not smaller" fallback).
CompressionScheme PredictScheme(std::string_view raw);

// Decodes one record payload, appending exactly uncompressed_size bytes to *out; InvalidArgument (and
// *out unchanged in length) on any mismatch.
Status DecompressChunk(CompressionScheme scheme, std::string_view payload, size_t uncompressed_size,
                       std::string* out);

}  // namespace modelhub::xet
