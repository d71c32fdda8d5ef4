#include "repo/path_rules.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace modelhub {

TEST(PathRules, RepoNames) {
  EXPECT_TRUE(ValidateRepoNamePart("gpt2-small_v1.0", "name").ok());
  for (std::string bad : {std::string(""), std::string("a--b"), std::string("a..b"), std::string("-a"), std::string("a-"),
                          std::string(".a"), std::string("a."), std::string("x.git"), std::string("a b"),
                          std::string("a/b"), std::string(97, 'a')})
    EXPECT_FALSE(ValidateRepoNamePart(bad, "name").ok()) << bad;
}

TEST(PathRules, FilePaths) {
  EXPECT_TRUE(ValidateFilePath("a/b/c.txt").ok());
  EXPECT_TRUE(ValidateFilePath("weights/model-00001-of-00002.safetensors").ok());
  EXPECT_TRUE(ValidateFilePath("dir with space/ü.txt").ok());
  for (std::string bad : {std::string(""), std::string("/abs"), std::string("a/../b"), std::string("../a"),
                          std::string("a\\b"), std::string(".git/config"), std::string("x/.GIT/y"),
                          std::string("a//b"), std::string("a/"), std::string("a\0b", 3), std::string(1025, 'a'),
                          std::string("bad\xff utf8"), std::string("./a")})
    EXPECT_FALSE(ValidateFilePath(bad).ok()) << bad;
}

TEST(PathRules, NfcNames) {
  EXPECT_EQ(NfcName("plain.txt"), "plain.txt");
  EXPECT_EQ(NfcName("cafe\xcc\x81.txt"), "caf\xc3\xa9.txt");      // e + U+0301 -> U+00E9
  EXPECT_EQ(NfcName("caf\xc3\xa9.txt"), "caf\xc3\xa9.txt");       // already NFC
  EXPECT_EQ(NfcName("\xe2\x84\xaa.txt"), "K.txt");                 // U+212A KELVIN SIGN
  EXPECT_EQ(NfcName("bad\xff"), "bad\xff");                         // not UTF-8: unchanged
}

TEST(PathRules, NfcTwinsInOneFolder) {
  const std::string nfc = "caf\xc3\xa9.txt", nfd = "cafe\xcc\x81.txt";
  // Adding the second spelling next to the first is refused, either way round, also both at once.
  Status s = CheckNfcTwins("dir/", {nfc, nfd, "other"}, {nfd});
  ASSERT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("dir/cafe\\u0301.txt"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("dir/caf\\u00e9.txt"), std::string::npos) << s.message();
  EXPECT_EQ(CheckNfcTwins("", {nfc, nfd}, {nfc}).code(), Code::kInvalidArgument);
  EXPECT_EQ(CheckNfcTwins("", {nfc, nfd}, {nfc, nfd}).code(), Code::kInvalidArgument);
  EXPECT_EQ(CheckNfcTwins("", {"K.txt", "\xe2\x84\xaa.txt"}, {"K.txt"}).code(), Code::kInvalidArgument);
  // Replacing a file under its own name, distinct names, and old twins the change does not touch pass.
  EXPECT_TRUE(CheckNfcTwins("", {nfc, "a"}, {nfc}).ok());
  EXPECT_TRUE(CheckNfcTwins("", {nfc, "cafe.txt", "Caf\xc3\xa9.txt"}, {"cafe.txt", "Caf\xc3\xa9.txt"}).ok());
  EXPECT_TRUE(CheckNfcTwins("", {nfc, nfd, "new"}, {"new"}).ok());
  EXPECT_TRUE(CheckNfcTwins("", {nfc, nfd}, {}).ok());
}

TEST(PathRules, LfsPointerRoundTrip) {
  std::string oid(64, 'a');
  auto p = ParseLfsPointer(FormatLfsPointer(oid, 1234));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->oid, oid);
  EXPECT_EQ(p->size, 1234);
  EXPECT_FALSE(ParseLfsPointer("hello").has_value());
  EXPECT_FALSE(ParseLfsPointer("version https://git-lfs.github.com/spec/v1\noid sha256:xyz\nsize 1\n").has_value());
}

TEST(PathRules, GitAttributes) {
  std::string attrs = DefaultGitAttributes(false);
  EXPECT_TRUE(IsLfsTracked(attrs, "model.safetensors"));
  EXPECT_TRUE(IsLfsTracked(attrs, "sub/dir/model.bin"));
  EXPECT_TRUE(IsLfsTracked(attrs, "saved_model/a/b/variables.data"));
  EXPECT_TRUE(IsLfsTracked(attrs, "runs/events.out.tfevents.123"));
  EXPECT_FALSE(IsLfsTracked(attrs, "config.json"));
  EXPECT_FALSE(IsLfsTracked(attrs, "README.md"));
  EXPECT_TRUE(IsLfsTracked(attrs + LfsAttributeLine("data/big file.csv"), "data/big file.csv"));
  EXPECT_FALSE(IsLfsTracked(attrs + LfsAttributeLine("data/big file.csv"), "data/big_file.csv"));
  EXPECT_FALSE(IsLfsTracked("*.bin filter=lfs\n*.bin -filter\n", "x.bin"));
}

TEST(PathRules, GitIgnore) {
  EXPECT_TRUE(IsIgnored("*.log\n", "a/b.log"));
  EXPECT_TRUE(IsIgnored("build/\n", "build/x.o"));
  EXPECT_FALSE(IsIgnored("*.log\n!keep.log\n", "keep.log"));
  EXPECT_TRUE(IsIgnored("/root.txt\n", "root.txt"));
  EXPECT_FALSE(IsIgnored("/root.txt\n", "sub/root.txt"));
  EXPECT_TRUE(IsIgnored("docs/**/*.tmp\n", "docs/a/b/c.tmp"));
}

TEST(PathRules, GlobIsNotExponential) {
  // Found by fuzz_path_rules: many stars against a long name used to backtrack exponentially.
  std::string name(40, 'a');
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(GitPatternMatch("**************b", name));
  EXPECT_FALSE(GitPatternMatch("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", name));
  EXPECT_TRUE(GitPatternMatch("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a", name));
  // Found by fuzz_path_rules: a directory pattern ("...///") against a path of many slashes.
  EXPECT_FALSE(GitPatternMatch("*%*/cache" + std::string(40, '/') + ".g" + std::string(9, '/'),
                               "em..s" + std::string(60, '/') + "x"));
  EXPECT_TRUE(GitPatternMatch("a/*/", "a/b/c.txt"));
  EXPECT_FALSE(GitPatternMatch("a/*/", "a/b"));
  EXPECT_TRUE(GitPatternMatch("build/", "x/build/y.o"));
  EXPECT_FALSE(GitPatternMatch("build/", "x/build"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(PathRules, AttributeLineForQuotedNames) {
  // Found by fuzz_path_rules: a leading '"' made the line an unterminated quoted pattern.
  for (std::string p : {std::string("\"weights.bin"), std::string("a\"b/c d.bin"), std::string("#x.bin"),
                        std::string("!y.bin")}) {
    EXPECT_TRUE(IsLfsTracked(LfsAttributeLine(p), p)) << p;
  }
  // Found by fuzz_path_rules in CI: a 219-byte name of mostly spaces ("[[:space:]]" each).
  std::string spaces = std::string(200, ' ') + "W" + std::string(18, ' ');
  EXPECT_TRUE(IsLfsTracked(LfsAttributeLine(spaces), spaces));
}

}  // namespace modelhub
