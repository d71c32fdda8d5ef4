#include "api/git_pkt.h"

#include <gtest/gtest.h>

#include <string>

namespace modelhub {
namespace {

std::string Pkt(const std::string& payload) {
  char head[5];
  std::snprintf(head, sizeof head, "%04zx", payload.size() + 4);
  return head + payload;
}

TEST(GitPkt, RedactsPathsInMessageBandsOnly) {
  const std::string msg = "error: Unable to create '/srv/data/repos/7.git/./refs/heads/main.lock': File exists.\n";
  const std::string report = Pkt("unpack ok\n") + Pkt("ng refs/heads/main failed to update ref\n") + "0000";
  std::string in = Pkt("\x02" + msg) + Pkt("\x01" + report) + Pkt("\x03" "fatal: /srv/data/x\n") + "0000";
  auto out = RedactPushResult(in);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->find("/srv/data"), std::string::npos) << *out;
  EXPECT_NE(out->find("refs/heads/main.lock"), std::string::npos) << *out;
  EXPECT_NE(out->find(Pkt("\x01" + report)), std::string::npos) << "band 1 must pass byte for byte";
  // Still well-framed: redacting again changes nothing.
  auto again = RedactPushResult(*out);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, *out);
}

TEST(GitPkt, LeavesCleanOutputAlone) {
  std::string in = Pkt("\x01" + Pkt("unpack ok\n") + Pkt("ok refs/heads/main\n") + "0000") + "0000";
  auto out = RedactPushResult(in);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(*out, in);
  EXPECT_EQ(RedactPushResult("").value(), "");
}

TEST(GitPkt, RefusesWhatIsNotPktLines) {
  EXPECT_FALSE(RedactPushResult("00").has_value());
  EXPECT_FALSE(RedactPushResult("zzzz").has_value());
  EXPECT_FALSE(RedactPushResult("0003").has_value());
  EXPECT_FALSE(RedactPushResult("0010abc").has_value());  // longer than what is there
}

}  // namespace
}  // namespace modelhub
