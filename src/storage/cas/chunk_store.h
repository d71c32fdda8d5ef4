// ChunkStore: every large file (LFS object) stored as Xet content-defined
// chunks packed in xorbs on a BlobStore, with a server-wide chunk index in the
// MetadataStore so each chunk is stored once across all repositories.
// Design and formats: docs/formats/chunk-store.md, xorb.md, xet-hashing.md.
//
// Ingest streams: bytes are hashed (SHA-256), chunked (gear CDC), each chunk
// hashed (keyed BLAKE3); chunks already indexed are referenced, new ones are
// compressed into the upload's open xorb, which is sealed (written under its
// hash, then indexed) at 16 MiB of raw chunks or 8192 chunks (kIngestXorbBytes;
// Xet allows 64 MiB). A file becomes visible only
// after its size and SHA-256 matched the claim.
//
// Reads rebuild any byte range from the file's terms, reading only the chunks
// needed and checking every chunk's hash: a damaged chunk fails the read with
// Corruption, it is never served.
//
// Thread-safety: all methods may be called concurrently. Concurrent ingests of
// overlapping content are safe (each seals its own xorbs; the index keeps the
// first location of a chunk). A ChunkIngest or reader object is single-threaded.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "crypto/sha256.h"
#include "storage/blob/blob_store.h"
#include "storage/cas/format/xorb.h"
#include "storage/cas/xet/chunker.h"
#include "storage/cas/xet/hashes.h"
#include "storage/meta/metadata_store.h"

namespace modelhub {

bool IsSha256Hex(const std::string& s);  // 64 lowercase hex chars

// One run of a file's bytes: chunks [chunk_start, chunk_end) of a xorb.
struct FileTerm {
  xet::XetHash xorb;
  uint32_t chunk_start = 0;
  uint32_t chunk_end = 0;
  uint32_t bytes = 0;  // uncompressed bytes of the run
  friend bool operator==(const FileTerm&, const FileTerm&) = default;
};
// Terms as stored in FileRecord::terms: 44 bytes each (xorb hash, start, end, bytes; u32 little-endian).
std::string SerializeTerms(const std::vector<FileTerm>& terms);
Result<std::vector<FileTerm>> ParseTerms(std::string_view data);

// Counters since process start (for /metrics and benchmarks).
struct ChunkStoreCounters {
  std::atomic<int64_t> ingested_bytes{0};     // logical bytes of files ingested
  std::atomic<int64_t> new_chunk_bytes{0};    // raw bytes of chunks that were not stored before
  std::atomic<int64_t> xorb_bytes_written{0}; // serialized xorb bytes written to the blob store
  std::atomic<int64_t> bytes_read{0};         // bytes read from the blob store by readers
  std::atomic<int64_t> bytes_served{0};       // bytes returned by readers
};

// A byte buffer that grows without zero-filling and keeps its capacity when reused.
class ReadBuffer {
 public:
  // Makes size() == n; the contents are unspecified (old bytes or uninitialized).
  char* Resize(size_t n);
  char* data() { return data_.get(); }
  const char* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// Chunks [begin, end) of one xorb, decoded and hash-checked (ChunkStore::DecodeChunks). Chunks stored
// uncompressed are served from the storage read buffer itself; the others are decompressed into
// `decoded`. Reusing one DecodedRun for many calls reuses its buffers.
struct DecodedRun {
  struct Piece {
    bool in_raw;  // in raw (stored uncompressed) or in decoded
    size_t offset;
    size_t size;
  };
  ReadBuffer raw;        // serialized records as read from storage
  std::string decoded;   // decompressed chunks
  std::vector<Piece> pieces;  // one per chunk, in order
  int64_t stored_bytes = 0;   // serialized bytes read from storage
  int64_t size = 0;           // sum of the pieces

  std::string_view piece(size_t i) const {
    const Piece& p = pieces[i];
    return p.in_raw ? std::string_view(raw.data() + p.offset, p.size) : std::string_view(decoded).substr(p.offset, p.size);
  }
};

class ChunkStore;

class ChunkIngest {
 public:
  ChunkIngest(ChunkStore* store, std::string oid, int64_t size);
  // TooLarge if more bytes arrive than the declared size.
  Status Write(const char* data, size_t n);
  // Checks size and SHA-256 (InvalidArgument on mismatch: nothing recorded), seals the
  // open xorb and records the file durably.
  Status Finish();
  int64_t received() const { return received_; }

 private:
  struct DraftTerm {
    size_t slot;  // index into slots_ (a xorb whose hash may not be known yet)
    uint32_t start, end, bytes;
  };
  // A chunk is cut: hashed now, placed (found in the index or appended to the open xorb) when its
  // batch is full, so the index is asked once per kLookupBatch chunks instead of once per chunk.
  Status AddChunk();
  Status PlaceBatch();
  Status Seal();
  void AppendTerm(size_t slot, uint32_t index, uint32_t bytes);
  size_t SlotFor(const xet::XetHash& xorb);

  ChunkStore* store_;
  std::string oid_;
  int64_t size_;
  int64_t received_ = 0;
  Sha256 sha_;
  xet::XetChunker chunker_;
  // The cut chunks waiting for their index lookup (at most kLookupBatch, each <= 128 KiB), back to
  // back, followed by the bytes of the chunk being cut (from open_chunk_at_). Reused: no allocation
  // per chunk.
  static constexpr size_t kLookupBatch = 32;
  struct CutChunk {
    xet::XetHash hash;
    size_t offset;  // in batch_bytes_
    uint32_t size;
  };
  std::string batch_bytes_;
  size_t open_chunk_at_ = 0;
  std::vector<CutChunk> batch_;
  xet::MerkleBuilder file_hash_;  // streaming: memory does not grow with the file
  std::unique_ptr<xet::XorbWriter> writer_;
  std::vector<std::optional<xet::XetHash>> slots_;
  std::unordered_map<xet::XetHash, size_t> slot_of_;  // sealed or referenced xorb -> slot
  size_t open_slot_ = 0;
  // Chunks of the open xorb (chunk -> index), so a chunk repeated within it is stored once.
  // Cleared at each seal: sealed chunks are found through the index, so this stays small.
  std::unordered_map<xet::XetHash, uint32_t> open_chunks_;
  std::vector<DraftTerm> terms_;
  bool failed_ = false;
};

class ChunkStore {
 public:
  ChunkStore(BlobStore* blobs, MetadataStore* meta);

  Result<std::unique_ptr<ChunkIngest>> BeginIngest(const std::string& oid, int64_t size);
  Result<int64_t> Size(const std::string& oid);  // NotFound
  // [offset, offset+length) of the file; length < 0: to the end.
  Result<std::unique_ptr<BlobReader>> Open(const std::string& oid, int64_t offset = 0, int64_t length = -1);
  // The same for a list of terms not (yet) recorded as a file (the Xet CAS checks a shard's files).
  Result<std::unique_ptr<BlobReader>> OpenTerms(std::vector<FileTerm> terms, int64_t offset = 0, int64_t length = -1);

  // Multipart uploads: parts are staged as blobs and streamed into an ingest on completion.
  Result<std::unique_ptr<BlobWriter>> NewPartWriter(const std::string& session_id, int64_t part_number);
  Result<int64_t> PartSize(const std::string& session_id, int64_t part_number);
  Status CompleteMultipart(const std::string& session_id, int64_t part_count, const std::string& oid, int64_t size);
  Status DropParts(const std::string& session_id, int64_t part_count);

  // Xorb access (readers, fsck, the Xet CAS).
  static std::string XorbKey(const xet::XetHash& hash);
  Result<std::shared_ptr<const xet::XorbFooter>> LoadFooter(const xet::XetHash& xorb);
  // Decompresses chunks [begin, end) of a xorb, checking each chunk's hash; appends to out.
  // Returns the serialized bytes read from storage.
  Result<int64_t> ReadChunks(const xet::XetHash& xorb, uint32_t begin, uint32_t end, std::string* out);
  // Like ReadChunks, into *run (its previous contents are replaced, its buffers reused). On failure
  // (Corruption for a damaged chunk) *run holds no piece.
  Status DecodeChunks(const xet::XetHash& xorb, uint32_t begin, uint32_t end, DecodedRun* run);
  // Full verification of one stored xorb: parse, decompress, chunk hashes, xorb hash, footer.
  Status VerifyStoredXorb(const xet::XetHash& xorb);

  BlobStore* blobs() { return blobs_; }
  MetadataStore* meta() { return meta_; }
  ChunkStoreCounters& counters() { return counters_; }

 private:
  friend class ChunkIngest;
  static std::string PartKey(const std::string& session_id, int64_t part_number);

  BlobStore* blobs_;
  MetadataStore* meta_;
  ChunkStoreCounters counters_;

  // LRU cache of parsed footers, bounded by bytes.
  std::mutex cache_mu_;
  std::list<xet::XetHash> lru_;  // front = most recent; guarded by cache_mu_
  struct CacheEntry {
    std::shared_ptr<const xet::XorbFooter> footer;
    std::list<xet::XetHash>::iterator pos;
    size_t bytes;
  };
  std::unordered_map<xet::XetHash, CacheEntry> cache_;  // guarded by cache_mu_
  size_t cache_bytes_ = 0;                              // guarded by cache_mu_
  static constexpr size_t kCacheBudget = 64 << 20;
};

}  // namespace modelhub
