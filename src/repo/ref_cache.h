// RefCache: revision name ("main", "v1.0", "refs/pr/1", "HEAD") -> commit id, per
// repository, so that resolving the same branch on every request does not read
// ref files (an open, a read and a stat per lookup, ~a quarter of a HEAD /resolve).
//
// Contract: whoever moves, creates or deletes a ref of a repository (or its
// HEAD) calls Invalidate(repo) after the change is on disk and before the change
// is acknowledged to anyone. GitRepo's own ref writes do this; a process that
// lets another program write refs (git receive-pack) must call it when that
// program has exited. Writers in other processes are not seen: only use this
// where every writer of the repositories is in this process.
//
// A lookup that raced with an update never stores a stale answer: Lookup hands
// out the repository's generation, Put stores only if no Invalidate (and no
// eviction) happened since. Generations are never reused.
//
// Bounded: at most kMaxRepos repositories and kMaxRevs revisions per repository
// (cleared when full; entries are cheap to recompute). Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace modelhub {

class RefCache {
 public:
  static constexpr size_t kMaxRepos = 4096;
  static constexpr size_t kMaxRevs = 256;

  // The cache GitRepo uses (keyed by repository directory).
  static RefCache& Shared();

  struct Hit {
    std::optional<std::string> commit;  // cached value (20 raw bytes as the caller stored them)
    uint64_t generation = 0;            // pass to Put after resolving a miss
  };
  Hit Lookup(const std::string& repo, const std::string& rev);
  // Stores rev -> commit unless repo changed (or was evicted) since Lookup returned generation.
  void Put(const std::string& repo, uint64_t generation, const std::string& rev, const std::string& commit);
  // Forgets every revision of repo; in-flight lookups will not store.
  void Invalidate(const std::string& repo);

 private:
  struct Entry {
    uint64_t generation = 0;
    std::unordered_map<std::string, std::string> revs;
  };
  std::mutex mu_;
  std::unordered_map<std::string, Entry> repos_;  // guarded by mu_
  uint64_t next_generation_ = 1;                   // guarded by mu_
};

}  // namespace modelhub
