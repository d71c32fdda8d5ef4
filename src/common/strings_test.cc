#include "common/strings.h"

#include <gtest/gtest.h>

namespace modelhub {

TEST(Strings, UrlDecode) {
  EXPECT_EQ(*UrlDecode("refs%2Fpr%2F1"), "refs/pr/1");
  EXPECT_EQ(*UrlDecode("a+b"), "a+b");
  EXPECT_EQ(*UrlDecode("a+b", true), "a b");
  EXPECT_FALSE(UrlDecode("%2").has_value());
  EXPECT_FALSE(UrlDecode("%zz").has_value());
  EXPECT_FALSE(UrlDecode("abc%").has_value());
}

TEST(Strings, UrlEncode) {
  EXPECT_EQ(UrlEncode("a/b c"), "a%2Fb%20c");
  EXPECT_EQ(UrlEncode("a/b c", true), "a/b%20c");
}

TEST(Strings, Base64RoundTrip) {
  for (std::string s : {"", "a", "ab", "abc", "abcd", "hello world\xff\x00"}) {
    EXPECT_EQ(*Base64Decode(Base64Encode(s)), s);
    EXPECT_EQ(*Base64UrlDecode(Base64UrlEncode(s)), s);
  }
  EXPECT_EQ(Base64Encode("hello"), "aGVsbG8=");
  EXPECT_FALSE(Base64Decode("aGVsbG8").has_value());  // std alphabet requires padding
  EXPECT_FALSE(Base64Decode("aGV*bG8=").has_value());
}

TEST(Strings, ParseBoolAndInt) {
  EXPECT_EQ(ParseBool("True"), true);
  EXPECT_EQ(ParseBool("0"), false);
  EXPECT_FALSE(ParseBool("maybe").has_value());
  EXPECT_EQ(ParseInt64("123"), 123);
  EXPECT_FALSE(ParseInt64("12a").has_value());
  EXPECT_FALSE(ParseInt64("").has_value());
}


TEST(Strings, RedactPathsHidesServerPaths) {
  EXPECT_EQ(RedactPaths("update refs/heads/main: failed to lock file '/srv/d/repos/1.git/refs/heads/main.lock' for "
                        "writing: "),
            "update refs/heads/main: failed to lock file 'refs/heads/main.lock' for writing: ");
  EXPECT_EQ(RedactPaths("Unable to create '/srv/d/repos/1.git/./refs/heads/main.lock': File exists."),
            "Unable to create 'refs/heads/main.lock': File exists.");
  EXPECT_EQ(RedactPaths("open /srv/data/blobs/.tmp/abc: No space left on device"),
            "open .../abc: No space left on device");
  EXPECT_EQ(RedactPaths("/srv/data/modelhub.db: disk I/O error"), ".../modelhub.db: disk I/O error");
  EXPECT_EQ(RedactPaths("repository at (/x/7.git) is gone"), "repository at (.../7.git) is gone");
  // Left alone: URLs, relative paths, lone slashes, text without paths.
  EXPECT_EQ(RedactPaths("see http://h:1/a/b and refs/heads/x, a / b"), "see http://h:1/a/b and refs/heads/x, a / b");
  EXPECT_EQ(RedactPaths(""), "");
  EXPECT_EQ(RedactPaths("/"), "/");
  EXPECT_EQ(RedactPaths("x=/a/b/"), "x=.../b");
  // A doubled slash below the git directory still gives a relative path, and a second pass changes
  // nothing (fuzz_git_pkt found "'/s/a.git//rt;" becoming "'/rt;", then "'.../rt;").
  EXPECT_EQ(RedactPaths("'/s/a.git//rt;x"), "'rt;x");
  EXPECT_EQ(RedactPaths("'/s/a.git//rt(/srv/y\n"), "'rt(.../y\n");
  for (const char* m : {"'/s/a.git//rt;x", "'/s/a.git//rt(/srv/y\n", "Unable to create '/srv/d/repos/1.git/./refs/heads/main.lock'",
                        "open /srv/data/blobs/.tmp/abc: x", "(/x/7.git)"}) {
    EXPECT_EQ(RedactPaths(RedactPaths(m)), RedactPaths(m)) << m;
  }
}

}  // namespace modelhub
