// XetCas: the storage side of the Xet CAS protocol (docs/protocols/xet.md) on top of the ChunkStore.
// hf_xet and other Xet clients upload xorbs and shards and download through reconstructions; the
// chunk store ingests LFS uploads into the same xorbs, so every file is reachable both ways.
//
//   PutXorb       streams an uploaded xorb body (records, with or without a footer), decompresses and
//                 hashes every chunk as it arrives, checks the xorb hash against the URL, stores it with
//                 our V1 footer and indexes its chunks. Memory: one chunk, whatever the xorb size.
//   PutShard      checks an uploaded shard's files against the stored xorbs (ranges, sizes, per-term
//                 verification hashes, the file hash) and the claimed SHA-256 against the content (read
//                 back through the verified reader, unless that file was proven before), then records
//                 each file (sha256 <-> Xet file hash <-> terms). The work a shard may cause is bounded
//                 before any of it is done (XetShardLimits), and it stops when the caller says the
//                 client is gone.
//   Reconstruct   the terms and xorb byte ranges of a file or a byte range of it.
//   DedupShard    the answer to a global dedup query: a shard listing the xorbs of a file that holds the
//                 chunk, with chunk hashes HMAC-keyed so that only a client holding a chunk can match it.
//   OpenXorbBytes serialized bytes of a xorb's records, every chunk they cover hash-checked before any
//                 of its bytes is returned (a damaged chunk is never served).
//
// Untrusted input produces InvalidArgument (bad data), NotFound, or Unavailable (retryable: a GC was
// deleting a xorb the upload needs). Thread-safety: all methods may be called concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "storage/blob/blob_store.h"
#include "storage/cas/chunk_store.h"
#include "storage/cas/xet/xet_hash.h"

namespace modelhub {

struct XetCasCounters {
  std::atomic<int64_t> xorbs_received{0};       // xorb uploads that passed verification
  std::atomic<int64_t> xorbs_inserted{0};       // ... of which were new
  std::atomic<int64_t> xorb_bytes_received{0};  // body bytes of verified xorb uploads
  std::atomic<int64_t> shards_received{0};      // shard uploads accepted
  std::atomic<int64_t> shard_bytes_received{0};
  std::atomic<int64_t> files_registered{0};     // files recorded from shards
  std::atomic<int64_t> files_hashed{0};         // ... whose SHA-256 had to be computed from the content
  std::atomic<int64_t> shard_verify_bytes{0};   // content bytes read back and hashed to check shards
  std::atomic<int64_t> shards_over_budget{0};   // shards refused by XetShardLimits before any work
  std::atomic<int64_t> shards_cancelled{0};     // shard checks stopped because the client went away
  std::atomic<int64_t> dedup_queries{0};
  std::atomic<int64_t> dedup_hits{0};
  std::atomic<int64_t> reconstructions{0};
  std::atomic<int64_t> xorb_bytes_served{0};    // serialized bytes served to Xet clients
};

struct XetTerm {
  xet::XetHash xorb;
  uint32_t chunk_start = 0;
  uint32_t chunk_end = 0;   // exclusive
  uint32_t unpacked = 0;    // raw bytes of chunks [chunk_start, chunk_end)
  friend bool operator==(const XetTerm&, const XetTerm&) = default;
};

// A byte range of a xorb's records to fetch: chunks [chunk_start, chunk_end) are bytes
// [byte_first, byte_last] (inclusive) of the stored object.
struct XetFetchRange {
  xet::XetHash xorb;
  uint32_t chunk_start = 0;
  uint32_t chunk_end = 0;
  uint64_t byte_first = 0;
  uint64_t byte_last = 0;
  friend bool operator==(const XetFetchRange&, const XetFetchRange&) = default;
};

struct XetReconstruction {
  uint64_t offset_into_first_range = 0;
  std::vector<XetTerm> terms;
  std::vector<XetFetchRange> fetch;  // per xorb, sorted by chunk_start, merged when adjacent
};

// What one shard upload may make the server do (docs/protocols/xet.md, "Verification budget").
// A shard names content by reference, so a few hundred bytes of terms can describe terabytes made of
// repeats of one stored xorb; the server reads back and hashes every new file. Work is counted as
// the raw bytes of the terms of files that must be hashed plus kChunkRefCost per chunk a term names
// (verification and Merkle hashing). Refused (TooLarge, "ShardTooExpensive") before any content is
// read when it exceeds max(verify_floor_bytes, verify_ratio x the cost of the distinct stored chunk
// ranges the shard names), i.e. repeats are paid for, distinct content is not limited.
struct XetShardLimits {
  int64_t max_file_bytes = 5LL << 40;      // one file's reconstruction (TooLarge "FileTooLarge")
  int64_t max_file_terms = 1LL << 20;      // terms of one file (TooLarge "FileTooLarge")
  int64_t verify_floor_bytes = 1LL << 30;  // work any shard may cause, whatever it names
  int64_t verify_ratio = 8;                // work per unit of distinct content named
  static constexpr int64_t kChunkRefCost = 512;
};

struct XetRegisteredFile {
  std::string sha256;
  int64_t size = 0;
  xet::XetHash file_hash;
};

class XetCas {
 public:
  explicit XetCas(ChunkStore* store, XetShardLimits limits = {});

  using ReadFn = std::function<Result<size_t>(char* buf, size_t n)>;
  // content_length < 0: unknown (chunked). Returns true if the xorb was not stored before.
  Result<bool> PutXorb(const xet::XetHash& hash, const ReadFn& read, int64_t content_length);
  bool HasXorb(const xet::XetHash& hash);

  // Does the caller (the holder of a Xet token) may read this recorded file? Set by the hub from
  // its access rules; the CAS itself knows no repositories.
  using FileFilter = std::function<Result<bool>(const FileRecord&)>;

  // progress(done_bytes, total_bytes) is called while files are checked.
  using Progress = std::function<void(int64_t done, int64_t total)>;
  struct ShardHooks {
    Progress progress;
    // Polled between terms and after every MiB read back; true stops the check (Unavailable,
    // "ClientClosedRequest"; nothing of the shard is recorded past the files already done).
    std::function<bool()> cancelled;
    // A file recorded before is not hashed again only if this says the uploader may already read it
    // (so timing does not tell whether content the caller cannot read exists). Null: always.
    FileFilter may_reuse;
  };
  Result<std::vector<XetRegisteredFile>> PutShard(std::string_view body, const ShardHooks& hooks = {});

  // range: inclusive [first, last] of the file; clamped to the file size. RangeNotSatisfiable if
  // first >= size (except for an empty file, which has no terms).
  Result<XetReconstruction> Reconstruct(const FileRecord& file, std::optional<std::pair<uint64_t, uint64_t>> range);

  // NotFound if the chunk is not stored. key: the HMAC key for the chunk hashes; expiry: unix s.
  // With `readable`, only xorbs of a file it accepts are offered (the first of up to
  // kDedupFileCandidates files naming the chunk's xorb); none: NotFound, as for an unknown chunk.
  Result<std::string> DedupShard(const xet::XetHash& chunk, const xet::XetHash& key, uint64_t expiry_s,
                                 const FileFilter& readable = {});
  // Is the xorb stored and named by a file `readable` accepts (among the first
  // kDedupFileCandidates files naming it)? Without a filter: is it stored.
  Result<bool> XorbReadable(const xet::XetHash& hash, const FileFilter& readable);

  // Bytes [first, last] of the stored xorb, within its records. The reader hash-checks each chunk it
  // covers before returning any of its bytes.
  Result<std::unique_ptr<BlobReader>> OpenXorbBytes(const xet::XetHash& xorb, uint64_t first, uint64_t last);

  XetCasCounters& counters() { return counters_; }
  ChunkStore* store() { return store_; }

  static constexpr int64_t kMaxShardBytes = 128LL << 20;
  // Dedup answers list at most this many chunks (~2 GiB of 64 KiB chunks) around the queried one.
  static constexpr size_t kDedupChunkBudget = 32768;
  // Files naming a xorb looked at for one that the caller may read.
  static constexpr int64_t kDedupFileCandidates = 64;

 private:
  // The first file naming the xorb that `readable` accepts (any file without a filter).
  Result<std::optional<FileRecord>> ReadableFileWithXorb(const xet::XetHash& xorb, const FileFilter& readable);

  ChunkStore* store_;
  XetShardLimits limits_;
  XetCasCounters counters_;
};

}  // namespace modelhub
