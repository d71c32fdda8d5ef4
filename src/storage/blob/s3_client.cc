#include "storage/blob/s3_client.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include "common/strings.h"
#include "crypto/sha256.h"
#include "storage/blob/s3_xml.h"

namespace modelhub {

namespace {

std::once_flag g_curl_init;

// "http://host:port" -> {"http", "host:port"}; validated by ParseS3Url.
std::pair<std::string, std::string> SplitEndpoint(const std::string& endpoint) {
  size_t p = endpoint.find("://");
  return {endpoint.substr(0, p), endpoint.substr(p + 3)};
}

std::string EffectiveEndpoint(const S3Options& o) {
  return o.endpoint.empty() ? "https://s3." + o.region + ".amazonaws.com" : o.endpoint;
}

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string S3Response::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return {};
}

S3Call::S3Call(const S3Options& o, CURLSH* share, const S3Request& req, bool stream) : stream_(stream) {
  auto [scheme, host] = SplitEndpoint(EffectiveEndpoint(o));
  std::string path;
  if (o.path_style) {
    path = "/" + o.bucket;
    if (!req.object.empty()) path += "/" + UrlEncode(req.object, /*keep_slash=*/true);
  } else {
    host = o.bucket + "." + host;
    path = "/" + UrlEncode(req.object, /*keep_slash=*/true);
  }
  std::string query = SigV4CanonicalQuery(req.query);
  url_ = scheme + "://" + host + path + (query.empty() ? "" : "?" + query);

  std::string payload_hash = req.body.empty()  ? std::string(kEmptyPayloadSha256)
                             : o.signed_payload ? Sha256Hex(req.body)
                                                : std::string("UNSIGNED-PAYLOAD");
  SigV4Request sreq;
  sreq.method = req.method;
  sreq.canonical_uri = path;
  sreq.query = req.query;
  sreq.payload_hash = payload_hash;
  sreq.headers = {{"host", host}, {"x-amz-date", AmzDate(NowUnix())}, {"x-amz-content-sha256", payload_hash}};
  if (!o.credentials.session_token.empty()) sreq.headers.emplace_back("x-amz-security-token", o.credentials.session_token);
  for (const auto& h : req.headers) sreq.headers.push_back(h);
  SigV4Signature sig = SigV4Sign(o.credentials, o.region, "s3", sreq.headers[1].second, sreq);

  for (const auto& [k, v] : sreq.headers) header_list_ = curl_slist_append(header_list_, (k + ": " + v).c_str());
  header_list_ = curl_slist_append(header_list_, ("Authorization: " + sig.authorization).c_str());
  header_list_ = curl_slist_append(header_list_, "Expect:");  // no 100-continue round trip
  if (req.method == "POST" || req.method == "PUT") {
    // curl would add a form content type to POST; S3 does not sign or need one.
    bool has_type = std::any_of(req.headers.begin(), req.headers.end(),
                                [](const auto& h) { return ToLower(h.first) == "content-type"; });
    if (!has_type) header_list_ = curl_slist_append(header_list_, "Content-Type:");
  }

  easy_ = curl_easy_init();
  curl_easy_setopt(easy_, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, header_list_);
  curl_easy_setopt(easy_, CURLOPT_SHARE, share);
  curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy_, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS, long(o.connect_timeout_ms));
  curl_easy_setopt(easy_, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(easy_, CURLOPT_LOW_SPEED_TIME, long(o.stall_timeout_s));
  // Larger transfer buffers than curl's defaults (16 KiB down, 64 KiB up): fewer
  // callbacks and syscalls per MiB of object data.
  curl_easy_setopt(easy_, CURLOPT_BUFFERSIZE, 256L << 10);
  curl_easy_setopt(easy_, CURLOPT_UPLOAD_BUFFERSIZE, 1L << 20);
  curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, &S3Call::OnHeader);
  curl_easy_setopt(easy_, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &S3Call::OnWrite);
  curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
  upload_ = req.body;
  if (req.method == "HEAD") {
    curl_easy_setopt(easy_, CURLOPT_NOBODY, 1L);
  } else if (req.method == "PUT") {
    curl_easy_setopt(easy_, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(easy_, CURLOPT_READFUNCTION, &S3Call::OnRead);
    curl_easy_setopt(easy_, CURLOPT_READDATA, this);
    // curl re-sends on a fresh connection when a pooled one turns out dead,
    // and must rewind the body for that.
    curl_easy_setopt(easy_, CURLOPT_SEEKFUNCTION, &S3Call::OnSeek);
    curl_easy_setopt(easy_, CURLOPT_SEEKDATA, this);
    curl_easy_setopt(easy_, CURLOPT_INFILESIZE_LARGE, curl_off_t(req.body.size()));
  } else if (req.method == "POST") {
    curl_easy_setopt(easy_, CURLOPT_POST, 1L);
    // Never NULL: curl would then read the body from its default read callback (stdin).
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, req.body.empty() ? "" : req.body.data());
    curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(req.body.size()));
  } else if (req.method != "GET") {
    curl_easy_setopt(easy_, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
}

S3Call::~S3Call() {
  if (easy_) curl_easy_cleanup(easy_);
  curl_slist_free_all(header_list_);
}

size_t S3Call::OnHeader(char* p, size_t size, size_t n, void* self_ptr) {
  auto* self = static_cast<S3Call*>(self_ptr);
  std::string_view line(p, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new response head (after a 1xx, or the only one).
    self->headers_.clear();
    self->headers_done_ = false;
    size_t sp = line.find(' ');
    self->status_ = 0;
    if (sp != std::string_view::npos) {
      auto code = ParseInt64(line.substr(sp + 1, 3));
      if (code) self->status_ = long(*code);
    }
  } else if (line == "\r\n" || line == "\n") {
    if (self->status_ >= 200) self->headers_done_ = true;
  } else {
    size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      self->headers_.emplace_back(ToLower(line.substr(0, colon)), Trim(line.substr(colon + 1)));
    }
  }
  return size * n;
}

size_t S3Call::OnWrite(char* p, size_t size, size_t n, void* self_ptr) {
  auto* self = static_cast<S3Call*>(self_ptr);
  size_t len = size * n;
  if (self->stream_ && self->status_ / 100 == 2) {
    if (self->body_.size() - self->body_pos_ >= kStreamBuffer) {
      self->paused_ = true;
      return CURL_WRITEFUNC_PAUSE;  // curl keeps these bytes and offers them again on resume
    }
    if (self->body_pos_ == self->body_.size()) {
      self->body_.clear();
      self->body_pos_ = 0;
    }
  } else if (self->body_.size() + len > kMaxCollectedBody) {
    self->overflowed_ = true;
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
  self->body_.append(p, len);
  return len;
}

size_t S3Call::OnRead(char* p, size_t size, size_t n, void* self_ptr) {
  auto* self = static_cast<S3Call*>(self_ptr);
  size_t len = std::min(size * n, self->upload_.size() - self->upload_pos_);
  std::memcpy(p, self->upload_.data() + self->upload_pos_, len);
  self->upload_pos_ += len;
  return len;
}

int S3Call::OnSeek(void* self_ptr, curl_off_t offset, int origin) {
  auto* self = static_cast<S3Call*>(self_ptr);
  if (origin != SEEK_SET || offset < 0 || size_t(offset) > self->upload_.size()) return CURL_SEEKFUNC_FAIL;
  self->upload_pos_ = size_t(offset);
  return CURL_SEEKFUNC_OK;
}

void S3Call::Consume(size_t n) {
  body_pos_ += n;
  if (body_pos_ == body_.size() && paused_) {
    paused_ = false;
    curl_easy_pause(easy_, CURLPAUSE_CONT);  // may call OnWrite right away
  }
}

S3Response S3Call::TakeResponse() {
  S3Response r;
  r.status = status_;
  r.headers = std::move(headers_);
  r.body = body_.substr(body_pos_);
  return r;
}

S3Client::S3Client(S3Options options) : options_(std::move(options)) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  share_ = curl_share_init();
  curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, &S3Client::Lock);
  curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &S3Client::Unlock);
  curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
  curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
}

S3Client::~S3Client() { curl_share_cleanup(share_); }

void S3Client::Lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
  static_cast<S3Client*>(self)->share_locks_[size_t(data)].lock();
}
void S3Client::Unlock(CURL*, curl_lock_data data, void* self) {
  static_cast<S3Client*>(self)->share_locks_[size_t(data)].unlock();
}

bool S3Client::IsRetryableStatus(long status, std::string_view code) {
  if (status >= 500 || status == 429) return true;
  return code == "SlowDown" || code == "RequestTimeout" || code == "InternalError" ||
         code == "ServiceUnavailable";
}

bool S3Client::IsRetryableCurlCode(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SEND_FAIL_REWIND:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

Status S3Client::TransportError(const S3Request& req, CURLcode rc) {
  std::string msg = "S3 " + req.method + " " + req.object + ": " + curl_easy_strerror(rc);
  if (IsRetryableCurlCode(rc)) return Status(Code::kUnavailable, msg, {}, true);
  return Status::IOError(msg);
}

Status S3Client::ErrorFor(const S3Request& req, const S3Response& resp) {
  S3ErrorInfo err = ParseS3Error(resp.body);
  std::string msg = "S3 " + req.method + " " + (req.object.empty() ? "(bucket)" : req.object) + ": HTTP " +
                    std::to_string(resp.status);
  if (!err.code.empty()) msg += " " + err.code;
  if (!err.message.empty()) msg += ": " + err.message;
  if (IsRetryableStatus(resp.status, err.code)) return Status(Code::kUnavailable, msg, {}, true);
  switch (resp.status) {
    case 401: return Status::Unauthorized(msg);
    case 403: return Status::Forbidden(msg);
    case 404: return Status::NotFound(msg);
    case 412: return Status::PreconditionFailed(msg);
    case 416: return Status::RangeNotSatisfiable(msg);
    default: return Status::IOError(msg);
  }
}

void S3Client::Backoff(int retry) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  int64_t cap = options_.backoff_base_ms;
  for (int i = 1; i < retry && cap < options_.backoff_max_ms; ++i) cap *= 2;
  cap = std::min<int64_t>(cap, options_.backoff_max_ms);
  int64_t half = cap / 2;
  int64_t delay = half + std::uniform_int_distribution<int64_t>(0, std::max<int64_t>(cap - half, 0))(rng);
  std::this_thread::sleep_for(std::chrono::milliseconds(delay));
}

Result<S3Response> S3Client::Call(const S3Request& req) {
  Status last;
  for (int attempt = 1; attempt <= std::max(1, options_.max_attempts); ++attempt) {
    if (attempt > 1) Backoff(attempt - 1);
    S3Call call(options_, share_, req, /*stream=*/false);
    CURLcode rc = curl_easy_perform(call.easy());
    if (rc != CURLE_OK) {
      if (call.overflowed()) return Status::IOError("S3 " + req.method + ": response body too large");
      last = TransportError(req, rc);
      if (!IsRetryableCurlCode(rc)) return last;
      continue;
    }
    S3Response resp = call.TakeResponse();
    if (resp.status / 100 != 2) {
      S3ErrorInfo err = ParseS3Error(resp.body);
      if (IsRetryableStatus(resp.status, err.code)) {
        last = ErrorFor(req, resp);
        continue;
      }
    }
    return resp;
  }
  return Status(last.code(), last.message() + " (after " + std::to_string(options_.max_attempts) + " attempts)", {},
                true);
}

}  // namespace modelhub
