#include "auth/xet_token.h"

#include <fmt/format.h>

#include "common/strings.h"
#include "crypto/sha256.h"

namespace modelhub {

namespace {

constexpr std::string_view kPrefix = "mhxet2.";

std::string TokenKey(std::string_view signing_key) { return HmacSha256(signing_key, "xet-token-2"); }

Status Invalid() { return Status(Code::kUnauthorized, "Invalid Xet access token", "InvalidXetToken"); }

}  // namespace

std::string IssueXetToken(std::string_view signing_key, const XetTokenClaims& c) {
  std::string payload = fmt::format("{}:{}:{}:{}:{}", c.repo_id, c.write ? 'w' : 'r', c.exp_s, c.user_id, c.token_id);
  return std::string(kPrefix) + Base64UrlEncode(payload) + "." + Base64UrlEncode(HmacSha256(TokenKey(signing_key), payload));
}

Result<XetTokenClaims> VerifyXetToken(std::string_view signing_key, std::string_view token, int64_t now_s) {
  if (token.size() > 512 || token.substr(0, kPrefix.size()) != kPrefix) return Invalid();
  token.remove_prefix(kPrefix.size());
  size_t dot = token.find('.');
  if (dot == std::string_view::npos) return Invalid();
  auto payload = Base64UrlDecode(token.substr(0, dot));
  auto sig = Base64UrlDecode(token.substr(dot + 1));
  if (!payload || !sig) return Invalid();
  if (!ConstantTimeEquals(HmacSha256(TokenKey(signing_key), *payload), *sig)) return Invalid();
  std::vector<std::string> f = Split(*payload, ':');
  if (f.size() != 5 || (f[1] != "r" && f[1] != "w")) return Invalid();
  auto repo = ParseInt64(f[0]);
  auto exp = ParseInt64(f[2]);
  auto user = ParseInt64(f[3]);
  auto token_id = ParseInt64(f[4]);
  if (!repo || !exp || !user || !token_id) return Invalid();
  if (*exp < now_s) {
    return Status(Code::kUnauthorized, "Xet access token expired; fetch a new one from the xet token endpoint",
                                "ExpiredXetToken");
  }
  return XetTokenClaims{*repo, f[1] == "w", *exp, *user, *token_id};
}

}  // namespace modelhub
