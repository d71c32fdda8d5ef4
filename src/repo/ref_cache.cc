#include "repo/ref_cache.h"

namespace modelhub {

RefCache& RefCache::Shared() {
  static RefCache cache;
  return cache;
}

RefCache::Hit RefCache::Lookup(const std::string& repo, const std::string& rev) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = repos_.find(repo);
  if (it == repos_.end()) {
    if (repos_.size() >= kMaxRepos) repos_.clear();  // outstanding generations become stale
    it = repos_.emplace(repo, Entry{next_generation_++, {}}).first;
  }
  Hit hit;
  hit.generation = it->second.generation;
  auto r = it->second.revs.find(rev);
  if (r != it->second.revs.end()) hit.commit = r->second;
  return hit;
}

void RefCache::Put(const std::string& repo, uint64_t generation, const std::string& rev, const std::string& commit) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = repos_.find(repo);
  if (it == repos_.end() || it->second.generation != generation) return;
  if (it->second.revs.size() >= kMaxRevs) it->second.revs.clear();
  it->second.revs[rev] = commit;
}

void RefCache::Invalidate(const std::string& repo) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = repos_.find(repo);
  if (it == repos_.end()) return;
  it->second.generation = next_generation_++;
  it->second.revs.clear();
}

}  // namespace modelhub
