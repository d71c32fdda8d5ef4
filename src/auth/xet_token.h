// Xet access tokens: the short-lived bearer tokens the Hub hands to hf_xet
// (GET /api/{type}s/{repo}/xet-{read|write}-token/{rev}) and the CAS routes
// accept (docs/protocols/xet.md).
//
// A token is self-contained and signed, so any modelhub process sharing the
// signing key honours it without a database lookup:
//   "mhxet1." base64url(payload) "." base64url(HMAC-SHA256(key', payload))
//   payload = "<repo_id>:<r|w>:<exp unix s>:<user_id>"   key' = HMAC(signing_key, "xet-token")
// A write token also allows reads of the same repository.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace modelhub {

struct XetTokenClaims {
  int64_t repo_id = 0;
  bool write = false;
  int64_t exp_s = 0;     // unix seconds
  int64_t user_id = 0;   // 0 = anonymous reader of a public repo
  friend bool operator==(const XetTokenClaims&, const XetTokenClaims&) = default;
};

std::string IssueXetToken(std::string_view signing_key, const XetTokenClaims& claims);

// Unauthorized (X-Error-Code "InvalidXetToken" / "ExpiredXetToken") for anything
// that is not a token we signed, or one that expired before now_s.
Result<XetTokenClaims> VerifyXetToken(std::string_view signing_key, std::string_view token, int64_t now_s);

}  // namespace modelhub
