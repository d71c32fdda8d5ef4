// S3Client: signed S3 requests over libcurl with the retry policy of
// S3BlobStore (internal to storage/blob; see s3_blob_store.h for the contract).
//
// A request names an object of the bucket (or the bucket itself with an empty
// key); the client builds the URL for path-style or virtual-host addressing,
// signs it (SigV4, signed payload) and sends it. Call() collects the answer
// and retries transient failures; S3Call gives the lower-level, single-attempt
// transfer that a streaming reader drives itself through a CURLM.
//
// Thread-safety: S3Client is shared by all threads (connections are pooled in
// a CURLSH guarded by mutexes); an S3Call belongs to one thread.
#pragma once

#include <curl/curl.h>

#include <array>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "storage/blob/s3_blob_store.h"

namespace modelhub {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct S3Request {
  std::string method;  // GET HEAD PUT POST DELETE
  std::string object;  // full object name in the bucket; "" = the bucket itself
  HeaderList query;    // raw parameters
  HeaderList headers;  // extra headers, all signed (range, if-match, content-type)
  std::string_view body;
};

struct S3Response {
  long status = 0;
  HeaderList headers;  // lowercase names
  std::string body;
  std::string Header(std::string_view name) const;  // "" if absent
};

// One transfer. In collect mode the body is kept whole (bounded by
// kMaxCollectedBody); in stream mode at most kStreamBuffer unread bytes are
// held and the transfer pauses until the reader takes them.
class S3Call {
 public:
  static constexpr size_t kMaxCollectedBody = 64 << 20;
  static constexpr size_t kStreamBuffer = 1 << 20;

  S3Call(const S3Options& options, CURLSH* share, const S3Request& req, bool stream);
  ~S3Call();
  S3Call(const S3Call&) = delete;
  S3Call& operator=(const S3Call&) = delete;

  CURL* easy() { return easy_; }
  long status() const { return status_; }
  bool headers_done() const { return headers_done_; }
  const HeaderList& headers() const { return headers_; }
  std::string_view pending() const { return std::string_view(body_).substr(body_pos_); }
  void Consume(size_t n);  // stream mode: n bytes of pending() were taken; resumes a paused transfer
  bool overflowed() const { return overflowed_; }
  S3Response TakeResponse();

 private:
  static size_t OnHeader(char* p, size_t size, size_t n, void* self);
  static size_t OnWrite(char* p, size_t size, size_t n, void* self);
  static size_t OnRead(char* p, size_t size, size_t n, void* self);
  static int OnSeek(void* self, curl_off_t offset, int origin);

  CURL* easy_ = nullptr;
  curl_slist* header_list_ = nullptr;
  bool stream_;
  bool paused_ = false;
  bool overflowed_ = false;
  bool headers_done_ = false;
  long status_ = 0;
  HeaderList headers_;
  std::string body_;
  size_t body_pos_ = 0;
  std::string_view upload_;
  size_t upload_pos_ = 0;
  std::string url_;
};

class S3Client {
 public:
  explicit S3Client(S3Options options);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  const S3Options& options() const { return options_; }
  CURLSH* share() { return share_; }

  // Sends req, retrying transient failures (connection errors, timeouts, 5xx,
  // 429, SlowDown...) up to options.max_attempts times. Returns the response
  // for any other status (2xx or not: the caller interprets it), or the last
  // error once the attempts are spent.
  Result<S3Response> Call(const S3Request& req);

  // Sleeps before retry number `retry` (1-based): equal jitter, half of
  // min(max, base * 2^(retry-1)) fixed and half random.
  void Backoff(int retry);

  static bool IsRetryableStatus(long status, std::string_view s3_code);
  static bool IsRetryableCurlCode(CURLcode rc);
  // A Status for a response that is not what the caller wanted.
  static Status ErrorFor(const S3Request& req, const S3Response& resp);
  static Status TransportError(const S3Request& req, CURLcode rc);

 private:
  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* self);
  static void Unlock(CURL*, curl_lock_data data, void* self);

  S3Options options_;
  CURLSH* share_ = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> share_locks_;
};

}  // namespace modelhub
