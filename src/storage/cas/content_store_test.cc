#include "storage/cas/content_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/fs.h"

namespace modelhub {
namespace {

class ContentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("cstest-" + RandomHex(6));
    blobs_ = std::move(OpenLocalBlobStore(dir_.string())).value();
    store_ = std::make_unique<ContentStore>(blobs_.get());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<ContentStore> store_;
};

TEST_F(ContentStoreTest, IngestVerifiesHashAndSize) {
  std::string data = "some large content";
  std::string oid = Sha256Hex(data);
  {
    auto in = std::move(store_->BeginIngest(oid, int64_t(data.size()))).value();
    ASSERT_TRUE(in->Write(data.data(), 4).ok());
    ASSERT_TRUE(in->Write(data.data() + 4, data.size() - 4).ok());
    ASSERT_TRUE(in->Finish().ok());
  }
  EXPECT_EQ(*store_->Size(oid), int64_t(data.size()));

  std::string other = "other content!!!!!!";
  auto in = std::move(store_->BeginIngest(Sha256Hex("not it"), int64_t(other.size()))).value();
  ASSERT_TRUE(in->Write(other.data(), other.size()).ok());
  Status s = in->Finish();
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_TRUE(store_->Size(Sha256Hex("not it")).status().IsNotFound());
}

TEST_F(ContentStoreTest, RejectsOversizeAndShort) {
  std::string data = "abc";
  auto in = std::move(store_->BeginIngest(Sha256Hex(data), 2)).value();
  EXPECT_EQ(in->Write(data.data(), 3).code(), Code::kTooLarge);
  auto in2 = std::move(store_->BeginIngest(Sha256Hex(data), 5)).value();
  ASSERT_TRUE(in2->Write(data.data(), 3).ok());
  EXPECT_EQ(in2->Finish().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->BeginIngest("XYZ", 1).status().code(), Code::kInvalidArgument);
}

TEST_F(ContentStoreTest, Multipart) {
  std::string data(3000, 'q');
  for (size_t i = 0; i < data.size(); ++i) data[i] = char(i % 251);
  std::string oid = Sha256Hex(data);
  for (int p = 1; p <= 3; ++p) {
    auto w = std::move(store_->NewPartWriter("sess1", p)).value();
    ASSERT_TRUE(w->Write(data.data() + (p - 1) * 1000, 1000).ok());
    ASSERT_TRUE(w->Commit().ok());
  }
  EXPECT_EQ(*store_->PartSize("sess1", 2), 1000);
  ASSERT_TRUE(store_->CompleteMultipart("sess1", 3, oid, 3000).ok());
  EXPECT_EQ(*store_->Size(oid), 3000);
  EXPECT_TRUE(store_->PartSize("sess1", 1).status().IsNotFound());
  EXPECT_EQ(store_->CompleteMultipart("sess2", 1, oid, 3000).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace modelhub
