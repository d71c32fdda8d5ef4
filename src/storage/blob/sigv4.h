// AWS Signature Version 4 for S3 requests (header-based, single-chunk payload).
//
// The signer is a pure function of its inputs: it takes the request as the
// caller will send it (method, already-encoded path, raw query parameters,
// headers, payload hash) plus credentials, region and time, and returns the
// Authorization header value. It never does I/O. Spec: the AWS SigV4 signing
// process (canonical request -> string to sign -> derived key -> signature);
// test vectors from AWS's documentation are in sigv4_test.cc.
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace modelhub {

struct SigV4Credentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // optional (STS); sent as x-amz-security-token
};

struct SigV4Request {
  std::string method;         // "GET", "PUT", ...
  std::string canonical_uri;  // URI-encoded path as sent, e.g. "/bucket/a%24b" ("/" when empty)
  // Query parameters, raw (not encoded), in any order; a name without a value
  // ("?uploads") has an empty value.
  std::vector<std::pair<std::string, std::string>> query;
  // Headers to sign, including host and x-amz-date; names in any case.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload_hash;  // hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

struct SigV4Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;range;x-amz-date"
  std::string signature;       // 64 hex chars
  std::string authorization;   // the Authorization header value
};

inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// amz_date is the request time as "YYYYMMDDTHHMMSSZ" (the x-amz-date header).
SigV4Signature SigV4Sign(const SigV4Credentials& creds, std::string_view region, std::string_view service,
                         std::string_view amz_date, const SigV4Request& req);

// The canonical query string: each name and value URI-encoded ('/' too),
// sorted by encoded name then value, joined with '&'.
std::string SigV4CanonicalQuery(const std::vector<std::pair<std::string, std::string>>& query);

// "YYYYMMDDTHHMMSSZ" for a Unix time (UTC).
std::string AmzDate(int64_t unix_seconds);

}  // namespace modelhub
