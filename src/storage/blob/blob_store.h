// BlobStore: a flat namespace of immutable byte objects named by keys
// ("lfs/ab/cd/<sha256>", "tmp/<id>/part-3"). The large-content layer
// (storage/cas) is built on it; backends are chosen by URL in server/
// (OpenBlobStore: a folder -> LocalBlobStore, "s3://" -> S3BlobStore;
// docs/storage-backends.md).
//
// Thread-safety: every method may be called concurrently. A key becomes visible
// only when its writer's Commit() returns OK (atomic: readers never see a
// partial object) and the bytes are durable by then (fsync / S3 ack).
// Keys: [A-Za-z0-9._/-], no "..", no leading '/'; InvalidArgument otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace modelhub {

class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  virtual Status Write(const char* data, size_t n) = 0;
  // Makes the object visible under its key, durably. Replaces an existing object.
  virtual Status Commit() = 0;
  // Discards what was written. Also done by the destructor if not committed.
  virtual void Abort() = 0;
  virtual int64_t bytes_written() const = 0;
};

class BlobReader {
 public:
  virtual ~BlobReader() = default;
  // Reads up to n bytes; 0 at the end of the requested range.
  virtual Result<size_t> Read(char* buf, size_t n) = 0;
  // For zero-copy serving: a file descriptor and the current offset, if the
  // backend is a local file (nullopt otherwise). Reading through the fd is the
  // caller's job then; Read() must not be mixed with it.
  virtual std::optional<std::pair<int, int64_t>> FileRange() const { return std::nullopt; }
  // Zero-copy reads, for readers that hold the bytes in buffers of their own (HasViews()): a view of
  // at most n of the next bytes, valid until the next call on this reader; empty at the end.
  // Read() and ReadView() may be mixed. Readers without views fail ReadView with Internal.
  virtual bool HasViews() const { return false; }
  virtual Result<std::string_view> ReadView(size_t n);
  virtual int64_t remaining() const = 0;
};

// Writes begun and never committed nor aborted (their process was killed, or the
// S3 server died before the abort reached it), as CleanStaleUploads found them.
struct StaleUploadStats {
  int64_t found = 0;    // older than the cutoff
  int64_t removed = 0;  // of them, discarded now (0 in a dry run)
  int64_t failed = 0;   // of them, could not be discarded (the next run retries)
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  virtual Result<std::unique_ptr<BlobWriter>> NewWriter(const std::string& key) = 0;
  // Opens [offset, offset+length) of key; length < 0 means to the end. NotFound.
  virtual Result<std::unique_ptr<BlobReader>> Open(const std::string& key, int64_t offset = 0,
                                                   int64_t length = -1) = 0;
  virtual Result<int64_t> Size(const std::string& key) = 0;  // NotFound
  virtual Status Delete(const std::string& key) = 0;          // OK if missing
  // Calls fn for every key starting with prefix (unordered).
  virtual Status List(const std::string& prefix, const std::function<void(const std::string& key, int64_t size)>& fn) = 0;
  // Discards the leftovers of writers begun more than older_than ago that were
  // never committed nor aborted: staged files (local), incomplete multipart
  // uploads under the store's prefix (S3). They are invisible to readers but
  // take space. A writer still running for longer than older_than loses its
  // upload (its Commit fails), so older_than must exceed the longest write.
  // dry_run: only counts. Fails only if the leftovers cannot be listed; one
  // that cannot be discarded is counted in failed. Default: nothing to clean.
  virtual Result<StaleUploadStats> CleanStaleUploads(std::chrono::seconds older_than, bool dry_run) {
    (void)older_than;
    (void)dry_run;
    return StaleUploadStats{};
  }
};

bool IsValidBlobKey(const std::string& key);

// Local filesystem backend rooted at dir. Objects are files dir/<key>; writers
// stage in dir/.tmp and rename into place after fsync. Opening removes staged
// files untouched for 24 h (CleanStaleUploads: a crashed process's writes).
Result<std::unique_ptr<BlobStore>> OpenLocalBlobStore(const std::string& dir);

// Chooses the backend by URL: "s3://bucket[/prefix][?settings]" -> S3BlobStore
// (s3_blob_store.h: ParseS3Url), "file://DIR" or a plain path -> LocalBlobStore.
// InvalidArgument for another scheme.
Result<std::unique_ptr<BlobStore>> OpenBlobStore(const std::string& url);

}  // namespace modelhub
