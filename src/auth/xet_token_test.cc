#include "auth/xet_token.h"

#include <gtest/gtest.h>

namespace modelhub {
namespace {

TEST(XetToken, RoundTrip) {
  XetTokenClaims c{42, true, 2000000000, 7, 9};
  std::string t = IssueXetToken("key", c);
  auto got = VerifyXetToken("key", t, 1000);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, c);
  XetTokenClaims r{3, false, 5000, 0, 0};
  auto got_r = VerifyXetToken("key", IssueXetToken("key", r), 5000);
  ASSERT_TRUE(got_r.ok());
  EXPECT_EQ(*got_r, r);
}

TEST(XetToken, RefusesExpiredForeignAndAltered) {
  std::string t = IssueXetToken("key", {42, false, 1000, 7, 9});
  auto expired = VerifyXetToken("key", t, 1001);
  EXPECT_EQ(expired.status().code(), Code::kUnauthorized);
  EXPECT_EQ(expired.status().hub_code(), "ExpiredXetToken");
  EXPECT_EQ(VerifyXetToken("other key", t, 10).status().hub_code(), "InvalidXetToken");
  // Flip each character of the token in turn: never accepted.
  for (size_t i = 0; i < t.size(); ++i) {
    std::string bad = t;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(VerifyXetToken("key", bad, 10).ok()) << "position " << i;
  }
  for (std::string_view junk : {"", "mhxet2.", "mhxet2..", "hf_abc", "mhxet2.YQ.YQ"}) {
    EXPECT_FALSE(VerifyXetToken("key", junk, 10).ok()) << junk;
  }
  EXPECT_FALSE(VerifyXetToken("key", std::string(600, 'a'), 10).ok());
}

}  // namespace
}  // namespace modelhub
