#include "repo/stale_locks.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "common/fs.h"

namespace modelhub {
namespace {

namespace fs = std::filesystem;

class StaleLocksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr ? tmp : "/tmp") + "/stale_locks_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ + "/refs/heads/feature");
    fs::create_directories(dir_ + "/refs/tags");
  }
  void TearDown() override { (void)RemoveAll(dir_); }

  void Touch(const std::string& name, int64_t age_s) {
    std::ofstream(dir_ + "/" + name) << "x\n";
    fs::last_write_time(dir_ + "/" + name, fs::file_time_type::clock::now() - std::chrono::seconds(age_s));
  }

  std::string dir_;
};

TEST_F(StaleLocksTest, FindsOnlyOldLockFiles) {
  Touch("refs/heads/main.lock", 3600);
  Touch("refs/heads/feature/x.lock", 3600);
  Touch("packed-refs.lock", 3600);
  Touch("refs/tags/v1.lock", 5);     // young: a live writer
  Touch("refs/heads/main", 3600);    // not a lock
  Touch("objects.lock.txt", 3600);   // not a lock
  auto found = FindStaleLocks(dir_, 600);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_EQ(found->size(), 3u);
  EXPECT_EQ((*found)[0].name, "packed-refs.lock");
  EXPECT_EQ((*found)[1].name, "refs/heads/feature/x.lock");
  EXPECT_EQ((*found)[2].name, "refs/heads/main.lock");
  EXPECT_GE((*found)[2].age_s, 3599);
  EXPECT_EQ(FindStaleLocks(dir_ + "/missing", 600).status().code(), Code::kNotFound);
}

TEST_F(StaleLocksTest, RecoverRemovesStaleAndKeepsLive) {
  Touch("refs/heads/main.lock", StaleLockAgeS() + 10);
  Touch("refs/tags/v1.lock", 1);
  auto removed = RecoverStaleLocks(dir_);
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, 1);
  EXPECT_FALSE(fs::exists(dir_ + "/refs/heads/main.lock"));
  EXPECT_TRUE(fs::exists(dir_ + "/refs/tags/v1.lock"));
  // Nothing left aside.
  for (const auto& e : fs::directory_iterator(dir_)) {
    EXPECT_EQ(e.path().filename().string().rfind("stale-lock-", 0), std::string::npos) << e.path();
  }
  EXPECT_EQ(*RecoverStaleLocks(dir_), 0);
}

}  // namespace
}  // namespace modelhub
