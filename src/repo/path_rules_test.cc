#include "repo/path_rules.h"

#include <gtest/gtest.h>

#include <chrono>

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
