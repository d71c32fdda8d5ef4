// Xet access tokens: the short-lived bearer tokens the Hub hands to hf_xet
// (GET /api/{type}s/{repo}/xet-{read|write}-token/{rev}) and the CAS routes
// accept (docs/protocols/xet.md).
//
// A token is an access grant (auth/access_grant.h) under an HMAC of the signing key, so any modelhub
// process sharing the key can tell that it issued it:
//   "mhxet2." base64url(payload) "." base64url(HMAC-SHA256(key', payload))
//   payload = "<repo_id>:<r|w>:<exp unix s>:<user_id>:<token_id>"   key' = HMAC(signing_key, "xet-token-2")
// The server re-checks the grant at every use (Authenticator::CheckGrant): a token stops working when the
// hub token that obtained it is revoked, or its repository is deleted or no longer readable by that viewer.
// A write token also allows reads of the same repository.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "auth/access_grant.h"
#include "common/status.h"

namespace modelhub {

using XetTokenClaims = AccessGrant;

std::string IssueXetToken(std::string_view signing_key, const XetTokenClaims& claims);

// Unauthorized (X-Error-Code "InvalidXetToken" / "ExpiredXetToken") for anything
// that is not a token we signed, or one that expired before now_s.
Result<XetTokenClaims> VerifyXetToken(std::string_view signing_key, std::string_view token, int64_t now_s);

}  // namespace modelhub
