// Access grants: what a signed URL or a Xet access token lets its bearer do, and for whom it was issued.
//
// Two kinds of bearer credential work without the hub token: signed URLs (LFS uploads, multipart parts and
// completions, LFS downloads, Xet xorb byte ranges) and Xet access tokens (auth/xet_token.h, the CAS). Each
// carries an AccessGrant under an HMAC of the data folder's signing key: the repository it was issued for,
// the user and the hub token that obtained it (0 and 0: an anonymous reader), read or write, and an expiry.
//
// The HMAC proves that the server issued the grant, not that it still holds: every use re-checks it
// (Authenticator::CheckGrant, auth/auth.h): the token is not revoked, the repository still exists, and the
// same viewer may still read it (write: write it) under the rules of today. Revoking a token, making a
// repository private, removing a member or deleting a repository therefore ends every grant at once; the
// expiry only bounds how long a leaked URL is worth trying.
//
// Signed URL query (after the resource's own query, if any):
//   "repo=R&user=U&tok=T&exp=E&sig=S"
//   S = base64url(HMAC-SHA256(key', "<METHOD>\n<resource>\nR\nU\nT\nE"))   key' = HMAC(signing_key, "signed-url-2")
// resource: the URL path relative to the public URL, plus "?r=a-b" for Xet xorb range URLs. Whether the
// grant writes follows from the method the handler verifies with (GET/HEAD read, PUT/POST write).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace modelhub {

struct AccessGrant {
  int64_t repo_id = 0;
  bool write = false;
  int64_t exp_s = 0;     // unix seconds
  int64_t user_id = 0;   // 0: anonymous
  int64_t token_id = 0;  // the hub token that obtained the grant; 0: none (anonymous)
  friend bool operator==(const AccessGrant&, const AccessGrant&) = default;
};

// "repo=…&user=…&tok=…&exp=…&sig=…" for method on resource (g.write is not encoded: the method says it).
std::string SignedUrlQuery(std::string_view signing_key, std::string_view method, std::string_view resource,
                           const AccessGrant& g);

// Looks up one query parameter of the request being verified.
using QueryLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Checks the signature of a request for method on resource and its expiry against now_s. Forbidden
// ("This URL must be signed …", "Invalid signature", "This signed URL has expired") otherwise. The grant
// returned has write = `write`; the caller still re-checks it (Authenticator::CheckGrant).
Result<AccessGrant> VerifySignedUrl(std::string_view signing_key, std::string_view method, std::string_view resource,
                                    const QueryLookup& query, bool write, int64_t now_s);

}  // namespace modelhub
