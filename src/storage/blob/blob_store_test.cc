#include "storage/blob/blob_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "common/fs.h"

namespace modelhub {
namespace {

class LocalBlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("blobtest-" + RandomHex(6));
    auto r = OpenLocalBlobStore(dir_.string());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    store_ = std::move(r).value();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string ReadAllOf(const std::string& key, int64_t off = 0, int64_t len = -1) {
    auto r = store_->Open(key, off, len);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::string out;
    char buf[7];
    while (true) {
      auto n = (*r)->Read(buf, sizeof buf);
      EXPECT_TRUE(n.ok());
      if (*n == 0) break;
      out.append(buf, *n);
    }
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<BlobStore> store_;
};

TEST_F(LocalBlobStoreTest, WriteCommitRead) {
  auto w = store_->NewWriter("lfs/ab/cd/obj");
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write("hello ", 6).ok());
  EXPECT_TRUE(store_->Size("lfs/ab/cd/obj").status().IsNotFound());  // invisible before commit
  ASSERT_TRUE((*w)->Write("world", 5).ok());
  ASSERT_TRUE((*w)->Commit().ok());
  EXPECT_EQ(*store_->Size("lfs/ab/cd/obj"), 11);
  EXPECT_EQ(ReadAllOf("lfs/ab/cd/obj"), "hello world");
  EXPECT_EQ(ReadAllOf("lfs/ab/cd/obj", 6), "world");
  EXPECT_EQ(ReadAllOf("lfs/ab/cd/obj", 2, 3), "llo");
  EXPECT_EQ(ReadAllOf("lfs/ab/cd/obj", 11), "");
}

TEST_F(LocalBlobStoreTest, AbortLeavesNothing) {
  {
    auto w = store_->NewWriter("x/y");
    ASSERT_TRUE((*w)->Write("abc", 3).ok());
  }  // destroyed without commit
  EXPECT_TRUE(store_->Size("x/y").status().IsNotFound());
  int n = 0;
  ASSERT_TRUE(store_->List("", [&](const std::string&, int64_t) { ++n; }).ok());
  EXPECT_EQ(n, 0);
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / ".tmp"));
}

TEST_F(LocalBlobStoreTest, ListDeleteAndMissing) {
  for (std::string k : {"a/1", "a/2", "b/1"}) {
    auto w = store_->NewWriter(k);
    ASSERT_TRUE((*w)->Write(k.data(), k.size()).ok());
    ASSERT_TRUE((*w)->Commit().ok());
  }
  std::map<std::string, int64_t> seen;
  ASSERT_TRUE(store_->List("a/", [&](const std::string& k, int64_t s) { seen[k] = s; }).ok());
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen["a/1"], 3);
  ASSERT_TRUE(store_->Delete("a/1").ok());
  ASSERT_TRUE(store_->Delete("a/1").ok());  // idempotent
  EXPECT_TRUE(store_->Open("a/1").status().IsNotFound());
}

TEST_F(LocalBlobStoreTest, RejectsBadKeys) {
  for (std::string k : {"", "/abs", "a/../b", "a//b", "a b", ".tmp/x", "dir/"}) {
    EXPECT_EQ(store_->NewWriter(k).status().code(), Code::kInvalidArgument) << k;
  }
}

}  // namespace
}  // namespace modelhub
