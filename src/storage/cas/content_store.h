// ContentStore: large files (LFS objects) stored by their SHA-256 on a
// BlobStore. Every byte that enters is hashed while it streams; an object
// becomes visible only after its size and SHA-256 matched the claim, so a
// stored object is always exactly the content its name says.
//
// This is the hub-core storage (one blob per object). The chunk-store issue
// replaces what sits behind this interface with content-defined chunks in xorbs.
//
// Thread-safety: all methods may be called concurrently; concurrent ingests of
// the same oid are safe (the last commit wins with identical bytes).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "crypto/sha256.h"
#include "storage/blob/blob_store.h"

namespace modelhub {

bool IsSha256Hex(const std::string& s);  // 64 lowercase hex chars

class ContentIngest {
 public:
  ContentIngest(std::string oid, int64_t size, std::unique_ptr<BlobWriter> writer);
  // TooLarge if more bytes arrive than the claimed size.
  Status Write(const char* data, size_t n);
  // Checks size and SHA-256 (InvalidArgument on mismatch, nothing stored), then commits durably.
  Status Finish();
  int64_t received() const { return received_; }

 private:
  std::string oid_;
  int64_t size_;
  int64_t received_ = 0;
  std::unique_ptr<BlobWriter> writer_;
  Sha256 hash_;
};

class ContentStore {
 public:
  explicit ContentStore(BlobStore* blobs) : blobs_(blobs) {}

  Result<std::unique_ptr<ContentIngest>> BeginIngest(const std::string& oid, int64_t size);
  Result<int64_t> Size(const std::string& oid);  // NotFound
  Result<std::unique_ptr<BlobReader>> Open(const std::string& oid, int64_t offset = 0, int64_t length = -1);

  // Multipart uploads: parts are staged as blobs and joined (re-hashed) on completion.
  Result<std::unique_ptr<BlobWriter>> NewPartWriter(const std::string& session_id, int64_t part_number);
  Result<int64_t> PartSize(const std::string& session_id, int64_t part_number);
  // Streams parts 1..part_count into the object (oid, size), verifying it; removes the parts on success.
  Status CompleteMultipart(const std::string& session_id, int64_t part_count, const std::string& oid, int64_t size);
  Status DropParts(const std::string& session_id, int64_t part_count);

  static std::string KeyFor(const std::string& oid);

 private:
  static std::string PartKey(const std::string& session_id, int64_t part_number);
  BlobStore* blobs_;
};

}  // namespace modelhub
