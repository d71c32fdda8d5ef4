#include "storage/blob/sigv4.h"

#include <algorithm>
#include <ctime>

#include "common/strings.h"
#include "crypto/sha256.h"

namespace modelhub {

namespace {

// Header values are trimmed and runs of inner spaces collapse to one.
std::string CanonicalHeaderValue(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

}  // namespace

std::string SigV4CanonicalQuery(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> enc;
  enc.reserve(query.size());
  for (const auto& [k, v] : query) enc.emplace_back(UrlEncode(k), UrlEncode(v));
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

std::string AmzDate(int64_t unix_seconds) {
  std::time_t t = std::time_t(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

SigV4Signature SigV4Sign(const SigV4Credentials& creds, std::string_view region, std::string_view service,
                         std::string_view amz_date, const SigV4Request& req) {
  SigV4Signature out;
  // Headers: lowercase names, sorted; repeated names join their values with ','.
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [k, v] : req.headers) headers.emplace_back(ToLower(k), CanonicalHeaderValue(v));
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string canonical_headers;
  for (size_t i = 0; i < headers.size(); ++i) {
    if (i > 0 && headers[i].first == headers[i - 1].first) {
      canonical_headers.back() = ',';  // replaces the '\n' of the previous line
      canonical_headers += headers[i].second + "\n";
      continue;
    }
    if (!out.signed_headers.empty()) out.signed_headers += ';';
    out.signed_headers += headers[i].first;
    canonical_headers += headers[i].first + ":" + headers[i].second + "\n";
  }

  out.canonical_request = req.method + "\n" + (req.canonical_uri.empty() ? "/" : req.canonical_uri) + "\n" +
                          SigV4CanonicalQuery(req.query) + "\n" + canonical_headers + "\n" + out.signed_headers +
                          "\n" + req.payload_hash;

  std::string_view date = amz_date.substr(0, 8);
  std::string scope = std::string(date) + "/" + std::string(region) + "/" + std::string(service) + "/aws4_request";
  out.string_to_sign =
      "AWS4-HMAC-SHA256\n" + std::string(amz_date) + "\n" + scope + "\n" + Sha256Hex(out.canonical_request);

  std::string key = HmacSha256("AWS4" + creds.secret_key, date);
  key = HmacSha256(key, region);
  key = HmacSha256(key, service);
  key = HmacSha256(key, "aws4_request");
  out.signature = HexEncode(HmacSha256(key, out.string_to_sign));
  out.authorization = "AWS4-HMAC-SHA256 Credential=" + creds.access_key + "/" + scope +
                      ",SignedHeaders=" + out.signed_headers + ",Signature=" + out.signature;
  return out;
}

}  // namespace modelhub
