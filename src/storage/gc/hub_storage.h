// HubStorage: the handles GC, fsck and stats work on — the stores of one data
// folder and where its repositories and lock file live. Borrowed, not owned.
#pragma once

#include <cstdint>
#include <string>

#include "common/time_util.h"
#include "storage/cas/chunk_store.h"
#include "storage/meta/metadata_store.h"

namespace modelhub {

struct HubStorage {
  MetadataStore* meta = nullptr;
  ChunkStore* chunks = nullptr;  // its blobs() hold the xorbs and staged upload parts
  std::string repos_dir;         // bare repositories <repos_dir>/<id>.git
  std::string data_dir;          // holds gc.lock (storage/gc/gc_lock.h)
};

// Rate limit for the human-readable progress lines of gc, fsck and stats: Due() at most every 2 s.
class ProgressThrottle {
 public:
  bool Due() {
    int64_t now = NowMs();
    if (now - last_ < 2000) return false;
    last_ = now;
    return true;
  }

 private:
  int64_t last_ = 0;
};

}  // namespace modelhub
