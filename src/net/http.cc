#include "net/http.h"

#include "common/strings.h"

namespace modelhub {

std::optional<std::string_view> Request::Header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return std::string_view(v);
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> ParseQueryString(std::string_view q) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& part : Split(q, '&')) {
    if (part.empty()) continue;
    auto eq = part.find('=');
    std::string k = part.substr(0, eq);
    std::string v = eq == std::string::npos ? "" : part.substr(eq + 1);
    auto dk = UrlDecode(k, true);
    auto dv = UrlDecode(v, true);
    out.emplace_back(dk ? *dk : k, dv ? *dv : v);
  }
  return out;
}

const std::vector<std::pair<std::string, std::string>>& Request::QueryParams() const {
  if (!query_) query_ = ParseQueryString(raw_query);
  return *query_;
}

std::optional<std::string> Request::Query(std::string_view name) const {
  std::string bracket = std::string(name) + "[]";
  for (const auto& [k, v] : QueryParams())
    if (k == name || k == bracket) return v;
  return std::nullopt;
}

std::vector<std::string> Request::QueryAll(std::string_view name) const {
  std::string bracket = std::string(name) + "[]";
  std::vector<std::string> out;
  for (const auto& [k, v] : QueryParams())
    if (k == name || k == bracket) out.push_back(v);
  return out;
}

Result<std::string> Request::ReadBody(int64_t max_bytes) {
  std::string out;
  if (content_length > max_bytes) {
    return Status::TooLarge("request body of " + std::to_string(content_length) + " bytes exceeds the limit of " +
                            std::to_string(max_bytes) + " bytes");
  }
  if (body == nullptr) return out;
  if (content_length > 0) out.reserve(size_t(content_length));
  char buf[65536];
  while (true) {
    MH_ASSIGN_OR_RETURN(size_t n, body->Read(buf, sizeof buf));
    if (n == 0) break;
    if (int64_t(out.size() + n) > max_bytes) {
      return Status::TooLarge("request body exceeds the limit of " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, n);
  }
  return out;
}

namespace {
bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}
}  // namespace

void Response::SetHeader(std::string name, std::string value) {
  for (auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) {
      v = std::move(value);
      return;
    }
  }
  headers.emplace_back(std::move(name), std::move(value));
}

std::optional<std::string_view> Response::Header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (EqualsIgnoreCase(k, name)) return std::string_view(v);
  return std::nullopt;
}

void Response::SetJson(int status_code, std::string json) {
  status = status_code;
  body = std::move(json);
  SetHeader("Content-Type", "application/json; charset=utf-8");
}

Result<std::string_view> BodySource::ReadView(size_t) { return Status::Internal("this body source has no views"); }

const char* ReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 416: return "Range Not Satisfiable";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    default: return "Status";
  }
}

Result<std::optional<ByteRange>> ParseRange(std::string_view header, int64_t size) {
  std::string h = Trim(header);
  if (h.rfind("bytes=", 0) != 0) return std::optional<ByteRange>();
  std::string spec = Trim(std::string_view(h).substr(6));
  if (spec.find(',') != std::string::npos) return std::optional<ByteRange>();  // multi-range: serve whole
  auto dash = spec.find('-');
  if (dash == std::string::npos) return Status::RangeNotSatisfiable("malformed Range header");
  std::string a = Trim(std::string_view(spec).substr(0, dash));
  std::string b = Trim(std::string_view(spec).substr(dash + 1));
  ByteRange r;
  if (a.empty()) {  // suffix: last n bytes
    auto n = ParseInt64(b);
    if (!n || *n < 0) return Status::RangeNotSatisfiable("malformed Range header");
    if (*n == 0 || size == 0) return Status::RangeNotSatisfiable("empty suffix range");
    r.first = std::max<int64_t>(0, size - *n);
    r.last = size - 1;
    return std::optional<ByteRange>(r);
  }
  auto first = ParseInt64(a);
  if (!first || *first < 0) return Status::RangeNotSatisfiable("malformed Range header");
  if (*first >= size) return Status::RangeNotSatisfiable("range starts beyond the end of the file");
  r.first = *first;
  if (b.empty()) {
    r.last = size - 1;
  } else {
    auto last = ParseInt64(b);
    if (!last) return Status::RangeNotSatisfiable("malformed Range header");
    if (*last < *first) return std::optional<ByteRange>();  // RFC 7233: an invalid range is ignored

    r.last = std::min(*last, size - 1);
  }
  return std::optional<ByteRange>(r);
}

}  // namespace modelhub
