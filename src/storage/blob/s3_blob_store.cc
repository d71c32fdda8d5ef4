#include "storage/blob/s3_blob_store.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <future>

#include "common/strings.h"
#include "common/time_util.h"
#include "storage/blob/s3_client.h"
#include "storage/blob/s3_xml.h"

namespace modelhub {

namespace {

constexpr int64_t kMinPartSize = 5 << 20;            // S3's minimum for every part but the last
constexpr int64_t kMaxPartSize = int64_t(5) << 30;   // and its maximum
constexpr int kMaxParts = 10000;

// ---- writer ------------------------------------------------------------------------------------

class S3BlobWriter : public BlobWriter {
 public:
  S3BlobWriter(S3Client* client, std::string object) : client_(client), object_(std::move(object)) {}
  ~S3BlobWriter() override { Abort(); }

  Status Write(const char* data, size_t n) override {
    if (done_) return Status::Internal("write after commit/abort");
    const size_t part = size_t(client_->options().part_size);
    while (n > 0) {
      if (buf_.capacity() < part) buf_.reserve(part);
      size_t take = std::min(n, part - buf_.size());
      buf_.append(data, take);
      data += take;
      n -= take;
      written_ += int64_t(take);
      if (buf_.size() == part) {
        Status s = FlushPart();
        if (!s.ok()) {
          Abort();
          return s;
        }
      }
    }
    return Status::Ok();
  }

  Status Commit() override {
    if (done_) return Status::Internal("commit after commit/abort");
    Status s = upload_id_.empty() ? PutWhole() : Complete();
    if (!s.ok()) {
      Abort();
      return s;
    }
    done_ = true;
    std::string().swap(buf_);
    std::string().swap(sending_);
    return Status::Ok();
  }

  void Abort() override {
    if (done_) return;
    done_ = true;
    (void)WaitForInflightPart();
    std::string().swap(buf_);
    if (upload_id_.empty()) return;
    // Best effort: parts of an upload nobody completes stay invisible either way
    // (and a lifecycle rule expires them); this frees them now.
    S3Request req{"DELETE", object_, {{"uploadId", upload_id_}}, {}, {}};
    (void)client_->Call(req);
  }

  int64_t bytes_written() const override { return written_; }

 private:
  Status PutWhole() {
    S3Request req{"PUT", object_, {}, {}, buf_};
    MH_ASSIGN_OR_RETURN(S3Response resp, client_->Call(req));
    if (resp.status / 100 != 2) return S3Client::ErrorFor(req, resp);
    return Status::Ok();
  }

  // Hands the full buffer to a helper thread as the next part and returns, so
  // the caller fills the other buffer while it uploads: at most two parts in
  // memory. A part still in flight is waited for first (its error surfaces here).
  Status FlushPart() {
    MH_RETURN_IF_ERROR(WaitForInflightPart());
    if (upload_id_.empty()) {
      S3Request req{"POST", object_, {{"uploads", ""}}, {}, {}};
      MH_ASSIGN_OR_RETURN(S3Response resp, client_->Call(req));
      if (resp.status / 100 != 2) return S3Client::ErrorFor(req, resp);
      MH_ASSIGN_OR_RETURN(upload_id_, ParseS3InitiateMultipartUpload(resp.body));
    }
    if (etags_.size() >= size_t(kMaxParts)) return Status::TooLarge("S3 object exceeds 10000 parts; raise part_size");
    etags_.emplace_back();
    std::swap(buf_, sending_);
    buf_.clear();
    inflight_ = std::async(std::launch::async, [this, part = etags_.size()] { return UploadPart(part); });
    return Status::Ok();
  }

  // Runs on the helper thread; touches only sending_ and etags_[part - 1].
  Status UploadPart(size_t part) {
    S3Request req{"PUT", object_, {{"partNumber", std::to_string(part)}, {"uploadId", upload_id_}}, {}, sending_};
    MH_ASSIGN_OR_RETURN(S3Response resp, client_->Call(req));
    if (resp.status / 100 != 2) return S3Client::ErrorFor(req, resp);
    std::string etag = resp.Header("etag");
    if (etag.empty()) return Status::Corruption("S3 UploadPart answered without an ETag");
    etags_[part - 1] = std::move(etag);
    return Status::Ok();
  }

  Status WaitForInflightPart() {
    if (!inflight_.valid()) return Status::Ok();
    return inflight_.get();
  }

  Status Complete() {
    if (!buf_.empty()) MH_RETURN_IF_ERROR(FlushPart());
    MH_RETURN_IF_ERROR(WaitForInflightPart());
    // HtmlEscape's entities (&quot; &#39; ...) are valid XML too.
    std::string body = "<CompleteMultipartUpload>";
    for (size_t i = 0; i < etags_.size(); ++i) {
      body += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + HtmlEscape(etags_[i]) +
              "</ETag></Part>";
    }
    body += "</CompleteMultipartUpload>";
    S3Request req{"POST", object_, {{"uploadId", upload_id_}}, {{"content-type", "application/xml"}}, body};
    const int attempts = std::max(1, client_->options().max_attempts);
    Status last;
    for (int attempt = 1; attempt <= attempts; ++attempt) {
      if (attempt > 1) client_->Backoff(attempt - 1);
      MH_ASSIGN_OR_RETURN(S3Response resp, client_->Call(req));
      if (resp.status / 100 == 2) {
        // S3 may answer 200 and report a failure in the body.
        S3ErrorInfo err;
        last = ParseS3CompleteMultipartUpload(resp.body, &err);
        if (last.ok()) return last;
        if (err.code.empty() || !S3Client::IsRetryableStatus(200, err.code)) return last;
        continue;
      }
      S3ErrorInfo err = ParseS3Error(resp.body);
      if (err.code == "NoSuchUpload") {
        // An earlier attempt whose answer was lost may have completed it: the
        // object is there with our size (it is immutable and content-named
        // in the chunk store, so that is our object).
        S3Request head{"HEAD", object_, {}, {}, {}};
        auto h = client_->Call(head);
        if (h.ok() && h->status == 200 && ParseInt64(h->Header("content-length")) == written_) {
          upload_id_.clear();
          return Status::Ok();
        }
      }
      return S3Client::ErrorFor(req, resp);
    }
    return last;
  }

  S3Client* client_;
  std::string object_;
  std::string buf_;      // the part being filled; at most part_size bytes
  std::string sending_;  // the part being uploaded by inflight_
  std::future<Status> inflight_;
  std::string upload_id_;
  std::vector<std::string> etags_;
  int64_t written_ = 0;
  bool done_ = false;
};

// ---- reader ------------------------------------------------------------------------------------

class S3BlobReader : public BlobReader {
 public:
  S3BlobReader(S3Client* client, std::string object, int64_t offset)
      : client_(client), object_(std::move(object)), offset_(offset), multi_(curl_multi_init()) {}
  ~S3BlobReader() override {
    Stop();
    curl_multi_cleanup(multi_);
  }

  // Issues the GET for [offset_, offset_ + length) (length < 0: to the end)
  // and waits for the response head. Retries transient failures.
  Status Start(int64_t length) {
    Status last;
    for (int attempt = 1; attempt <= std::max(1, client_->options().max_attempts); ++attempt) {
      if (attempt > 1) client_->Backoff(attempt - 1);
      Status s = StartOnce(length);
      if (s.ok() || !s.retryable()) return s;
      last = s;
    }
    return last;
  }

  Result<size_t> Read(char* buf, size_t n) override {
    int failures = 0;
    Status cause;
    while (remaining_ > 0 && n > 0) {
      if (call_) {
        std::string_view avail = call_->pending();
        if (!avail.empty()) {
          size_t k = size_t(std::min<int64_t>({int64_t(n), int64_t(avail.size()), remaining_}));
          std::memcpy(buf, avail.data(), k);
          call_->Consume(k);
          offset_ += int64_t(k);
          remaining_ -= int64_t(k);
          return k;
        }
        if (!done_) {
          Pump(1000);
          continue;
        }
        // The transfer ended (or broke) before the range did.
        cause = result_ == CURLE_OK ? Status::IOError("S3 GET " + object_ + ": body shorter than expected", true)
                                    : S3Client::TransportError(req_, result_);
        Stop();
      }
      // Resume where we are, on the same object version.
      if (!cause.retryable() || ++failures >= std::max(1, client_->options().max_attempts)) return cause;
      client_->Backoff(failures);
      cause = StartOnce(remaining_);
      if (cause.code() == Code::kPreconditionFailed) {
        return Status::Corruption("S3 object " + object_ + " changed while being read");
      }
    }
    return size_t(0);
  }

  int64_t remaining() const override { return remaining_; }
  void SetEmpty() { remaining_ = 0; }

 private:
  // On failure no transfer is left open (nothing of an error body can be read as data).
  Status StartOnce(int64_t length) {
    Status s = StartTransfer(length);
    if (!s.ok()) Stop();
    return s;
  }

  Status StartTransfer(int64_t length) {
    Stop();
    req_ = S3Request{"GET", object_, {}, {}, {}};
    if (offset_ > 0 || length >= 0) {
      std::string range = "bytes=" + std::to_string(offset_) + "-";
      if (length >= 0) range += std::to_string(offset_ + length - 1);
      req_.headers.emplace_back("range", range);
    }
    if (!etag_.empty()) req_.headers.emplace_back("if-match", etag_);
    call_ = std::make_unique<S3Call>(client_->options(), client_->share(), req_, /*stream=*/true);
    curl_multi_add_handle(multi_, call_->easy());
    done_ = false;
    while (!call_->headers_done() && !done_) Pump(1000);
    if (!call_->headers_done()) return S3Client::TransportError(req_, result_ == CURLE_OK ? CURLE_GOT_NOTHING : result_);
    long status = call_->status();
    if (status == 200 || status == 206) {
      S3Response head;
      head.headers = call_->headers();
      auto len = ParseInt64(head.Header("content-length"));
      if (!len || *len < 0) return Status::Corruption("S3 GET " + object_ + ": no Content-Length");
      if (status == 206) {
        // "bytes <first>-<last>/<total>": the range must start where we asked.
        std::string cr = head.Header("content-range");
        if (cr.rfind("bytes " + std::to_string(offset_) + "-", 0) != 0) {
          return Status::Corruption("S3 GET " + object_ + ": unexpected Content-Range " + cr);
        }
      } else if (offset_ > 0) {
        return Status::Corruption("S3 GET " + object_ + ": range ignored by the server");
      }
      // A server that ignored the Range (200 for offset 0) sends more than asked: only the range counts.
      remaining_ = length >= 0 ? std::min(*len, length) : *len;
      if (etag_.empty()) etag_ = head.Header("etag");
      return Status::Ok();
    }
    // An error: its (small) body tells which.
    while (!done_) Pump(1000);
    S3Response resp = call_->TakeResponse();
    resp.status = status;
    return S3Client::ErrorFor(req_, resp);
  }

  void Pump(int timeout_ms) {
    int running = 0;
    curl_multi_perform(multi_, &running);
    int queued = 0;
    while (CURLMsg* m = curl_multi_info_read(multi_, &queued)) {
      if (m->msg == CURLMSG_DONE) {
        done_ = true;
        result_ = m->data.result;
      }
    }
    if (!done_ && call_->pending().empty()) curl_multi_poll(multi_, nullptr, 0, timeout_ms, nullptr);
  }

  void Stop() {
    if (!call_) return;
    curl_multi_remove_handle(multi_, call_->easy());
    call_.reset();
    done_ = false;
    result_ = CURLE_OK;
  }

  S3Client* client_;
  std::string object_;
  int64_t offset_;
  int64_t remaining_ = 0;
  std::string etag_;
  CURLM* multi_;
  S3Request req_;
  std::unique_ptr<S3Call> call_;
  bool done_ = false;
  CURLcode result_ = CURLE_OK;
};

// ---- store -------------------------------------------------------------------------------------

class S3BlobStore : public BlobStore {
 public:
  explicit S3BlobStore(S3Options options) : client_(std::move(options)) {
    const std::string& p = client_.options().prefix;
    name_prefix_ = p.empty() ? "" : p + "/";
  }

  Result<std::unique_ptr<BlobWriter>> NewWriter(const std::string& key) override {
    if (!IsValidBlobKey(key)) return Status::InvalidArgument("invalid blob key: " + key);
    return std::unique_ptr<BlobWriter>(std::make_unique<S3BlobWriter>(&client_, name_prefix_ + key));
  }

  Result<std::unique_ptr<BlobReader>> Open(const std::string& key, int64_t offset, int64_t length) override {
    if (!IsValidBlobKey(key)) return Status::InvalidArgument("invalid blob key: " + key);
    if (offset < 0) return Status::InvalidArgument("negative offset");
    auto reader = std::make_unique<S3BlobReader>(&client_, name_prefix_ + key, offset);
    if (length == 0) {
      // No byte to fetch: only existence and bounds matter.
      MH_ASSIGN_OR_RETURN(int64_t size, Size(key));
      if (offset > size) return Status::InvalidArgument("offset beyond end of blob");
      reader->SetEmpty();
      return std::unique_ptr<BlobReader>(std::move(reader));
    }
    Status s = reader->Start(length);
    if (s.code() == Code::kRangeNotSatisfiable) {
      // Offset at or past the end: at the end is an empty read, past it an error.
      MH_ASSIGN_OR_RETURN(int64_t size, Size(key));
      if (offset > size) return Status::InvalidArgument("offset beyond end of blob");
      reader = std::make_unique<S3BlobReader>(&client_, name_prefix_ + key, offset);
      reader->SetEmpty();
      return std::unique_ptr<BlobReader>(std::move(reader));
    }
    if (s.code() == Code::kNotFound) return Status::NotFound("blob not found: " + key);
    MH_RETURN_IF_ERROR(s);
    return std::unique_ptr<BlobReader>(std::move(reader));
  }

  Result<int64_t> Size(const std::string& key) override {
    if (!IsValidBlobKey(key)) return Status::InvalidArgument("invalid blob key: " + key);
    S3Request req{"HEAD", name_prefix_ + key, {}, {}, {}};
    MH_ASSIGN_OR_RETURN(S3Response resp, client_.Call(req));
    if (resp.status == 404) return Status::NotFound("blob not found: " + key);
    if (resp.status / 100 != 2) return S3Client::ErrorFor(req, resp);
    auto len = ParseInt64(resp.Header("content-length"));
    if (!len || *len < 0) return Status::Corruption("S3 HEAD " + key + ": no Content-Length");
    return *len;
  }

  Status Delete(const std::string& key) override {
    if (!IsValidBlobKey(key)) return Status::InvalidArgument("invalid blob key: " + key);
    S3Request req{"DELETE", name_prefix_ + key, {}, {}, {}};
    MH_ASSIGN_OR_RETURN(S3Response resp, client_.Call(req));
    if (resp.status / 100 == 2 || resp.status == 404) return Status::Ok();
    return S3Client::ErrorFor(req, resp);
  }

  Status List(const std::string& prefix,
              const std::function<void(const std::string& key, int64_t size)>& fn) override {
    std::string token;
    while (true) {
      S3Request req{"GET",
                    "",
                    {{"list-type", "2"},
                     {"prefix", name_prefix_ + prefix},
                     {"max-keys", std::to_string(client_.options().list_page_size)},
                     {"encoding-type", "url"}},
                    {},
                    {}};
      if (!token.empty()) req.query.emplace_back("continuation-token", token);
      MH_ASSIGN_OR_RETURN(S3Response resp, client_.Call(req));
      if (resp.status / 100 != 2) return S3Client::ErrorFor(req, resp);
      MH_ASSIGN_OR_RETURN(S3ListPage page, ParseS3ListObjectsV2(resp.body, /*url_encoded=*/true));
      for (const auto& o : page.objects) {
        if (o.key.rfind(name_prefix_, 0) != 0) continue;
        fn(o.key.substr(name_prefix_.size()), o.size);
      }
      if (!page.truncated) return Status::Ok();
      if (page.next_token == token) return Status::Corruption("S3 listing: continuation token did not advance");
      token = page.next_token;
    }
  }

  Result<StaleUploadStats> CleanStaleUploads(std::chrono::seconds older_than, bool dry_run) override {
    const int64_t cutoff_ms = NowMs() - std::chrono::duration_cast<std::chrono::milliseconds>(older_than).count();
    // Listed whole before any abort, so the pages do not shift under the markers.
    std::vector<S3ListedUpload> stale;
    auto note = [&](S3ListedUpload u) {
      if (u.initiated_ms < cutoff_ms) stale.push_back(std::move(u));
    };
    bool minio = false;
    MH_RETURN_IF_ERROR(ListUploads(name_prefix_, &minio, note));
    if (minio && !name_prefix_.empty()) {
      // MinIO takes a prefix for one exact key, and without one lists the uploads it began
      // since it last started (an in-memory table): ask without and keep what is ours. What
      // it lost in a restart it expires itself (its api setting stale_uploads_expiry, 24 h).
      MH_RETURN_IF_ERROR(ListUploads("", nullptr, note));
    }
    StaleUploadStats stats;
    stats.found = int64_t(stale.size());
    if (dry_run) return stats;
    for (const S3ListedUpload& u : stale) {
      S3Request req{"DELETE", u.key, {{"uploadId", u.upload_id}}, {}, {}};
      auto resp = client_.Call(req);
      if (resp.ok() && resp->status / 100 == 2) {
        ++stats.removed;
      } else if (!resp.ok() || resp->status != 404) {
        ++stats.failed;
      }  // 404 NoSuchUpload: completed or aborted meanwhile by someone else
    }
    return stats;
  }

 private:
  // Calls fn for every in-progress multipart upload of ours (key under the store's prefix)
  // that ListMultipartUploads names for the request prefix, following key and upload-id
  // markers. *minio: whether the server says it is MinIO (its Server header).
  Status ListUploads(const std::string& prefix, bool* minio, const std::function<void(S3ListedUpload)>& fn) {
    std::string key_marker, id_marker;
    while (true) {
      S3Request req{"GET",
                    "",
                    {{"uploads", ""},
                     {"max-uploads", std::to_string(client_.options().list_page_size)},
                     {"encoding-type", "url"}},
                    {},
                    {}};
      if (!prefix.empty()) req.query.emplace_back("prefix", prefix);
      if (!key_marker.empty()) req.query.emplace_back("key-marker", key_marker);
      if (!id_marker.empty()) req.query.emplace_back("upload-id-marker", id_marker);
      MH_ASSIGN_OR_RETURN(S3Response resp, client_.Call(req));
      if (resp.status / 100 != 2) return S3Client::ErrorFor(req, resp);
      if (minio) *minio = ToLower(resp.Header("server")).rfind("minio", 0) == 0;
      MH_ASSIGN_OR_RETURN(S3UploadsPage page, ParseS3ListMultipartUploads(resp.body, /*url_encoded=*/true));
      for (S3ListedUpload& u : page.uploads) {
        // Never someone else's: a server that ignored the prefix (or lied) lists more.
        if (u.key.rfind(name_prefix_, 0) == 0 && u.key.size() > name_prefix_.size()) fn(std::move(u));
      }
      if (!page.truncated) return Status::Ok();
      if (page.next_key_marker == key_marker && page.next_upload_id_marker == id_marker) {
        return Status::Corruption("S3 upload listing: the markers did not advance");
      }
      key_marker = std::move(page.next_key_marker);
      id_marker = std::move(page.next_upload_id_marker);
    }
  }

  S3Client client_;
  std::string name_prefix_;
};

std::string Getenv(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

Status ValidateEndpoint(const std::string& endpoint) {
  size_t p = endpoint.find("://");
  if (p == std::string::npos) return Status::InvalidArgument("S3 endpoint must be http://host[:port] or https://...");
  std::string scheme = endpoint.substr(0, p);
  std::string host = endpoint.substr(p + 3);
  if ((scheme != "http" && scheme != "https") || host.empty() || host.find_first_of("/?#@ ") != std::string::npos) {
    return Status::InvalidArgument("S3 endpoint must be http(s)://host[:port] without a path: " + endpoint);
  }
  return Status::Ok();
}

}  // namespace

Result<S3Options> ParseS3Url(const std::string& url) {
  if (url.rfind("s3://", 0) != 0) return Status::InvalidArgument("not an s3:// URL: " + url);
  std::string rest = url.substr(5);
  std::string query;
  if (size_t q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  S3Options o;
  size_t slash = rest.find('/');
  o.bucket = rest.substr(0, slash);
  if (slash != std::string::npos) o.prefix = rest.substr(slash + 1);
  while (!o.prefix.empty() && o.prefix.back() == '/') o.prefix.pop_back();
  if (o.bucket.size() < 3 || o.bucket.size() > 63 ||
      o.bucket.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-") != std::string::npos) {
    return Status::InvalidArgument("invalid S3 bucket name in " + url);
  }
  if (!o.prefix.empty() && !IsValidBlobKey(o.prefix)) return Status::InvalidArgument("invalid S3 prefix in " + url);

  o.region = Getenv("AWS_REGION");
  if (o.region.empty()) o.region = Getenv("AWS_DEFAULT_REGION");
  if (o.region.empty()) o.region = "us-east-1";
  o.endpoint = Getenv("AWS_ENDPOINT_URL_S3");
  if (o.endpoint.empty()) o.endpoint = Getenv("AWS_ENDPOINT_URL");
  std::optional<bool> path_style;
  for (const std::string& kv : Split(query, '&')) {
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    std::string name = kv.substr(0, eq);
    auto value = UrlDecode(eq == std::string::npos ? "" : kv.substr(eq + 1));
    if (!value) return Status::InvalidArgument("bad escape in " + url);
    auto int_value = [&](int64_t lo, int64_t hi) -> Result<int64_t> {
      auto v = ParseInt64(*value);
      if (!v || *v < lo || *v > hi) {
        return Status::InvalidArgument("S3 URL parameter " + name + " must be in [" + std::to_string(lo) + ", " +
                                       std::to_string(hi) + "]");
      }
      return *v;
    };
    if (name == "endpoint") {
      o.endpoint = *value;
    } else if (name == "region") {
      o.region = *value;
    } else if (name == "path_style") {
      path_style = ParseBool(*value);
      if (!path_style) return Status::InvalidArgument("path_style must be true or false");
    } else if (name == "signed_payload") {
      auto v = ParseBool(*value);
      if (!v) return Status::InvalidArgument("signed_payload must be true or false");
      o.signed_payload = *v;
    } else if (name == "part_size") {
      MH_ASSIGN_OR_RETURN(o.part_size, int_value(kMinPartSize, kMaxPartSize));
    } else if (name == "max_attempts") {
      MH_ASSIGN_OR_RETURN(int64_t v, int_value(1, 100));
      o.max_attempts = int(v);
    } else if (name == "list_page_size") {
      MH_ASSIGN_OR_RETURN(int64_t v, int_value(1, 1000));
      o.list_page_size = int(v);
    } else {
      return Status::InvalidArgument("unknown S3 URL parameter '" + name + "'");
    }
  }
  while (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
  if (!o.endpoint.empty()) MH_RETURN_IF_ERROR(ValidateEndpoint(o.endpoint));
  o.path_style = path_style.value_or(!o.endpoint.empty());
  if (o.region.empty() || o.region.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos) {
    return Status::InvalidArgument("invalid S3 region '" + o.region + "'");
  }
  o.credentials.access_key = Getenv("AWS_ACCESS_KEY_ID");
  o.credentials.secret_key = Getenv("AWS_SECRET_ACCESS_KEY");
  o.credentials.session_token = Getenv("AWS_SESSION_TOKEN");
  if (o.credentials.access_key.empty() || o.credentials.secret_key.empty()) {
    return Status::InvalidArgument("S3 credentials missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  }
  return o;
}

Result<std::unique_ptr<BlobStore>> OpenS3BlobStore(const S3Options& options) {
  if (options.bucket.empty()) return Status::InvalidArgument("S3: no bucket");
  if (!options.endpoint.empty()) MH_RETURN_IF_ERROR(ValidateEndpoint(options.endpoint));
  if (options.part_size < kMinPartSize || options.part_size > kMaxPartSize) {
    return Status::InvalidArgument("S3 part_size must be between 5 MiB and 5 GiB");
  }
  if (options.credentials.access_key.empty() || options.credentials.secret_key.empty()) {
    return Status::InvalidArgument("S3 credentials missing");
  }
  return std::unique_ptr<BlobStore>(std::make_unique<S3BlobStore>(options));
}

Status CreateS3Bucket(const S3Options& options) {
  S3Client client(options);
  std::string body;
  if (options.region != "us-east-1") {
    body = "<CreateBucketConfiguration><LocationConstraint>" + options.region +
           "</LocationConstraint></CreateBucketConfiguration>";
  }
  S3Request req{"PUT", "", {}, {}, body};
  MH_ASSIGN_OR_RETURN(S3Response resp, client.Call(req));
  if (resp.status / 100 == 2) return Status::Ok();
  if (ParseS3Error(resp.body).code == "BucketAlreadyOwnedByYou") return Status::Ok();
  return S3Client::ErrorFor(req, resp);
}

}  // namespace modelhub
