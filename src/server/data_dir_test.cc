// The serve lock of an embedded data folder (server/data_dir.h): one server per folder, admin
// commands beside it.
#include "server/data_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "common/fs.h"

namespace modelhub {
namespace {

class DataDirLockTest : public testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    root_ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/mh_data_dir_test." + RandomHex(6);
  }
  void TearDown() override { (void)RemoveAll(root_); }
  std::string root_;
};

TEST_F(DataDirLockTest, SecondServerIsRefusedWithFolderAndPid) {
  auto first = OpenDataDir(root_, nullptr, DataDirUse::kServe);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE((*first)->serve_lock.valid());
  // flock belongs to the open file, so a second open in this very process conflicts like another process.
  auto second = OpenDataDir(root_, nullptr, DataDirUse::kServe);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kConflict);
  EXPECT_NE(second.status().message().find(root_), std::string::npos) << second.status().message();
  EXPECT_NE(second.status().message().find("pid " + std::to_string(::getpid())), std::string::npos)
      << second.status().message();
  EXPECT_EQ(LockDataDirExclusive(root_).status().code(), Code::kConflict);  // admin migrate, too
  // Admin commands open the folder beside the server.
  auto admin = OpenDataDir(root_);
  ASSERT_TRUE(admin.ok()) << admin.status().ToString();
  EXPECT_FALSE((*admin)->serve_lock.valid());
  // The lock ends with its holder.
  first->reset();
  auto again = OpenDataDir(root_, nullptr, DataDirUse::kServe);
  EXPECT_TRUE(again.ok()) << again.status().ToString();
}

TEST_F(DataDirLockTest, MigrateRefusesAServedFolder) {
  auto served = OpenDataDir(root_, nullptr, DataDirUse::kServe);
  ASSERT_TRUE(served.ok()) << served.status().ToString();
  StorageConfig to{"postgres://127.0.0.1:1/none", ""};
  Status s = MigrateStorage(root_, to, [](const std::string&) {});
  EXPECT_EQ(s.code(), Code::kConflict) << s.ToString();
}

}  // namespace
}  // namespace modelhub
