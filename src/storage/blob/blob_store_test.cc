// BlobStore conformance suite, run against every backend (LocalBlobStore,
// S3BlobStore path-style, virtual-host and with unsigned payloads on a real
// MinIO), then tests of what
// only one backend has: the local staging folder, S3 retries, resumption and
// server faults. The S3 cases skip, saying why, when MinIO is not installed
// (scripts/install-minio.sh).
#include "storage/blob/blob_store.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "common/fs.h"
#include "common/strings.h"
#include "common/test_random.h"
#include "common/time_util.h"
#include "crypto/sha256.h"
#include "storage/blob/s3_blob_store.h"
#include "storage/blob/s3_client.h"
#include "storage/blob/s3_test_server.h"
#include "storage/blob/s3_xml.h"

namespace modelhub {
namespace {

constexpr const char* kBucket = "modelhub-test";

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
    o.signed_payload = GetParam() != "s3-unsigned";
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
  EXPECT_EQ((*r)->FileRange().has_value(), GetParam() == "local");  // sendfile only from local files
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

TEST_P(BlobStoreConformance, CleanStaleUploadsSparesYoungWritersAndObjects) {
  ASSERT_TRUE(Put(store_.get(), "done", "abc").ok());
  const std::string data = RandomData(6 << 20, 5);  // past the S3 test server's part size: a multipart upload
  auto w = std::move(store_->NewWriter("writing")).value();
  ASSERT_TRUE(w->Write(data.data(), data.size()).ok());
  auto stats = store_->CleanStaleUploads(std::chrono::hours(1), /*dry_run=*/false);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->found, 0);
  ASSERT_TRUE(w->Commit().ok());
  EXPECT_EQ(*store_->Size("writing"), int64_t(data.size()));
  EXPECT_EQ(ReadAll(store_.get(), "done"), "abc");
}

TEST_P(BlobStoreConformance, RejectsBadKeys) {
  for (std::string k : {"", "/abs", "a/../b", "a//b", "a b", ".tmp/x", "dir/"}) {
    EXPECT_EQ(store_->NewWriter(k).status().code(), Code::kInvalidArgument) << k;
    EXPECT_EQ(store_->Open(k).status().code(), Code::kInvalidArgument) << k;
    EXPECT_EQ(store_->Size(k).status().code(), Code::kInvalidArgument) << k;
    EXPECT_EQ(store_->Delete(k).code(), Code::kInvalidArgument) << k;
  }
}

// s3: path-style, signed payloads; s3-vhost: virtual-host addressing; s3-unsigned: UNSIGNED-PAYLOAD.
INSTANTIATE_TEST_SUITE_P(Backends, BlobStoreConformance, ::testing::Values("local", "s3", "s3-vhost", "s3-unsigned"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

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

TEST(LocalBlobStore, CleanStaleUploadsRemovesOldStagedFilesOnly) {
  auto dir = std::filesystem::temp_directory_path() / ("blobtest-" + RandomHex(6));
  auto store = std::move(OpenLocalBlobStore(dir.string())).value();
  auto writing = std::move(store->NewWriter("live/obj")).value();  // in progress: its staged file is fresh
  ASSERT_TRUE(writing->Write("abc", 3).ok());
  for (const char* name : {"old1", "old2"}) {
    ASSERT_TRUE(WriteFileAtomic((dir / ".tmp" / name).string(), "x").ok());
    std::filesystem::last_write_time(dir / ".tmp" / name,
                                     std::filesystem::file_time_type::clock::now() - std::chrono::hours(25));
  }
  auto dry = store->CleanStaleUploads(std::chrono::hours(24), /*dry_run=*/true);
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  EXPECT_EQ(dry->found, 2);
  EXPECT_EQ(dry->removed, 0);
  EXPECT_TRUE(std::filesystem::exists(dir / ".tmp" / "old1"));
  auto none = store->CleanStaleUploads(std::chrono::hours(26), /*dry_run=*/false);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->found, 0);
  auto real = store->CleanStaleUploads(std::chrono::hours(24), /*dry_run=*/false);
  ASSERT_TRUE(real.ok());
  EXPECT_EQ(real->found, 2);
  EXPECT_EQ(real->removed, 2);
  EXPECT_EQ(real->failed, 0);
  EXPECT_FALSE(std::filesystem::exists(dir / ".tmp" / "old1"));
  ASSERT_TRUE(writing->Commit().ok());  // the young one was left alone
  EXPECT_EQ(*store->Size("live/obj"), 3);

  // Opening the store does the same with a day's grace.
  ASSERT_TRUE(WriteFileAtomic((dir / ".tmp" / "old3").string(), "x").ok());
  std::filesystem::last_write_time(dir / ".tmp" / "old3",
                                   std::filesystem::file_time_type::clock::now() - std::chrono::hours(25));
  ASSERT_TRUE(OpenLocalBlobStore(dir.string()).ok());
  EXPECT_TRUE(std::filesystem::is_empty(dir / ".tmp"));
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
  EXPECT_TRUE(o->signed_payload);

  o = ParseS3Url("s3://b12?endpoint=http%3A%2F%2F127.0.0.1%3A9000/&region=us-east-1&part_size=16777216&max_attempts=3"
                 "&list_page_size=10&signed_payload=false");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->endpoint, "http://127.0.0.1:9000");
  EXPECT_TRUE(o->path_style);  // a custom endpoint: path-style unless told otherwise
  EXPECT_EQ(o->region, "us-east-1");
  EXPECT_EQ(o->part_size, 16 << 20);
  EXPECT_EQ(o->max_attempts, 3);
  EXPECT_EQ(o->list_page_size, 10);
  EXPECT_FALSE(o->signed_payload);
  EXPECT_EQ(o->prefix, "");

  // The endpoint may also be written unencoded.
  o = ParseS3Url("s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1&path_style=true");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->bucket, "bucket");
  EXPECT_EQ(o->prefix, "prefix");
  EXPECT_EQ(o->endpoint, "http://127.0.0.1:9000");
  EXPECT_TRUE(o->path_style);

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
                          "s3://bucket?path_style=maybe", "s3://bucket?signed_payload=x", "s3://bucket?region=US_EAST", "http://bucket"}) {
    EXPECT_EQ(ParseS3Url(url).status().code(), Code::kInvalidArgument) << url;
  }
  ScopedEnv c("AWS_SECRET_ACCESS_KEY", nullptr);
  EXPECT_EQ(ParseS3Url("s3://bucket").status().code(), Code::kInvalidArgument);  // no credentials
}

// ---- S3 retry policy, against a scripted server -------------------------------------------------

// Answers the i-th request with responses[i] (the last one repeats), each on
// its own connection, and records the request heads. Loopback, run-time port.
class ScriptedHttpServer {
 public:
  explicit ScriptedHttpServer(std::vector<std::string> responses) : responses_(std::move(responses)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen on loopback";
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedHttpServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> heads() {
    std::lock_guard<std::mutex> l(mu_);
    return heads_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string head;
      char ch;
      while (head.find("\r\n\r\n") == std::string::npos && ::recv(c, &ch, 1, 0) == 1) head += ch;
      // Drain a request body, if any, so the client sees our answer and not a reset.
      std::string lower = ToLower(head);
      if (size_t cl = lower.find("content-length:"); cl != std::string::npos) {
        int64_t n = std::atoll(lower.c_str() + cl + 15);
        std::vector<char> buf(65536);
        while (n > 0) {
          ssize_t r = ::recv(c, buf.data(), size_t(std::min<int64_t>(n, int64_t(buf.size()))), 0);
          if (r <= 0) break;
          n -= r;
        }
      }
      size_t i;
      {
        std::lock_guard<std::mutex> l(mu_);
        heads_.push_back(head);
        i = std::min(heads_.size(), responses_.size()) - 1;
      }
      (void)!::send(c, responses_[i].data(), responses_[i].size(), MSG_NOSIGNAL);
      ::shutdown(c, SHUT_RDWR);
      ::close(c);
    }
  }

  std::vector<std::string> responses_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> heads_;
};

std::string Answer(const std::string& status, const std::string& headers, const std::string& body) {
  return "HTTP/1.1 " + status + "\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         headers + "\r\n" + body;
}
std::string S3ErrorAnswer(const std::string& status, const std::string& code) {
  return Answer(status, "Content-Type: application/xml\r\n",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code + "</Code><Message>m</Message></Error>");
}

S3Options ScriptedOptions(const std::string& endpoint) {
  S3Options o;
  o.bucket = "bkt";
  o.endpoint = endpoint;
  o.path_style = true;
  o.credentials = {"AKID", "SECRET", "SESSION"};
  o.backoff_base_ms = 1;
  o.backoff_max_ms = 4;
  o.max_attempts = 5;
  return o;
}

TEST(S3Retries, TransientAnswersAreRetriedUntilSuccess) {
  ScriptedHttpServer server({S3ErrorAnswer("503 Slow Down", "SlowDown"), S3ErrorAnswer("500 Internal", "InternalError"),
                             S3ErrorAnswer("429 Too Many", "TooManyRequests"),
                             "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1234\r\n\r\n"});
  auto store = std::move(OpenS3BlobStore(ScriptedOptions(server.endpoint()))).value();
  auto size = store->Size("a/b");
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_EQ(*size, 1234);
  auto heads = server.heads();
  ASSERT_EQ(heads.size(), 4u);
  for (const auto& h : heads) {
    EXPECT_EQ(h.rfind("HEAD /bkt/a/b HTTP/1.1\r\n", 0), 0u) << h;
    EXPECT_NE(h.find("Authorization: AWS4-HMAC-SHA256 Credential=AKID/"), std::string::npos) << h;
    EXPECT_NE(h.find("x-amz-security-token: SESSION"), std::string::npos) << h;
  }
}

TEST(S3Retries, RetryableS3CodesUnderA4xxAreRetried) {
  ScriptedHttpServer server({S3ErrorAnswer("400 Bad Request", "RequestTimeout"), Answer("204 No Content", "", "")});
  auto store = std::move(OpenS3BlobStore(ScriptedOptions(server.endpoint()))).value();
  Status s = store->Delete("k");
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(server.heads().size(), 2u);
}

TEST(S3Retries, GivesUpAfterMaxAttemptsWithARetryableStatus) {
  ScriptedHttpServer server({S3ErrorAnswer("503 Service Unavailable", "ServiceUnavailable")});
  S3Options o = ScriptedOptions(server.endpoint());
  o.max_attempts = 3;
  auto store = std::move(OpenS3BlobStore(o)).value();
  Status s = store->Delete("k");
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EXPECT_TRUE(s.retryable());
  EXPECT_EQ(server.heads().size(), 3u);
}

TEST(S3Retries, ClientErrorsAreNotRetried) {
  ScriptedHttpServer server({S3ErrorAnswer("400 Bad Request", "InvalidArgument"), Answer("200 OK", "", "")});
  auto store = std::move(OpenS3BlobStore(ScriptedOptions(server.endpoint()))).value();
  Status s = store->Delete("k");
  EXPECT_EQ(s.code(), Code::kIOError) << s.ToString();
  EXPECT_FALSE(s.retryable());
  EXPECT_NE(s.message().find("InvalidArgument"), std::string::npos);
  EXPECT_EQ(server.heads().size(), 1u);
}

TEST(S3Retries, ConnectionRefusedIsRetriedThenUnavailable) {
  std::string endpoint;
  { endpoint = ScriptedHttpServer({""}).endpoint(); }  // a port nobody listens on any more
  S3Options o = ScriptedOptions(endpoint);
  o.max_attempts = 3;
  o.backoff_base_ms = 40;
  o.backoff_max_ms = 80;
  auto store = std::move(OpenS3BlobStore(o)).value();
  auto start = std::chrono::steady_clock::now();
  Status s = store->Size("k").status();
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EXPECT_TRUE(s.retryable());
  // Two backoffs of at least half their cap (20 ms, 40 ms) happened.
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(60));
}

TEST(S3Retries, BrokenDownloadResumesAtItsOffsetOnTheSameObject) {
  ScriptedHttpServer server({
      // Promises 10 bytes, sends 5, hangs up.
      "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 10\r\nETag: \"e1\"\r\n\r\n01234",
      Answer("206 Partial Content", "Content-Range: bytes 5-9/10\r\nETag: \"e1\"\r\n", "56789"),
  });
  auto store = std::move(OpenS3BlobStore(ScriptedOptions(server.endpoint()))).value();
  EXPECT_EQ(ReadAll(store.get(), "obj", 0, -1, 3), "0123456789");
  auto heads = server.heads();
  ASSERT_EQ(heads.size(), 2u);
  EXPECT_EQ(heads[0].find("range:"), std::string::npos) << heads[0];
  EXPECT_NE(heads[1].find("range: bytes=5-9\r\n"), std::string::npos) << heads[1];
  EXPECT_NE(heads[1].find("if-match: \"e1\"\r\n"), std::string::npos) << heads[1];
}

TEST(S3Retries, AnErrorWhileResumingIsRetriedAndNeverReadAsData) {
  ScriptedHttpServer server({
      "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 10\r\nETag: \"e1\"\r\n\r\n01234",
      S3ErrorAnswer("503 Slow Down", "SlowDown"),
      Answer("206 Partial Content", "Content-Range: bytes 5-9/10\r\nETag: \"e1\"\r\n", "56789"),
  });
  auto store = std::move(OpenS3BlobStore(ScriptedOptions(server.endpoint()))).value();
  EXPECT_EQ(ReadAll(store.get(), "obj", 0, -1, 64), "0123456789");
  EXPECT_EQ(server.heads().size(), 3u);
}

TEST(S3Retries, ARangeTheServerIgnoredIsStillHonoured) {
  ScriptedHttpServer server({Answer("200 OK", "ETag: \"e1\"\r\n", "0123456789"),
                             Answer("200 OK", "ETag: \"e1\"\r\n", "0123456789")});
  auto store = std::move(OpenS3BlobStore(ScriptedOptions(server.endpoint()))).value();
  EXPECT_EQ(ReadAll(store.get(), "obj", 0, 4), "0123");
  // From an offset, a whole-object answer cannot be trusted to line up: refused.
  EXPECT_EQ(store->Open("obj", 3, 4).status().code(), Code::kCorruption);
}

TEST(S3Retries, ObjectReplacedDuringResumeIsCorruptionNotASplice) {
  ScriptedHttpServer server({
      "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 10\r\nETag: \"e1\"\r\n\r\n01234",
      S3ErrorAnswer("412 Precondition Failed", "PreconditionFailed"),
  });
  auto store = std::move(OpenS3BlobStore(ScriptedOptions(server.endpoint()))).value();
  auto r = std::move(store->Open("obj")).value();
  char buf[16];
  auto n = r->Read(buf, sizeof buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 5u);
  n = r->Read(buf, sizeof buf);
  EXPECT_EQ(n.status().code(), Code::kCorruption) << n.status().ToString();
}

TEST(S3StaleUploads, PagesAreFollowedAndOnlyOldUploadsUnderThePrefixAreAborted) {
  auto upload = [](const std::string& key, const std::string& id, const std::string& initiated) {
    return "<Upload><Key>" + key + "</Key><UploadId>" + id + "</UploadId><Initiated>" + initiated +
           "</Initiated></Upload>";
  };
  const std::string old_time = "2020-01-01T00:00:00.000Z";
  const std::string young_time = IsoTimeMs(NowMs() - 60'000);
  ScriptedHttpServer server({
      Answer("200 OK", "",
             "<ListMultipartUploadsResult><IsTruncated>true</IsTruncated><NextKeyMarker>p/b</NextKeyMarker>"
             "<NextUploadIdMarker>u2</NextUploadIdMarker>" +
                 upload("p/a", "u1", old_time) + upload("p/b", "u2", young_time) + "</ListMultipartUploadsResult>"),
      // A server that ignores the prefix: what is not under it is never touched.
      Answer("200 OK", "",
             "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>" + upload("p/c", "u3", old_time) +
                 upload("pq/d", "u4", old_time) + upload("p", "u5", old_time) + "</ListMultipartUploadsResult>"),
      Answer("204 No Content", "", ""),
      S3ErrorAnswer("404 Not Found", "NoSuchUpload"),  // gone meanwhile: neither aborted nor failed
  });
  S3Options o = ScriptedOptions(server.endpoint());
  o.prefix = "p";
  o.list_page_size = 2;
  auto store = std::move(OpenS3BlobStore(o)).value();
  auto stats = store->CleanStaleUploads(std::chrono::hours(1), /*dry_run=*/false);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->found, 2);
  EXPECT_EQ(stats->removed, 1);
  EXPECT_EQ(stats->failed, 0);
  auto heads = server.heads();
  ASSERT_EQ(heads.size(), 4u);
  EXPECT_EQ(heads[0].rfind("GET /bkt?encoding-type=url&max-uploads=2&prefix=p%2F&uploads= HTTP/1.1\r\n", 0), 0u)
      << heads[0];
  EXPECT_EQ(heads[1].rfind("GET /bkt?encoding-type=url&key-marker=p%2Fb&max-uploads=2&prefix=p%2F&upload-id-marker=u2"
                           "&uploads= HTTP/1.1\r\n",
                           0),
            0u)
      << heads[1];
  EXPECT_EQ(heads[2].rfind("DELETE /bkt/p/a?uploadId=u1 HTTP/1.1\r\n", 0), 0u) << heads[2];
  EXPECT_EQ(heads[3].rfind("DELETE /bkt/p/c?uploadId=u3 HTTP/1.1\r\n", 0), 0u) << heads[3];
}

TEST(S3StaleUploads, DryRunAbortsNothingAndBadListingsFail) {
  ScriptedHttpServer server({
      Answer("200 OK", "",
             "<ListMultipartUploadsResult><Upload><Key>a</Key><UploadId>u1</UploadId>"
             "<Initiated>2020-01-01T00:00:00Z</Initiated></Upload></ListMultipartUploadsResult>"),
      Answer("200 OK", "",
             "<ListMultipartUploadsResult><IsTruncated>true</IsTruncated><NextKeyMarker>a</NextKeyMarker>"
             "</ListMultipartUploadsResult>"),
      Answer("200 OK", "",
             "<ListMultipartUploadsResult><IsTruncated>true</IsTruncated><NextKeyMarker>a</NextKeyMarker>"
             "</ListMultipartUploadsResult>"),  // the same page again: the markers did not advance
      S3ErrorAnswer("403 Forbidden", "AccessDenied"),
  });
  auto store = std::move(OpenS3BlobStore(ScriptedOptions(server.endpoint()))).value();
  auto dry = store->CleanStaleUploads(std::chrono::seconds(0), /*dry_run=*/true);
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  EXPECT_EQ(dry->found, 1);
  EXPECT_EQ(dry->removed, 0);
  EXPECT_EQ(server.heads().size(), 1u);
  EXPECT_EQ(store->CleanStaleUploads(std::chrono::seconds(0), false).status().code(), Code::kCorruption);
  EXPECT_EQ(store->CleanStaleUploads(std::chrono::seconds(0), false).status().code(), Code::kForbidden);
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

  // Uploads 12 MiB to key from a child process that is SIGKILLed mid-upload (a part sent, the
  // next in flight): no Abort, no destructor, so the multipart upload stays behind.
  static void KillUploaderMidUpload(const S3Options& options, const std::string& key) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto store = OpenS3BlobStore(options);
      if (!store.ok()) ::_exit(2);
      auto w = (*store)->NewWriter(key);
      if (!w.ok()) ::_exit(2);
      const std::string data = RandomData(12 << 20, 3);
      if (!(*w)->Write(data.data(), data.size()).ok()) ::_exit(2);
      ::raise(SIGKILL);
      ::_exit(3);
    }
    int st = 0;
    ASSERT_EQ(::waitpid(child, &st, 0), child);
    ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << "child did not reach the kill: " << st;
  }

  // The upload ids of the in-progress multipart uploads of exactly this object name (the one
  // form of ListMultipartUploads that AWS and MinIO answer alike).
  std::vector<std::string> UploadsOf(const std::string& object) const {
    S3Client client(options_);
    S3Request req{"GET", "", {{"uploads", ""}, {"prefix", object}}, {}, {}};
    auto resp = client.Call(req);
    EXPECT_TRUE(resp.ok() && resp->status == 200) << (resp.ok() ? resp->body : resp.status().ToString());
    if (!resp.ok()) return {};
    auto page = ParseS3ListMultipartUploads(resp->body, /*url_encoded=*/false);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    std::vector<std::string> ids;
    if (page.ok()) {
      for (const auto& u : page->uploads) {
        if (u.key == object) ids.push_back(u.upload_id);
      }
    }
    return ids;
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
  ASSERT_NO_FATAL_FAILURE(KillUploaderMidUpload(options_, "killed/obj"));
  EXPECT_TRUE(store_->Size("killed/obj").status().IsNotFound());
  EXPECT_TRUE(ListAll(store_.get(), "").empty());
}

TEST_F(S3Faults, StaleUploadsOfAKilledUploaderAreAbortedUnderThePrefixOnly) {
  S3Options other = server_->Options(kBucket, "fault-" + RandomHex(6));  // the same bucket, another prefix
  ASSERT_NO_FATAL_FAILURE(KillUploaderMidUpload(options_, "killed/obj"));
  ASSERT_NO_FATAL_FAILURE(KillUploaderMidUpload(other, "killed/obj"));
  const std::string mine = options_.prefix + "/killed/obj", theirs = other.prefix + "/killed/obj";
  ASSERT_EQ(UploadsOf(mine).size(), 1u);
  ASSERT_EQ(UploadsOf(theirs).size(), 1u);

  auto young = store_->CleanStaleUploads(std::chrono::hours(1), /*dry_run=*/false);
  ASSERT_TRUE(young.ok()) << young.status().ToString();
  EXPECT_EQ(young->found, 0);
  EXPECT_EQ(young->removed, 0);
  EXPECT_EQ(UploadsOf(mine).size(), 1u);

  auto dry = store_->CleanStaleUploads(std::chrono::seconds(0), /*dry_run=*/true);
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  EXPECT_EQ(dry->found, 1);
  EXPECT_EQ(dry->removed, 0);
  EXPECT_EQ(UploadsOf(mine).size(), 1u);

  auto stale = store_->CleanStaleUploads(std::chrono::seconds(0), /*dry_run=*/false);
  ASSERT_TRUE(stale.ok()) << stale.status().ToString();
  EXPECT_EQ(stale->found, 1);
  EXPECT_EQ(stale->removed, 1);
  EXPECT_EQ(stale->failed, 0);
  EXPECT_TRUE(UploadsOf(mine).empty());
  EXPECT_EQ(store_->CleanStaleUploads(std::chrono::seconds(0), /*dry_run=*/true)->found, 0);
  EXPECT_EQ(UploadsOf(theirs).size(), 1u);  // not ours: untouched
  EXPECT_TRUE(store_->Size("killed/obj").status().IsNotFound());

  auto other_store = std::move(OpenS3BlobStore(other)).value();
  EXPECT_EQ(other_store->CleanStaleUploads(std::chrono::seconds(0), /*dry_run=*/false)->removed, 1);
  EXPECT_TRUE(UploadsOf(theirs).empty());
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

TEST_F(S3Faults, ConsumerStallLongerThanTheStallTimeoutLosesNothing) {
  // A downstream client stops reading for longer than the stall timeout while
  // the object is far larger than every buffer on the way: the transfer sits
  // paused (or is dropped and resumed); either way every byte arrives once.
  S3Options o = options_;
  o.stall_timeout_s = 1;
  auto store = std::move(OpenS3BlobStore(o)).value();
  const std::string data = RandomData(32 << 20, 13);
  ASSERT_TRUE(Put(store.get(), "slow/obj", data).ok());
  auto r = std::move(store->Open("slow/obj")).value();
  std::string got(65536, '\0');
  auto n = r->Read(got.data(), got.size());
  ASSERT_TRUE(n.ok());
  got.resize(*n);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  std::vector<char> buf(1 << 20);
  while (true) {
    n = r->Read(buf.data(), buf.size());
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    if (*n == 0) break;
    got.append(buf.data(), *n);
  }
  EXPECT_TRUE(got == data);
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
