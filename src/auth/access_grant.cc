#include "auth/access_grant.h"

#include <fmt/format.h>

#include "common/strings.h"
#include "crypto/sha256.h"

namespace modelhub {

namespace {

std::string UrlKey(std::string_view signing_key) { return HmacSha256(signing_key, "signed-url-2"); }

std::string Signature(std::string_view signing_key, std::string_view method, std::string_view resource,
                      const AccessGrant& g) {
  return Base64UrlEncode(HmacSha256(
      UrlKey(signing_key), fmt::format("{}\n{}\n{}\n{}\n{}\n{}", method, resource, g.repo_id, g.user_id, g.token_id, g.exp_s)));
}

}  // namespace

std::string SignedUrlQuery(std::string_view signing_key, std::string_view method, std::string_view resource,
                           const AccessGrant& g) {
  return fmt::format("repo={}&user={}&tok={}&exp={}&sig={}", g.repo_id, g.user_id, g.token_id, g.exp_s,
                     Signature(signing_key, method, resource, g));
}

Result<AccessGrant> VerifySignedUrl(std::string_view signing_key, std::string_view method, std::string_view resource,
                                    const QueryLookup& query, bool write, int64_t now_s) {
  auto repo = query("repo");
  auto user = query("user");
  auto tok = query("tok");
  auto exp = query("exp");
  auto sig = query("sig");
  if (!repo || !user || !tok || !exp || !sig) {
    return Status::Forbidden("This URL must be signed (repo, user, tok, exp and sig query parameters)");
  }
  auto repo_id = ParseInt64(*repo);
  auto user_id = ParseInt64(*user);
  auto token_id = ParseInt64(*tok);
  auto exp_s = ParseInt64(*exp);
  if (!repo_id || !user_id || !token_id || !exp_s) return Status::Forbidden("Invalid signature");
  AccessGrant g{*repo_id, write, *exp_s, *user_id, *token_id};
  if (!ConstantTimeEquals(Signature(signing_key, method, resource, g), *sig)) return Status::Forbidden("Invalid signature");
  if (g.exp_s < now_s) return Status::Forbidden("This signed URL has expired");
  return g;
}

}  // namespace modelhub
