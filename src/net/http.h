// The small request/response API the rest of modelhub sees. Beast and sockets
// stay inside net/; handlers get a Request (headers parsed, body not yet read)
// and fill a Response (a string body, or a stream with a known length).
//
// Thread-safety: a Request/Response pair belongs to one connection thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace modelhub {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Pulls the request body. Implemented by the server; reading is lazy, so a
// handler that refuses a request (auth, validation) never reads its body.
class BodyReader {
 public:
  virtual ~BodyReader() = default;
  // Reads up to n bytes; 0 at the end of the body. IOError if the client goes away.
  virtual Result<size_t> Read(char* buf, size_t n) = 0;
  virtual bool done() const = 0;
};

class Request {
 public:
  std::string method;     // "GET", "HEAD", ...
  std::string target;     // raw request target, e.g. "/api/models/a/b?x=1"
  std::string path;       // raw (still percent-encoded) path part of target
  std::string raw_query;  // raw query string (without '?')
  HeaderList headers;     // names lower-cased
  std::string remote_addr;
  int64_t content_length = -1;  // -1: none or chunked
  bool chunked = false;
  BodyReader* body = nullptr;
  // True once the client has closed or reset its connection (so no one will read the answer).
  // Cheap (one non-blocking poll); long handlers call it between steps to stop work nobody waits
  // for. Null when the request did not come from a socket (tests): never gone.
  std::function<bool()> client_gone;
  bool ClientGone() const { return client_gone && client_gone(); }

  std::optional<std::string_view> Header(std::string_view lower_name) const;
  // Decoded query parameters. Query("expand") also matches "expand[]".
  std::optional<std::string> Query(std::string_view name) const;
  std::vector<std::string> QueryAll(std::string_view name) const;
  bool HasBody() const { return content_length > 0 || chunked; }
  // Reads the whole body; TooLarge (and nothing more read) past max_bytes.
  Result<std::string> ReadBody(int64_t max_bytes);

  // Parsed lazily from raw_query.
  const std::vector<std::pair<std::string, std::string>>& QueryParams() const;

 private:
  mutable std::optional<std::vector<std::pair<std::string, std::string>>> query_;
};

// A response body produced while it is sent (files, reconstructions).
class BodySource {
 public:
  virtual ~BodySource() = default;
  virtual Result<size_t> Read(char* buf, size_t n) = 0;
  // (fd, offset) when the bytes are a plain file range: the server may sendfile().
  virtual std::optional<std::pair<int, int64_t>> FileRange() const { return std::nullopt; }
  // When HasViews(): the next at most n bytes as a view into the source's own buffer, valid until
  // the next call on this source (empty at the end); the server then sends without copying.
  virtual bool HasViews() const { return false; }
  virtual Result<std::string_view> ReadView(size_t n);
};

class Response {
 public:
  int status = 200;
  HeaderList headers;
  std::string body;
  std::unique_ptr<BodySource> stream;  // if set, sent instead of body
  int64_t stream_length = 0;
  bool close = false;  // close the connection after this response
  std::string route = "other";  // label for metrics and logs

  void SetHeader(std::string name, std::string value);
  void AddHeader(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
  std::optional<std::string_view> Header(std::string_view name) const;  // case-insensitive
  void SetJson(int status_code, std::string json);
};

using Handler = std::function<void(Request&, Response&)>;

const char* ReasonPhrase(int status);

// Parses one "bytes=" range against a body of `size` bytes. Returns:
// nullopt range (serve whole) if header absent/unsupported (multi-range,
// other units); RangeNotSatisfiable if it cannot be satisfied.
struct ByteRange {
  int64_t first = 0;
  int64_t last = 0;  // inclusive
};
Result<std::optional<ByteRange>> ParseRange(std::string_view header, int64_t size);

// Parses "a=1&b=2" (form encoding: '+' is space). Malformed escapes are kept raw.
std::vector<std::pair<std::string, std::string>> ParseQueryString(std::string_view q);

}  // namespace modelhub
