// Shards: Xet's batch of file reconstructions and xorb chunk lists (byte layout, versions and what we
// accept: docs/formats/shard.md).
//
//   ParseShard      an uploaded shard, read sequentially up to the second bookend; the header's
//                   footer_size and anything after the xorb section are ignored, so the footerless form,
//                   the stale-footer_size form and full shards of old clients all parse.
//   SerializeShard  writes the upload form or a full shard (lookup tables + footer) for our own storage
//                   and for global-dedup answers.
//   ShardReader     opens a full shard, checks its footer and lookup tables, and answers lookups by file,
//                   xorb and chunk hash.
//   ValidateShard   the structural rules both the parser and the writer enforce.
//
// Untrusted bytes only ever produce InvalidArgument values naming the section, entry and byte offset;
// no count is trusted before the bytes it implies are known to be there.
//
// Thread-safety: free functions are thread-safe; a ShardReader's const methods may be called
// concurrently.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "storage/cas/format/wire.h"
#include "storage/cas/xet/xet_hash.h"

namespace modelhub::xet {

inline constexpr size_t kShardHeaderSize = 48;
inline constexpr size_t kShardRecordSize = 48;  // every entry of the file and xorb sections
inline constexpr size_t kShardFooterSize = 200;
inline constexpr uint64_t kShardHeaderVersion = 2;
inline constexpr uint64_t kShardFooterVersion = 1;
inline constexpr uint32_t kFileFlagWithVerification = 0x80000000u;
inline constexpr uint32_t kFileFlagWithMetadataExt = 0x40000000u;
inline constexpr uint32_t kChunkFlagGlobalDedup = 0x80000000u;
inline constexpr uint64_t kShardNoExpiry = std::numeric_limits<uint64_t>::max();
extern const std::array<uint8_t, 32> kShardHeaderTag;

using Sha256Digest = std::array<uint8_t, 32>;
// The shard stores a file's SHA-256 with each 8-byte group reversed (docs/formats/shard.md). This
// converts either way (it is its own inverse).
Sha256Digest ReverseEightByteGroups(const Sha256Digest& bytes);

// One term of a file: chunks [chunk_start, chunk_end) of a xorb.
struct FileTerm {
  XetHash xorb_hash{};
  uint32_t xorb_flags = 0;  // "cas_flags"; 0 in practice, kept as read
  uint32_t unpacked_bytes = 0;
  uint32_t chunk_start = 0;
  uint32_t chunk_end = 0;  // exclusive
  friend bool operator==(const FileTerm&, const FileTerm&) = default;
};

struct FileInfo {
  XetHash file_hash{};
  std::vector<FileTerm> terms;
  std::vector<XetHash> verification;    // empty, or one range hash per term
  std::optional<Sha256Digest> sha256;  // the ordinary SHA-256 digest (not the shard's byte order)

  uint32_t flags() const {
    return (verification.empty() ? 0 : kFileFlagWithVerification) | (sha256 ? kFileFlagWithMetadataExt : 0);
  }
  uint64_t size() const;  // sum of the terms' unpacked bytes
  friend bool operator==(const FileInfo&, const FileInfo&) = default;
};

struct XorbChunkEntry {
  XetHash chunk_hash{};          // HMAC-keyed in a shard with a key
  uint32_t byte_range_start = 0;  // cumulative raw offset of the chunk in its xorb
  uint32_t unpacked_bytes = 0;
  uint32_t flags = 0;           // kChunkFlagGlobalDedup
  friend bool operator==(const XorbChunkEntry&, const XorbChunkEntry&) = default;
};

struct XorbInfo {
  XetHash xorb_hash{};
  uint32_t flags = 0;
  uint32_t num_bytes_in_xorb = 0;  // sum of raw chunk sizes
  uint32_t num_bytes_on_disk = 0;  // serialized size; clients send 0, never trusted
  std::vector<XorbChunkEntry> chunks;
  friend bool operator==(const XorbInfo&, const XorbInfo&) = default;
};

// The content of a shard: both sections, in order.
struct Shard {
  std::vector<FileInfo> files;
  std::vector<XorbInfo> xorbs;
  friend bool operator==(const Shard&, const Shard&) = default;
};

struct ShardFooter {
  uint64_t version = kShardFooterVersion;
  uint64_t file_info_offset = 0;
  uint64_t xorb_info_offset = 0;
  uint64_t file_lookup_offset = 0;
  uint64_t file_lookup_num_entry = 0;
  uint64_t xorb_lookup_offset = 0;
  uint64_t xorb_lookup_num_entry = 0;
  uint64_t chunk_lookup_offset = 0;
  uint64_t chunk_lookup_num_entry = 0;
  XetHash chunk_hash_hmac_key{};  // zero = chunk hashes are plain
  uint64_t creation_timestamp = 0;
  uint64_t key_expiry = kShardNoExpiry;
  uint64_t stored_bytes_on_disk = 0;
  uint64_t materialized_bytes = 0;
  uint64_t stored_bytes = 0;
  uint64_t footer_offset = 0;
  friend bool operator==(const ShardFooter&, const ShardFooter&) = default;
};

// The rules of docs/formats/shard.md that need no stored data: verification on all files or none, one
// verification entry per term, sane term ranges, xorbs of 1..8192 chunks with consistent offsets and
// sizes. InvalidArgument naming the first offending entry.
Status ValidateShard(const Shard& shard);

// Parses an uploaded shard. On success *sections_end (if not null) is the offset just past the xorb
// section's bookend; bytes after it were not looked at.
Result<Shard> ParseShard(std::string_view data, size_t* sections_end = nullptr);

struct ShardWriteOptions {
  bool full = true;               // false: the upload form (footer_size 0, no tables, no footer)
  XetHash hmac_key{};              // full only; the shard's chunk hashes must already be keyed with it
  uint64_t creation_timestamp = 0;  // unix seconds (the caller's clock)
  uint64_t key_expiry = kShardNoExpiry;
};

#ifdef MODELHUB_XET_HASHES
// Replaces every chunk hash of the xorb section by KeyedHash(hash, key) (storage/cas/xet), as a shard
// served for global dedup with ShardWriteOptions::hmac_key = key must hold them.
void KeyChunkHashes(Shard* shard, const XetHash& key);
#endif

// Serializes shard (after ValidateShard). Sections keep the given order; lookup tables are sorted by
// truncated hash.
Result<std::string> SerializeShard(const Shard& shard, const ShardWriteOptions& options = {});

// A parsed and checked full shard (header, sections, lookup tables, footer). Does not keep the bytes.
class ShardReader {
 public:
  static Result<ShardReader> Open(std::string_view data);

  const Shard& shard() const { return shard_; }
  const ShardFooter& footer() const { return footer_; }
  bool chunk_hashes_keyed() const { return footer_.chunk_hash_hmac_key != XetHash(); }

  // Position in shard().files / shard().xorbs of the first entry with that hash.
  std::optional<size_t> FindFile(const XetHash& file_hash) const;
  std::optional<size_t> FindXorb(const XetHash& xorb_hash) const;
  struct ChunkLocation {
    size_t xorb = 0;   // position in shard().xorbs
    uint32_t chunk = 0;  // position in that xorb's chunks
    friend bool operator==(const ChunkLocation&, const ChunkLocation&) = default;
  };
  // Every place the chunk hash occurs (pass the keyed hash if chunk_hashes_keyed()).
  std::vector<ChunkLocation> FindChunk(const XetHash& chunk_hash) const;

 private:
  ShardReader() = default;
  Shard shard_;
  ShardFooter footer_;
  std::vector<std::pair<uint64_t, size_t>> file_lookup_;  // (key, file position), sorted by key
  std::vector<std::pair<uint64_t, size_t>> xorb_lookup_;
  std::vector<std::pair<uint64_t, ChunkLocation>> chunk_lookup_;
};

}  // namespace modelhub::xet
