#include "repo/ref_cache.h"

#include <gtest/gtest.h>

#include <string>

namespace modelhub {
namespace {

TEST(RefCache, StoresAndInvalidates) {
  RefCache cache;
  auto miss = cache.Lookup("r1", "main");
  EXPECT_FALSE(miss.commit);
  cache.Put("r1", miss.generation, "main", "c1");
  auto hit = cache.Lookup("r1", "main");
  ASSERT_TRUE(hit.commit);
  EXPECT_EQ(*hit.commit, "c1");
  EXPECT_FALSE(cache.Lookup("r2", "main").commit);  // per repository
  cache.Invalidate("r1");
  EXPECT_FALSE(cache.Lookup("r1", "main").commit);
  cache.Invalidate("never-seen");  // no entry: nothing to do
}

TEST(RefCache, ALookupThatRacedWithAnUpdateDoesNotStore) {
  RefCache cache;
  auto before = cache.Lookup("r", "main");  // resolving starts...
  cache.Invalidate("r");                     // ...the ref moves meanwhile...
  cache.Put("r", before.generation, "main", "old");  // ...the old answer is not kept
  EXPECT_FALSE(cache.Lookup("r", "main").commit);
  auto after = cache.Lookup("r", "main");
  EXPECT_NE(after.generation, before.generation);
  cache.Put("r", after.generation, "main", "new");
  EXPECT_EQ(*cache.Lookup("r", "main").commit, "new");
}

TEST(RefCache, EvictionNeverRevivesAnOldGeneration) {
  RefCache cache;
  auto ticket = cache.Lookup("r", "main");
  // Fill the cache past its repository bound: everything (r included) is dropped, r is re-created.
  for (size_t i = 0; i < RefCache::kMaxRepos + 1; ++i) (void)cache.Lookup("other" + std::to_string(i), "main");
  EXPECT_FALSE(cache.Lookup("r", "main").commit);
  cache.Put("r", ticket.generation, "main", "stale");
  EXPECT_FALSE(cache.Lookup("r", "main").commit);
}

TEST(RefCache, RevisionsPerRepositoryAreBounded) {
  RefCache cache;
  for (size_t i = 0; i < RefCache::kMaxRevs + 10; ++i) {
    std::string rev = "b" + std::to_string(i);
    auto t = cache.Lookup("r", rev);
    cache.Put("r", t.generation, rev, "c");
  }
  size_t kept = 0;
  for (size_t i = 0; i < RefCache::kMaxRevs + 10; ++i) kept += cache.Lookup("r", "b" + std::to_string(i)).commit ? 1 : 0;
  EXPECT_GT(kept, 0u);
  EXPECT_LE(kept, RefCache::kMaxRevs);
}

}  // namespace
}  // namespace modelhub
