#include "storage/cas/chunk_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <thread>
#include <tuple>

#include "common/fs.h"
#include "common/test_random.h"
#include "storage/blob/s3_blob_store.h"
#include "storage/blob/s3_test_server.h"

namespace modelhub {
namespace {

// Run on each blob backend: local disk, and S3BlobStore on a MinIO started for
// the test (skipped, saying why, when MinIO is not installed).
class ChunkStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("chunkstore-" + RandomHex(6));
    if (GetParam() == "s3") {
      std::string why;
      S3TestServer* server = S3TestServer::Shared(&why);
      if (!server && why.rfind("no S3 test server", 0) == 0) GTEST_SKIP() << why;
      ASSERT_NE(server, nullptr) << why;
      ASSERT_TRUE(server->CreateBucket("modelhub-cas-test").ok());
      blobs_ = std::move(OpenS3BlobStore(server->Options("modelhub-cas-test", "cas-" + RandomHex(6)))).value();
    } else {
      blobs_ = std::move(OpenLocalBlobStore((dir_ / "blobs").string())).value();
    }
    meta_ = std::move(OpenSqliteMetadataStore((dir_ / "meta.db").string())).value();
    store_ = std::make_unique<ChunkStore>(blobs_.get(), meta_.get());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Status Put(const std::string& data, size_t piece = 100000) {
    auto in = store_->BeginIngest(Sha256Hex(data), int64_t(data.size()));
    if (!in.ok()) return in.status();
    for (size_t i = 0; i < data.size(); i += piece) {
      MH_RETURN_IF_ERROR((*in)->Write(data.data() + i, std::min(piece, data.size() - i)));
    }
    return (*in)->Finish();
  }

  Result<std::string> Get(const std::string& oid, int64_t off = 0, int64_t len = -1) {
    MH_ASSIGN_OR_RETURN(auto r, store_->Open(oid, off, len));
    std::string out;
    char buf[70000];
    while (true) {
      MH_ASSIGN_OR_RETURN(size_t n, r->Read(buf, sizeof buf));
      if (n == 0) break;
      out.append(buf, n);
    }
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<MetadataStore> meta_;
  std::unique_ptr<ChunkStore> store_;
};

TEST_P(ChunkStoreTest, RoundTripAndRanges) {
  std::string data = RandomData(3 << 20, 1);
  ASSERT_TRUE(Put(data).ok());
  std::string oid = Sha256Hex(data);
  EXPECT_EQ(*store_->Size(oid), int64_t(data.size()));
  auto all = Get(oid);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_TRUE(*all == data);
  for (auto [off, len] : std::vector<std::pair<int64_t, int64_t>>{
           {0, 1}, {1, 100}, {65535, 70000}, {1 << 20, 1 << 20}, {int64_t(data.size()) - 1, 1}, {12345, -1}}) {
    auto part = Get(oid, off, len);
    ASSERT_TRUE(part.ok());
    EXPECT_TRUE(*part == data.substr(size_t(off), len < 0 ? std::string::npos : size_t(len))) << off << "+" << len;
  }
  auto rec = meta_->GetFile(oid);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->xet_hash.size(), 64u);
}

TEST_P(ChunkStoreTest, LongReadsDecodeAhead) {
  // Long reads decode on a helper thread one block ahead; the bytes must be the same.
  std::string data = RandomData(40 << 20, 11);
  ASSERT_TRUE(Put(data, 1 << 20).ok());
  std::string oid = Sha256Hex(data);
  auto all = Get(oid);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_TRUE(*all == data);
  auto part = Get(oid, (5 << 20) + 3, 25 << 20);
  ASSERT_TRUE(part.ok());
  EXPECT_TRUE(*part == data.substr((5 << 20) + 3, 25 << 20));
  // A reader dropped half way stops its helper thread cleanly.
  auto r = store_->Open(oid);
  ASSERT_TRUE(r.ok());
  char buf[4096];
  ASSERT_TRUE((*r)->Read(buf, sizeof buf).ok());
}

TEST_P(ChunkStoreTest, EmptyFileAndMismatches) {
  ASSERT_TRUE(Put("").ok());
  EXPECT_EQ(*Get(Sha256Hex("")), "");
  std::string data = RandomData(200000, 2);
  auto in = std::move(store_->BeginIngest(Sha256Hex("something else"), int64_t(data.size()))).value();
  ASSERT_TRUE(in->Write(data.data(), data.size()).ok());
  EXPECT_EQ(in->Finish().code(), Code::kInvalidArgument);
  EXPECT_TRUE(store_->Size(Sha256Hex("something else")).status().IsNotFound());
  auto in2 = std::move(store_->BeginIngest(Sha256Hex(data), 10)).value();
  EXPECT_EQ(in2->Write(data.data(), data.size()).code(), Code::kTooLarge);
}

TEST_P(ChunkStoreTest, DedupStoresOnlyNewContent) {
  std::string base = RandomData(4 << 20, 3);
  ASSERT_TRUE(Put(base).ok());
  int64_t after_base = store_->counters().new_chunk_bytes.load();
  EXPECT_EQ(after_base, int64_t(base.size()));
  // Insert 1000 bytes near the start: only the chunks around the edit are new.
  std::string edited = base.substr(0, 5000) + RandomData(1000, 4) + base.substr(5000);
  ASSERT_TRUE(Put(edited).ok());
  int64_t added = store_->counters().new_chunk_bytes.load() - after_base;
  EXPECT_LT(added, int64_t(300000)) << "new bytes stored for a 1000-byte insertion";
  EXPECT_TRUE(*Get(Sha256Hex(edited)) == edited);
  // The same content under the same oid again stores nothing new.
  int64_t before = store_->counters().new_chunk_bytes.load();
  ASSERT_TRUE(Put(base, 77777).ok());
  EXPECT_EQ(store_->counters().new_chunk_bytes.load(), before);
}

TEST_P(ChunkStoreTest, RepeatedChunksInsideOneFile) {
  std::string block = RandomData(2 << 20, 5);
  std::string data = block + block + block;
  ASSERT_TRUE(Put(data).ok());
  EXPECT_LT(store_->counters().new_chunk_bytes.load(), int64_t(data.size()) / 2);
  EXPECT_TRUE(*Get(Sha256Hex(data)) == data);
}

TEST_P(ChunkStoreTest, RepeatsAcrossSealedXorbsAreStoredOnce) {
  // 20 MiB blocks: the ingest seals a xorb every 16 MiB, in the middle of the lookup batches, so a
  // repeat is found in the open xorb, in one sealed during the same batch, or through the index.
  std::string block = RandomData(20 << 20, 6);
  std::string data = block + block + block;
  ASSERT_TRUE(Put(data).ok());
  // Only the chunks that straddle a block boundary are new besides the first block.
  EXPECT_LE(store_->counters().new_chunk_bytes.load(), int64_t(block.size()) + (1 << 20));
  EXPECT_TRUE(*Get(Sha256Hex(data)) == data);
}

TEST_P(ChunkStoreTest, CorruptedXorbIsNeverServed) {
  std::string data = RandomData(1 << 20, 6);
  ASSERT_TRUE(Put(data).ok());
  std::vector<std::string> keys;
  ASSERT_TRUE(blobs_->List("xorbs/", [&](const std::string& k, int64_t) { keys.push_back(k); }).ok());
  ASSERT_EQ(keys.size(), 1u);
  {
    // Flip one bit of the stored xorb, through the blob store (any backend).
    auto size = blobs_->Size(keys[0]);
    ASSERT_TRUE(size.ok());
    std::string xorb(size_t(*size), '\0');
    auto r = std::move(blobs_->Open(keys[0])).value();
    for (size_t got = 0; got < xorb.size();) {
      auto n = r->Read(&xorb[got], xorb.size() - got);
      ASSERT_TRUE(n.ok() && *n > 0);
      got += *n;
    }
    xorb[5000] = char(xorb[5000] ^ 0x40);
    auto w = std::move(blobs_->NewWriter(keys[0])).value();
    ASSERT_TRUE(w->Write(xorb.data(), xorb.size()).ok());
    ASSERT_TRUE(w->Commit().ok());
  }
  ChunkStore fresh(blobs_.get(), meta_.get());  // no cached footer
  auto r = fresh.Open(Sha256Hex(data));
  ASSERT_TRUE(r.ok());
  char buf[65536];
  Status failure;
  while (true) {
    auto n = (*r)->Read(buf, sizeof buf);
    if (!n.ok()) {
      failure = n.status();
      break;
    }
    if (*n == 0) break;
  }
  EXPECT_EQ(failure.code(), Code::kCorruption) << failure.ToString();
  auto x = xet::XetHash::FromHex(keys[0].substr(keys[0].rfind('/') + 1));
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(fresh.VerifyStoredXorb(*x).code(), Code::kCorruption);
}

// Runs of random bytes (stored uncompressed) and of 4-letter text (stored LZ4-compressed), so one
// decoded block mixes pieces served from the read buffer and from the decompression buffer.
std::string MixedData(size_t n, uint32_t seed) {
  std::string s = RandomData(n, seed);
  for (size_t i = 0; i < n; ++i) {
    if ((i / (256 << 10)) % 2 == 1) s[i] = char('a' + (uint8_t(s[i]) & 3));
  }
  return s;
}

// Every byte through ReadView, asking for at most `step` bytes each time.
Result<std::string> GetViews(BlobReader& r, size_t step) {
  std::string out;
  while (true) {
    MH_ASSIGN_OR_RETURN(std::string_view v, r.ReadView(step));
    if (v.empty()) break;
    if (v.size() > step) return Status::Internal("view larger than asked for");
    out.append(v);
  }
  return out;
}

TEST_P(ChunkStoreTest, ViewsOfMixedStoredAndCompressedChunks) {
  std::string data = MixedData(36 << 20, 12);
  ASSERT_TRUE(Put(data, 1 << 20).ok());
  std::string oid = Sha256Hex(data);
  EXPECT_LT(store_->counters().xorb_bytes_written.load(), int64_t(data.size()) * 9 / 10) << "nothing compressed";
  for (auto [off, len, step] : std::vector<std::tuple<int64_t, int64_t, size_t>>{
           {0, -1, size_t(1) << 30}, {0, -1, 1000}, {(3 << 20) + 7, 20 << 20, 65536}, {100, 5000, 7}}) {
    auto r = store_->Open(oid, off, len);
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE((*r)->HasViews());
    auto got = GetViews(**r, step);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(*got == data.substr(size_t(off), len < 0 ? std::string::npos : size_t(len))) << off << "+" << len;
    EXPECT_EQ((*r)->remaining(), 0);
  }
  // Read and ReadView mixed on one reader.
  auto r = store_->Open(oid);
  ASSERT_TRUE(r.ok());
  std::string out;
  char buf[3000];
  while (true) {
    auto n = (*r)->Read(buf, sizeof buf);
    ASSERT_TRUE(n.ok());
    out.append(buf, *n);
    auto v = (*r)->ReadView(5000);
    ASSERT_TRUE(v.ok());
    out.append(*v);
    if (*n == 0 && v->empty()) break;
  }
  EXPECT_TRUE(out == data);
}

TEST_P(ChunkStoreTest, LongReadStopsBeforeADamagedChunk) {
  // A long read (decoded ahead on the helper thread) hands out only bytes before the damaged chunk,
  // then fails with Corruption.
  std::string data = RandomData(24 << 20, 13);
  ASSERT_TRUE(Put(data, 1 << 20).ok());
  std::vector<std::string> keys;
  ASSERT_TRUE(blobs_->List("xorbs/", [&](const std::string& k, int64_t) { keys.push_back(k); }).ok());
  ASSERT_EQ(keys.size(), 2u);  // 16 MiB xorbs
  for (const auto& key : keys) {  // flip a bit 3 MiB into each xorb, through the blob store (any backend)
    auto size = blobs_->Size(key);
    ASSERT_TRUE(size.ok());
    std::string xorb(size_t(*size), '\0');
    auto rd = std::move(blobs_->Open(key)).value();
    for (size_t got = 0; got < xorb.size();) {
      auto n = rd->Read(&xorb[got], xorb.size() - got);
      ASSERT_TRUE(n.ok() && *n > 0);
      got += *n;
    }
    xorb[3 << 20] = char(xorb[3 << 20] ^ 0x01);
    auto w = std::move(blobs_->NewWriter(key)).value();
    ASSERT_TRUE(w->Write(xorb.data(), xorb.size()).ok());
    ASSERT_TRUE(w->Commit().ok());
  }
  ChunkStore fresh(blobs_.get(), meta_.get());
  auto r = fresh.Open(Sha256Hex(data));
  ASSERT_TRUE(r.ok());
  std::string served;
  Status failure;
  while (true) {
    auto v = (*r)->ReadView(1 << 20);
    if (!v.ok()) {
      failure = v.status();
      break;
    }
    if (v->empty()) break;
    served.append(*v);
  }
  EXPECT_EQ(failure.code(), Code::kCorruption) << failure.ToString();
  EXPECT_LT(served.size(), size_t(3 << 20));
  EXPECT_TRUE(served == data.substr(0, served.size()));
}

TEST_P(ChunkStoreTest, ConcurrentOverlappingIngests) {
  std::string shared = RandomData(2 << 20, 7);
  std::vector<std::string> files;
  for (int i = 0; i < 4; ++i) files.push_back(RandomData(100000, 100 + i) + shared + RandomData(50000, 200 + i));
  std::vector<Status> results(files.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < files.size(); ++i) threads.emplace_back([&, i] { results[i] = Put(files[i], 65536); });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < files.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].ToString();
    EXPECT_TRUE(*Get(Sha256Hex(files[i])) == files[i]);
  }
}

TEST_P(ChunkStoreTest, Multipart) {
  std::string data = RandomData(3000000, 8);
  for (int p = 1; p <= 3; ++p) {
    auto w = std::move(store_->NewPartWriter("s1", p)).value();
    ASSERT_TRUE(w->Write(data.data() + (p - 1) * 1000000, 1000000).ok());
    ASSERT_TRUE(w->Commit().ok());
  }
  ASSERT_TRUE(store_->CompleteMultipart("s1", 3, Sha256Hex(data), int64_t(data.size())).ok());
  EXPECT_TRUE(*Get(Sha256Hex(data)) == data);
  EXPECT_TRUE(store_->PartSize("s1", 1).status().IsNotFound());
}

INSTANTIATE_TEST_SUITE_P(BlobBackends, ChunkStoreTest, ::testing::Values("local", "s3"),
                         [](const auto& info) { return info.param; });

TEST(FileTerms, RoundTripAndRejects) {
  std::vector<FileTerm> t = {{xet::XetHash(), 0, 3, 1000}, {xet::XetHash(), 5, 9, 77}};
  auto parsed = ParseTerms(SerializeTerms(t));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, t);
  EXPECT_FALSE(ParseTerms(SerializeTerms(t).substr(1)).ok());
  EXPECT_FALSE(ParseTerms(SerializeTerms({{xet::XetHash(), 3, 3, 1}})).ok());
}

}  // namespace
}  // namespace modelhub
