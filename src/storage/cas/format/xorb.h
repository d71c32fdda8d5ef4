// Xorbs: the chunk containers of Xet storage (byte layout, versions and limits: docs/formats/xorb.md).
//
//   XorbWriter    packs chunks (raw bytes + chunk hash) into records, compressing each one, and
//                 serializes the upload body (records only) or the stored form (records + V1 footer).
//   ParseXorb     walks an untrusted body (records, with or without a V0/V1 footer) and returns its
//                 layout: per chunk the serialized and unpacked offsets and sizes. No decompression.
//   XorbReader    a parsed body: decompresses one chunk or a range of chunks.
//   VerifyXorb    what a server does with an uploaded xorb: parse, decompress every chunk, check the
//                 sizes, hash the chunks and the xorb, compare with the footer and the expected hash.
//
// Every function that reads bytes treats them as hostile: errors are InvalidArgument values with the
// chunk index and byte offset; nothing asserts, nothing reads out of bounds.
//
// Hashing is injected (XorbHashers) so the codec can be tested and fuzzed with cheap stand-ins;
// XetXorbHashers() gives the real Xet hash functions of storage/cas/xet.
//
// Thread-safety: free functions are thread-safe; XorbWriter and XorbReader are not synchronized (a
// XorbReader's const methods may be called concurrently).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "storage/cas/format/chunk_compression.h"
#include "storage/cas/format/wire.h"
#include "storage/cas/xet/hashes.h"
#include "storage/cas/xet/xet_hash.h"

namespace modelhub::xet {

inline constexpr uint32_t kMaxChunkBytes = 128 * 1024;                   // raw size of one chunk
inline constexpr uint32_t kMaxCompressedChunkBytes = 2 * kMaxChunkBytes;  // payload of one record
inline constexpr uint32_t kMaxXorbChunks = 8192;
inline constexpr uint64_t kMaxXorbRawBytes = 64ull * 1024 * 1024;
inline constexpr size_t kXorbChunkHeaderSize = 8;
// All records of a xorb: 64 MiB plus one header per chunk.
inline constexpr uint64_t kMaxXorbRecordBytes = kMaxXorbRawBytes + kXorbChunkHeaderSize * kMaxXorbChunks;
// V1 footer size for n chunks (without the trailing u32 info_length) and for V0.
inline constexpr uint64_t XorbFooterV1InfoLength(uint64_t n) { return 92 + 40 * n; }
inline constexpr uint64_t XorbFooterV0InfoLength(uint64_t n) { return 60 + 36 * n; }
// Largest serialized xorb we accept: all records and a V1 footer of 8192 chunks with its length.
inline constexpr uint64_t kMaxXorbSerializedBytes = kMaxXorbRecordBytes + XorbFooterV1InfoLength(kMaxXorbChunks) + 4;

// One record as found in a body. Offsets are into the body (serialized) or into the concatenated raw
// chunks (unpacked).
struct XorbChunkRecord {
  uint32_t offset = 0;             // where the 8-byte header starts
  uint32_t compressed_size = 0;    // payload bytes after the header
  uint32_t unpacked_offset = 0;
  uint32_t unpacked_size = 0;
  CompressionScheme scheme = CompressionScheme::kNone;

  uint32_t end() const { return offset + static_cast<uint32_t>(kXorbChunkHeaderSize) + compressed_size; }
  uint32_t unpacked_end() const { return unpacked_offset + unpacked_size; }
  friend bool operator==(const XorbChunkRecord&, const XorbChunkRecord&) = default;
};

// A V0 or V1 footer, as parsed or as to be written.
struct XorbFooter {
  uint8_t version = 1;  // 0 (legacy: no unpacked_ends) or 1
  XetHash xorb_hash{};
  std::vector<XetHash> chunk_hashes;
  std::vector<uint32_t> chunk_ends;     // serialized end of each record ("chunk boundary offsets")
  std::vector<uint32_t> unpacked_ends;  // V1 only: cumulative raw sizes
  std::array<uint8_t, 16> buffer{};     // first 4 bytes: hf_xet's upload nonce; excluded from hashes
  friend bool operator==(const XorbFooter&, const XorbFooter&) = default;
};

struct XorbLayout {
  std::vector<XorbChunkRecord> chunks;
  uint32_t records_size = 0;   // bytes of records = where a footer starts
  uint64_t unpacked_size = 0;  // sum of the chunks' raw sizes
  std::optional<XorbFooter> footer;
};

// Parses the records (and footer, if any) of a serialized xorb. Checks every header field and bound of
// docs/formats/xorb.md and that a footer agrees with the records; does not decompress or hash.
Result<XorbLayout> ParseXorb(std::string_view body);

// The footer bytes (V0 or V1 per footer.version) followed by the u32 info_length. The vectors must have
// one entry per chunk (unpacked_ends only for V1).
std::string SerializeXorbFooter(const XorbFooter& footer);

// Parses a V1 footer on its own: `footer` holds the bytes from "XETBLOB" to the
// end of the object (the last 4 bytes are info_length). Used to address the
// chunks of a stored xorb without reading its records. Structural checks only
// (section idents, versions, counts, offsets, monotonic boundaries).
Result<XorbFooter> ParseXorbFooterV1(std::string_view footer);
// A V1 footer describing layout's records with the given chunk hashes (one per chunk) and xorb hash.
XorbFooter MakeXorbFooter(const XorbLayout& layout, std::span<const XetHash> chunk_hashes, const XetHash& xorb_hash);

// The two hash functions a xorb is checked with (storage/cas/xet: ChunkHash and XorbHash).
struct XorbHashers {
  std::function<XetHash(std::string_view chunk)> chunk_hash;
  std::function<XetHash(std::span<const MerkleNode> chunks)> xorb_hash;
};

#ifdef MODELHUB_XET_HASHES
// The real ones: BLAKE3-keyed chunk hash and merkle xorb hash of storage/cas/xet (defined when mh_xet is
// built with BLAKE3).
XorbHashers XetXorbHashers();
#endif

// A parsed body and its layout. The body's bytes must outlive the reader.
class XorbReader {
 public:
  static Result<XorbReader> Open(std::string_view body);

  const XorbLayout& layout() const { return layout_; }
  size_t num_chunks() const { return layout_.chunks.size(); }
  const XorbChunkRecord& chunk(size_t i) const { return layout_.chunks[i]; }
  // The serialized bytes of chunks [begin, end) (what a client fetches for a term).
  std::string_view RecordBytes(size_t begin, size_t end) const;

  // Appends the raw bytes of chunk i. InvalidArgument if i is out of range or the payload does not
  // decompress to exactly the declared size; *out keeps its old length then.
  Status ReadChunk(size_t i, std::string* out) const;
  // Appends the raw bytes of chunks [begin, end), begin <= end <= num_chunks().
  Status ReadChunkRange(size_t begin, size_t end, std::string* out) const;

 private:
  XorbReader(std::string_view body, XorbLayout layout) : body_(body), layout_(std::move(layout)) {}
  std::string_view body_;
  XorbLayout layout_;
};

struct VerifiedXorb {
  XorbLayout layout;
  std::vector<XetHash> chunk_hashes;
  XetHash xorb_hash{};
};

// Parses body, decompresses every chunk (one at a time), hashes each and the whole xorb, and checks them
// against the footer (if any) and against *expected_xorb_hash (if not null). InvalidArgument on any
// mismatch, naming the chunk.
Result<VerifiedXorb> VerifyXorb(std::string_view body, const XorbHashers& hashers,
                                const XetHash* expected_xorb_hash = nullptr);

// Builds a xorb chunk by chunk. Append compresses immediately, so memory is the compressed size.
class XorbWriter {
 public:
  explicit XorbWriter(CompressionPolicy policy = CompressionPolicy::kAuto) : policy_(policy) {}

  // True if one more chunk of raw_size bytes keeps the xorb within 8192 chunks and 64 MiB (a client
  // starts a new xorb otherwise).
  bool HasRoomFor(size_t raw_size) const;
  // Compresses and appends a chunk. InvalidArgument if it is empty or larger than 131072 bytes, or if it
  // does not fit (HasRoomFor is false); nothing changes then.
  Status Append(std::string_view raw, const XetHash& chunk_hash);

  size_t num_chunks() const { return layout_.chunks.size(); }
  uint64_t raw_bytes() const { return layout_.unpacked_size; }
  const XorbLayout& layout() const { return layout_; }
  const std::vector<XetHash>& chunk_hashes() const { return hashes_; }
  std::vector<MerkleNode> ChunkHashesAndSizes() const;

  // The upload body: records only (what hf_xet >= 1.1.4 sends).
  const std::string& records() const { return records_; }
  // Records followed by a V1 footer. xorb_hash is the merkle root of ChunkHashesAndSizes() (computed by
  // the caller's hash functions); nonce goes into the first 4 bytes of the footer buffer.
  std::string SerializeWithFooter(const XetHash& xorb_hash, std::array<uint8_t, 4> nonce = {}) const;

 private:
  CompressionPolicy policy_;
  std::string records_;
  XorbLayout layout_;
  std::vector<XetHash> hashes_;
};

}  // namespace modelhub::xet
