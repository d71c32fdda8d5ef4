// BlobStore conformance suite, run against every backend (LocalBlobStore,
// S3BlobStore path-style and virtual-host on a real MinIO), then tests of what
// only one backend has: the local staging folder, S3 retries, resumption and
// server faults. The S3 cases skip, saying why, when MinIO is not installed
// (scripts/install-minio.sh).
#include "storage/blob/blob_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "common/fs.h"
#include "crypto/sha256.h"
#include "storage/blob/s3_blob_store.h"
#include "storage/blob/s3_test_server.h"

namespace modelhub {
namespace {

constexpr const char* kBucket = "modelhub-test";

std::string RandomData(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, std::min<size_t>(8, n - i));
  }
  return s;
}

std::string ReadAll(BlobStore* store, const std::string& key, int64_t off = 0, int64_t len = -1,
                    size_t chunk = 7) {
  auto r = store->Open(key, off, len);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return "<open failed>";
  std::string out;
  std::vector<char> buf(chunk);
  while (true) {
    auto n = (*r)->Read(buf.data(), buf.size());
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    if (!n.ok() || *n == 0) break;
    out.append(buf.data(), *n);
  }
  EXPECT_EQ((*r)->remaining(), 0);
  return out;
}

Status Put(BlobStore* store, const std::string& key, const std::string& data, size_t write_size = 1 << 20) {
  MH_ASSIGN_OR_RETURN(auto w, store->NewWriter(key));
  for (size_t i = 0; i < data.size(); i += write_size) {
    MH_RETURN_IF_ERROR(w->Write(data.data() + i, std::min(write_size, data.size() - i)));
  }
  return w->Commit();
}

std::map<std::string, int64_t> ListAll(BlobStore* store, const std::string& prefix) {
  std::map<std::string, int64_t> seen;
  Status s = store->List(prefix, [&](const std::string& k, int64_t size) { seen[k] = size; });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return seen;
}

// ---- the conformance suite ---------------------------------------------------------------------

class BlobStoreConformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "local") {
      dir_ = std::filesystem::temp_directory_path() / ("blobtest-" + RandomHex(6));
      auto r = OpenLocalBlobStore(dir_.string());
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      store_ = std::move(r).value();
      return;
    }
    std::string why;
    S3TestServer* server = S3TestServer::Shared(&why);
    if (!server && why.rfind("no S3 test server", 0) == 0) GTEST_SKIP() << why;
    ASSERT_NE(server, nullptr) << why;
    ASSERT_TRUE(server->CreateBucket(kBucket).ok());
    // A fresh prefix per test; two keys per listing page so every List paginates.
    S3Options o = server->Options(kBucket, "conf-" + RandomHex(6), /*vhost=*/GetParam() == "s3-vhost");
    o.list_page_size = 2;
    auto r = OpenS3BlobStore(o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    store_ = std::move(r).value();
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  std::unique_ptr<BlobStore> store_;
};

TEST_P(BlobStoreConformance, WriteCommitRead) {
  auto w = store_->NewWriter("lfs/ab/cd/obj");
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write("hello ", 6).ok());
  EXPECT_TRUE(store_->Size("lfs/ab/cd/obj").status().IsNotFound());  // invisible before commit
  ASSERT_TRUE((*w)->Write("world", 5).ok());
  EXPECT_EQ((*w)->bytes_written(), 11);
  ASSERT_TRUE((*w)->Commit().ok());
  EXPECT_FALSE((*w)->Write("x", 1).ok());  // a committed writer takes no more
  EXPECT_EQ(*store_->Size("lfs/ab/cd/obj"), 11);
  EXPECT_EQ(ReadAll(store_.get(), "lfs/ab/cd/obj"), "hello world");
  EXPECT_EQ(ReadAll(store_.get(), "lfs/ab/cd/obj", 6), "world");
  EXPECT_EQ(ReadAll(store_.get(), "lfs/ab/cd/obj", 2, 3), "llo");
  EXPECT_EQ(ReadAll(store_.get(), "lfs/ab/cd/obj", 6, 100), "world");  // clipped at the end
  EXPECT_EQ(ReadAll(store_.get(), "lfs/ab/cd/obj", 11), "");
  EXPECT_EQ(ReadAll(store_.get(), "lfs/ab/cd/obj", 3, 0), "");
}

TEST_P(BlobStoreConformance, OpenBoundsAndMissing) {
  ASSERT_TRUE(Put(store_.get(), "k", "0123456789").ok());
  auto r = store_->Open("k", 4, 3);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->remaining(), 3);
  EXPECT_EQ(store_->Open("k", 11).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->Open("k", 11, 1).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->Open("k", -1).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(store_->Open("missing").status().IsNotFound());
  EXPECT_TRUE(store_->Open("missing", 5, 2).status().IsNotFound());
  EXPECT_TRUE(store_->Size("missing").status().IsNotFound());
}

TEST_P(BlobStoreConformance, EmptyObject) {
  ASSERT_TRUE(Put(store_.get(), "empty", "").ok());
  EXPECT_EQ(*store_->Size("empty"), 0);
  EXPECT_EQ(ReadAll(store_.get(), "empty"), "");
  EXPECT_EQ(ListAll(store_.get(), "").count("empty"), 1u);
}

TEST_P(BlobStoreConformance, AbortLeavesNothing) {
  {
    auto w = store_->NewWriter("x/y");
    ASSERT_TRUE((*w)->Write("abc", 3).ok());
  }  // destroyed without commit
  {
    auto w = store_->NewWriter("x/z");
    ASSERT_TRUE((*w)->Write("abc", 3).ok());
    (*w)->Abort();
    EXPECT_FALSE((*w)->Commit().ok());
  }
  EXPECT_TRUE(store_->Size("x/y").status().IsNotFound());
  EXPECT_TRUE(store_->Size("x/z").status().IsNotFound());
  EXPECT_TRUE(ListAll(store_.get(), "").empty());
}

TEST_P(BlobStoreConformance, ListDeleteAndMissing) {
  for (std::string k : {"a/1", "a/2", "a/3", "a/4", "a/5", "ab/1", "b/1"}) ASSERT_TRUE(Put(store_.get(), k, k).ok());
  auto seen = ListAll(store_.get(), "a/");
  EXPECT_EQ(seen.size(), 5u);  // more than one page on S3
  EXPECT_EQ(seen["a/1"], 3);
  EXPECT_EQ(ListAll(store_.get(), "a").size(), 6u);
  EXPECT_EQ(ListAll(store_.get(), "").size(), 7u);
  EXPECT_TRUE(ListAll(store_.get(), "c/").empty());
  ASSERT_TRUE(store_->Delete("a/1").ok());
  ASSERT_TRUE(store_->Delete("a/1").ok());  // idempotent
  EXPECT_TRUE(store_->Open("a/1").status().IsNotFound());
  EXPECT_EQ(ListAll(store_.get(), "a/").size(), 4u);
}

TEST_P(BlobStoreConformance, CommitReplaces) {
  ASSERT_TRUE(Put(store_.get(), "r", "first version").ok());
  ASSERT_TRUE(Put(store_.get(), "r", "second").ok());
  EXPECT_EQ(ReadAll(store_.get(), "r"), "second");
  EXPECT_EQ(*store_->Size("r"), 6);
}

TEST_P(BlobStoreConformance, LargeObjectRoundTripAndRanges) {
  // More than two S3 parts (5 MiB in these tests) and a tail, written in odd sizes.
  const std::string data = RandomData((11 << 20) + 12345, 42);
  ASSERT_TRUE(Put(store_.get(), "big/obj", data, 777777).ok());
  EXPECT_EQ(*store_->Size("big/obj"), int64_t(data.size()));
  EXPECT_EQ(Sha256Hex(ReadAll(store_.get(), "big/obj", 0, -1, 1 << 20)), Sha256Hex(data));
  // Ranges across the part boundaries.
  for (auto [off, len] : std::vector<std::pair<int64_t, int64_t>>{
           {(5 << 20) - 10, 20}, {(10 << 20) - 1, 2}, {int64_t(data.size()) - 5, 5}, {123, 6 << 20}}) {
    EXPECT_EQ(ReadAll(store_.get(), "big/obj", off, len, 65536), data.substr(size_t(off), size_t(len)))
        << off << "+" << len;
  }
}

TEST_P(BlobStoreConformance, ConcurrentWritersAndReaders) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) {
        std::string key = "c/" + std::to_string(t) + "-" + std::to_string(i);
        std::string data = RandomData(size_t(1000 * (t + 1) + i), uint64_t(t * 10 + i));
        if (!Put(store_.get(), key, data).ok()) ++failures;
        auto r = store_->Open(key);
        if (!r.ok()) {
          ++failures;
          continue;
        }
        std::string back(data.size(), '\0');
        size_t got = 0;
        while (got < back.size()) {
          auto n = (*r)->Read(&back[got], back.size() - got);
          if (!n.ok() || *n == 0) break;
          got += *n;
        }
        if (back != data) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(ListAll(store_.get(), "c/").size(), 12u);
}

TEST_P(BlobStoreConformance, RejectsBadKeys) {
  for (std::string k : {"", "/abs", "a/../b", "a//b", "a b", ".tmp/x", "dir/"}) {
    EXPECT_EQ(store_->NewWriter(k).status().code(), Code::kInvalidArgument) << k;
    EXPECT_EQ(store_->Open(k).status().code(), Code::kInvalidArgument) << k;
    EXPECT_EQ(store_->Size(k).status().code(), Code::kInvalidArgument) << k;
    EXPECT_EQ(store_->Delete(k).code(), Code::kInvalidArgument) << k;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, BlobStoreConformance, ::testing::Values("local", "s3", "s3-vhost"),
                         [](const auto& info) { return info.param == "s3-vhost" ? std::string("s3_vhost") : info.param; });

// ---- LocalBlobStore only -------------------------------------------------------------------------

TEST(LocalBlobStore, AbortCleansStagingAndReadsServeFiles) {
  auto dir = std::filesystem::temp_directory_path() / ("blobtest-" + RandomHex(6));
  auto store = std::move(OpenLocalBlobStore(dir.string())).value();
  {
    auto w = store->NewWriter("x/y");
    ASSERT_TRUE((*w)->Write("abc", 3).ok());
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir / ".tmp"));
  ASSERT_TRUE(Put(store.get(), "f", "abcdef").ok());
  auto r = store->Open("f", 2);
  ASSERT_TRUE(r.ok());
  auto fr = (*r)->FileRange();
  ASSERT_TRUE(fr.has_value());
  EXPECT_EQ(fr->second, 2);
  std::filesystem::remove_all(dir);
}

TEST(OpenBlobStore, ChoosesBackendByUrl) {
  auto dir = std::filesystem::temp_directory_path() / ("blobtest-" + RandomHex(6));
  auto plain = OpenBlobStore(dir.string());
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  ASSERT_TRUE(Put(plain->get(), "k", "v").ok());
  auto file = OpenBlobStore("file://" + dir.string());
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(*(*file)->Size("k"), 1);
  EXPECT_EQ(OpenBlobStore("gs://bucket").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(OpenBlobStore("").status().code(), Code::kInvalidArgument);
  std::filesystem::remove_all(dir);
}

// ---- S3 URL and configuration (no server) --------------------------------------------------------

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(S3Url, ParsesSettingsAndEnvironment) {
  ScopedEnv a("AWS_ACCESS_KEY_ID", "AKID"), b("AWS_SECRET_ACCESS_KEY", "SECRET"), c("AWS_SESSION_TOKEN", "TOK"),
      d("AWS_REGION", nullptr), e("AWS_DEFAULT_REGION", "eu-west-3"), f("AWS_ENDPOINT_URL_S3", nullptr),
      g("AWS_ENDPOINT_URL", nullptr);
  auto o = ParseS3Url("s3://my-bucket/some/prefix/");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->bucket, "my-bucket");
  EXPECT_EQ(o->prefix, "some/prefix");
  EXPECT_EQ(o->region, "eu-west-3");
  EXPECT_EQ(o->endpoint, "");
  EXPECT_FALSE(o->path_style);  // AWS: virtual-host
  EXPECT_EQ(o->credentials.access_key, "AKID");
  EXPECT_EQ(o->credentials.secret_key, "SECRET");
  EXPECT_EQ(o->credentials.session_token, "TOK");

  o = ParseS3Url("s3://b12?endpoint=http%3A%2F%2F127.0.0.1%3A9000/&region=us-east-1&part_size=16777216&max_attempts=3"
                 "&list_page_size=10");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->endpoint, "http://127.0.0.1:9000");
  EXPECT_TRUE(o->path_style);  // a custom endpoint: path-style unless told otherwise
  EXPECT_EQ(o->region, "us-east-1");
  EXPECT_EQ(o->part_size, 16 << 20);
  EXPECT_EQ(o->max_attempts, 3);
  EXPECT_EQ(o->list_page_size, 10);
  EXPECT_EQ(o->prefix, "");

  ScopedEnv h("AWS_ENDPOINT_URL", "https://minio.example:9000");
  o = ParseS3Url("s3://b12?path_style=false");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->endpoint, "https://minio.example:9000");
  EXPECT_FALSE(o->path_style);
}

TEST(S3Url, RejectsBadUrls) {
  ScopedEnv a("AWS_ACCESS_KEY_ID", "AKID"), b("AWS_SECRET_ACCESS_KEY", "SECRET");
  for (const char* url : {"s3://", "s3://B", "s3://ab", "s3://bucket_x", "s3://bucket/../x", "s3://bucket?nope=1",
                          "s3://bucket?part_size=1024", "s3://bucket?endpoint=ftp://h", "s3://bucket?endpoint=http://h/p",
                          "s3://bucket?path_style=maybe", "s3://bucket?region=US_EAST", "http://bucket"}) {
    EXPECT_EQ(ParseS3Url(url).status().code(), Code::kInvalidArgument) << url;
  }
  ScopedEnv c("AWS_SECRET_ACCESS_KEY", nullptr);
  EXPECT_EQ(ParseS3Url("s3://bucket").status().code(), Code::kInvalidArgument);  // no credentials
}

// ---- S3BlobStore against MinIO: faults -----------------------------------------------------------

class S3Faults : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    server_ = S3TestServer::Shared(&why);
    if (!server_ && why.rfind("no S3 test server", 0) == 0) GTEST_SKIP() << why;
    ASSERT_NE(server_, nullptr) << why;
    ASSERT_TRUE(server_->CreateBucket(kBucket).ok());
    options_ = server_->Options(kBucket, "fault-" + RandomHex(6));
    store_ = std::move(OpenS3BlobStore(options_)).value();
  }
  void TearDown() override {
    // A test that failed half-way must not leave the shared server down.
    if (server_ && !server_->CreateBucket(kBucket).ok()) (void)server_->StartAgain();
  }

  S3TestServer* server_ = nullptr;
  S3Options options_;
  std::unique_ptr<BlobStore> store_;
};

TEST_F(S3Faults, ServerRestartedMidMultipartUploadCompletes) {
  const std::string data = RandomData(23 << 20, 7);
  auto w = std::move(store_->NewWriter("restart/obj")).value();
  ASSERT_TRUE(w->Write(data.data(), 11 << 20).ok());  // two parts uploaded, the third filling
  ASSERT_TRUE(server_->Kill().ok());
  // The next part goes out while the server is down; its retries outlast the restart.
  std::thread restarter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    EXPECT_TRUE(server_->StartAgain().ok());
  });
  Status s = w->Write(data.data() + (11 << 20), data.size() - (11 << 20));
  if (s.ok()) s = w->Commit();
  restarter.join();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(*store_->Size("restart/obj"), int64_t(data.size()));
  EXPECT_EQ(Sha256Hex(ReadAll(store_.get(), "restart/obj", 0, -1, 1 << 20)), Sha256Hex(data));
}

TEST_F(S3Faults, OutageLongerThanRetriesFailsCleanly) {
  S3Options impatient = options_;
  impatient.max_attempts = 3;
  impatient.backoff_base_ms = 10;
  impatient.backoff_max_ms = 20;
  auto store = std::move(OpenS3BlobStore(impatient)).value();
  const std::string data = RandomData(12 << 20, 9);
  auto w = std::move(store->NewWriter("outage/obj")).value();
  ASSERT_TRUE(w->Write(data.data(), 6 << 20).ok());  // a multipart upload is under way
  ASSERT_TRUE(server_->Kill().ok());
  Status s = w->Write(data.data() + (6 << 20), 6 << 20);
  if (s.ok()) s = w->Commit();
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.retryable()) << s.ToString();
  EXPECT_FALSE(w->Commit().ok());  // the writer is spent
  ASSERT_TRUE(server_->StartAgain().ok());
  EXPECT_TRUE(store->Size("outage/obj").status().IsNotFound());
  EXPECT_TRUE(ListAll(store.get(), "").empty());
}

TEST_F(S3Faults, KilledUploaderLeavesNoVisibleObject) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The uploading process dies mid-upload, without Abort or destructors.
    auto store = OpenS3BlobStore(options_);
    if (!store.ok()) ::_exit(2);
    auto w = (*store)->NewWriter("killed/obj");
    if (!w.ok()) ::_exit(2);
    const std::string data = RandomData(12 << 20, 3);
    if (!(*w)->Write(data.data(), data.size()).ok()) ::_exit(2);
    ::raise(SIGKILL);
    ::_exit(3);
  }
  int st = 0;
  ASSERT_EQ(::waitpid(child, &st, 0), child);
  ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << "child did not reach the kill: " << st;
  EXPECT_TRUE(store_->Size("killed/obj").status().IsNotFound());
  EXPECT_TRUE(ListAll(store_.get(), "").empty());
}

TEST_F(S3Faults, ReaderResumesAfterServerRestart) {
  const std::string data = RandomData(9 << 20, 11);
  ASSERT_TRUE(Put(store_.get(), "resume/obj", data).ok());
  auto r = std::move(store_->Open("resume/obj", 100)).value();
  std::string got(1 << 20, '\0');
  size_t have = 0;
  while (have < got.size()) {
    auto n = r->Read(&got[have], got.size() - have);
    ASSERT_TRUE(n.ok() && *n > 0);
    have += *n;
  }
  ASSERT_TRUE(server_->Restart().ok());  // the open connection dies with it
  std::vector<char> buf(1 << 16);
  while (true) {
    auto n = r->Read(buf.data(), buf.size());
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    if (*n == 0) break;
    got.append(buf.data(), *n);
  }
  EXPECT_EQ(got.size(), data.size() - 100);
  EXPECT_TRUE(got == data.substr(100));
}

TEST_F(S3Faults, WrongCredentialsAreForbiddenNotRetried) {
  S3Options bad = options_;
  bad.credentials.secret_key = "not-the-secret";
  auto store = std::move(OpenS3BlobStore(bad)).value();
  auto start = std::chrono::steady_clock::now();
  Status s = store->Size("anything").status();
  EXPECT_EQ(s.code(), Code::kForbidden) << s.ToString();
  EXPECT_FALSE(s.retryable());
  EXPECT_EQ(Put(store.get(), "x", "y").code(), Code::kForbidden);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace modelhub
