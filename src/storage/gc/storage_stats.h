// Storage accounting: logical bytes (what the repositories' LFS files add up
// to) against stored bytes (what the chunk store keeps after dedup and
// compression). Definitions: docs/gc-fsck.md, "stats".
//
// Thread-safety: a ChunkFootprint is used by one thread; the functions may run
// concurrently with the server (they only read).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "repo/path_rules.h"
#include "storage/cas/chunk_store.h"
#include "storage/gc/hub_storage.h"

namespace modelhub {

// The stored bytes a set of files occupies: the serialized chunk records (8-byte header plus
// compressed payload, footers excluded) of every distinct (xorb, chunk) their terms reference,
// each counted once however many files or terms use it. Chunk sizes come from the xorbs'
// footers (ChunkStore::LoadFooter, cached).
class ChunkFootprint {
 public:
  explicit ChunkFootprint(ChunkStore* chunks) : chunks_(chunks) {}
  // NotFound if the file is not recorded; Corruption for terms that do not parse or do not fit
  // their xorb. Nothing is counted for a file that fails.
  Status AddFile(const std::string& oid);
  Status AddTerms(const std::vector<FileTerm>& terms);
  int64_t bytes() const { return bytes_; }
  int64_t chunks() const { return chunks_counted_; }

 private:
  ChunkStore* chunks_;
  std::unordered_map<xet::XetHash, std::vector<bool>> seen_;  // xorb -> chunk counted
  int64_t bytes_ = 0;
  int64_t chunks_counted_ = 0;
};

// Storage of one revision (the repo info API): distinct LFS files of its tree.
struct RevisionStorage {
  int64_t lfs_files = 0;
  int64_t logical_bytes = 0;  // sum of the sizes of distinct LFS files
  int64_t stored_bytes = 0;   // their ChunkFootprint
  int64_t missing_files = 0;  // files not recorded or unreadable (not counted in stored_bytes)
};
Result<RevisionStorage> ComputeRevisionStorage(ChunkStore* chunks, const std::vector<LfsPointer>& pointers);

struct RepoStorageStats {
  RepoRecord repo;
  int64_t lfs_files = 0;            // distinct LFS files reachable from its refs
  int64_t logical_bytes = 0;        // their sizes
  int64_t unique_stored_bytes = 0;  // their ChunkFootprint (chunks shared with other repos included)
  int64_t missing_files = 0;
  std::string error;                // why the walk of its history stopped early ("" = it did not)
};

struct HubStorageStats {
  int64_t repos = 0;
  int64_t lfs_files = 0;                // distinct LFS files reachable from any ref of any repo
  int64_t logical_bytes = 0;            // their sizes, each file once
  int64_t logical_bytes_per_repo = 0;   // sum over repos of RepoStorageStats::logical_bytes
  int64_t recorded_files = 0;           // rows in the files table (reachable or not)
  int64_t xorbs = 0;
  int64_t stored_bytes = 0;             // sum of xorb stored_bytes (everything kept, garbage included)
  int64_t raw_bytes = 0;                // sum of xorb raw_bytes (distinct chunks, uncompressed)
  int64_t missing_files = 0;            // reachable files not recorded or unreadable (fsck tells which)
  double dedup_ratio() const { return stored_bytes > 0 ? double(logical_bytes) / double(stored_bytes) : 0.0; }
  std::vector<RepoStorageStats> per_repo;  // by repo id
};

// progress(message) is called now and then during long runs.
Result<HubStorageStats> ComputeHubStorageStats(const HubStorage& hub,
                                               const std::function<void(const std::string&)>& progress = {});
std::string FormatStatsText(const HubStorageStats& s);
std::string FormatStatsJson(const HubStorageStats& s);
// "1.5 GiB" etc.
std::string HumanBytes(int64_t n);

}  // namespace modelhub
