#include "auth/access_grant.h"

#include <gtest/gtest.h>

#include <map>

#include "common/strings.h"

namespace modelhub {
namespace {

// The query parameters of "a=1&b=2".
std::map<std::string, std::string, std::less<>> Params(const std::string& q) {
  std::map<std::string, std::string, std::less<>> out;
  for (const auto& kv : Split(q, '&')) {
    auto eq = kv.find('=');
    if (eq != std::string::npos) out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

QueryLookup LookupIn(const std::map<std::string, std::string, std::less<>>& m) {
  return [&m](std::string_view name) -> std::optional<std::string> {
    auto it = m.find(name);
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}

TEST(AccessGrant, SignedUrlRoundTrip) {
  AccessGrant g{42, false, 2000000000, 7, 9};
  auto p = Params(SignedUrlQuery("key", "GET", "/api/lfs-object/42/abc", g));
  EXPECT_EQ(p["repo"], "42");
  EXPECT_EQ(p["user"], "7");
  EXPECT_EQ(p["tok"], "9");
  auto got = VerifySignedUrl("key", "GET", "/api/lfs-object/42/abc", LookupIn(p), false, 1000);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, g);
  // The verifier decides whether the grant writes (from the method it checks).
  auto p2 = Params(SignedUrlQuery("key", "PUT", "/x", g));
  auto w = VerifySignedUrl("key", "PUT", "/x", LookupIn(p2), true, 1000);
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(w->write);
  // Anonymous grants round-trip too.
  AccessGrant anon{3, false, 5000, 0, 0};
  auto p3 = Params(SignedUrlQuery("key", "GET", "/y", anon));
  auto a = VerifySignedUrl("key", "GET", "/y", LookupIn(p3), false, 5000);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, anon);
}

TEST(AccessGrant, RefusesAlteredForeignExpiredAndUnsigned) {
  AccessGrant g{42, false, 2000, 7, 9};
  const std::string q = SignedUrlQuery("key", "GET", "/r", g);
  const auto good = Params(q);
  auto verify = [](const std::map<std::string, std::string, std::less<>>& p, std::string_view method = "GET",
                   std::string_view resource = "/r", std::string_view key = "key", int64_t now = 1000) {
    return VerifySignedUrl(key, method, resource, LookupIn(p), false, now);
  };
  ASSERT_TRUE(verify(good).ok());
  // Another method, resource or key.
  EXPECT_EQ(verify(good, "PUT").status().code(), Code::kForbidden);
  EXPECT_EQ(verify(good, "GET", "/r2").status().code(), Code::kForbidden);
  EXPECT_EQ(verify(good, "GET", "/r", "other key").status().code(), Code::kForbidden);
  // Each parameter altered: rebinding to another repo, user or token, or a later expiry.
  for (const char* name : {"repo", "user", "tok", "exp"}) {
    auto p = good;
    p[name] = std::to_string(std::stoll(p[name]) + 1);
    EXPECT_EQ(verify(p).status().code(), Code::kForbidden) << name;
    p[name] = "x";
    EXPECT_EQ(verify(p).status().code(), Code::kForbidden) << name;
    p.erase(name);
    EXPECT_EQ(verify(p).status().code(), Code::kForbidden) << name;
  }
  auto p = good;
  p["sig"][0] = p["sig"][0] == 'A' ? 'B' : 'A';
  EXPECT_EQ(verify(p).status().code(), Code::kForbidden);
  p.erase("sig");
  EXPECT_EQ(verify(p).status().code(), Code::kForbidden);
  // Expired.
  auto late = verify(good, "GET", "/r", "key", 2001);
  EXPECT_EQ(late.status().code(), Code::kForbidden);
  EXPECT_NE(late.status().message().find("expired"), std::string::npos);
}

}  // namespace
}  // namespace modelhub
