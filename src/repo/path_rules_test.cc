#include "repo/path_rules.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <string_view>
#include <vector>

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

// ---- .gitattributes / .gitignore matching (issue #11, finding 5) ----

namespace {

// The reference: plain backtracking over (pattern, text) offsets, memoized, as the matcher was
// before it became bit-parallel (with git's rule that a bracket never matches '/'). Slow but
// obviously right; the random test below compares the two.
class RefGlob {
 public:
  RefGlob(std::string_view p, std::string_view t, bool dir_prefix) : p_(p), t_(t), dir_prefix_(dir_prefix) {
    failed_.assign((p.size() + 1) * (t.size() + 1), false);
  }
  bool Match(size_t pi, size_t ti) {
    size_t key = pi * (t_.size() + 1) + ti;
    if (failed_[key]) return false;
    bool ok = From(pi, ti);
    if (!ok) failed_[key] = true;
    return ok;
  }

 private:
  bool From(size_t pi, size_t ti) {
    while (pi < p_.size()) {
      char c = p_[pi];
      if (c == '*') {
        size_t run = 0;
        while (pi + run < p_.size() && p_[pi + run] == '*') ++run;
        if (run == 2 && pi + 2 < p_.size() && p_[pi + 2] == '/') {
          size_t rest = pi + 3;
          if (Match(rest, ti)) return true;
          for (size_t k = ti; k < t_.size(); ++k)
            if (t_[k] == '/' && Match(rest, k + 1)) return true;
          return false;
        }
        size_t rest = pi + run;
        for (size_t k = ti; k <= t_.size(); ++k) {
          if (Match(rest, k)) return true;
          if (run == 1 && k < t_.size() && t_[k] == '/') break;
        }
        return false;
      }
      if (ti >= t_.size()) return false;
      if (c == '?') {
        if (t_[ti] == '/') return false;
        ++pi;
        ++ti;
        continue;
      }
      if (c == '[') {
        size_t end = p_.find(']', pi + 2);
        if (end != std::string_view::npos) {
          std::string_view set = p_.substr(pi + 1, end - pi - 1);
          bool negate = set[0] == '!';
          if (negate) set.remove_prefix(1);
          bool found = set.find(t_[ti]) != std::string_view::npos;
          if (found == negate || t_[ti] == '/') return false;
          pi = end + 1;
          ++ti;
          continue;
        }
      }
      if (c != t_[ti]) return false;
      ++pi;
      ++ti;
    }
    return dir_prefix_ ? (ti < t_.size() && t_[ti] == '/') : ti == t_.size();
  }
  std::string_view p_, t_;
  bool dir_prefix_;
  std::vector<bool> failed_;
};

bool RefPatternMatch(std::string_view pat, std::string_view path) {
  bool anchored = !pat.empty() && pat.front() == '/';
  if (anchored) pat.remove_prefix(1);
  bool dir_only = false;
  while (!pat.empty() && pat.back() == '/') {
    pat.remove_suffix(1);
    dir_only = true;
  }
  if (pat.empty()) return false;
  if (!anchored && pat.find('/') == std::string_view::npos) {
    size_t start = 0;
    while (true) {
      size_t slash = path.find('/', start);
      bool last = slash == std::string_view::npos;
      std::string_view name = path.substr(start, last ? std::string_view::npos : slash - start);
      if (last != dir_only && RefGlob(pat, name, false).Match(0, 0)) return true;
      if (last) return false;
      start = slash + 1;
    }
  }
  return RefGlob(pat, path, dir_only).Match(0, 0);
}

std::string RandomString(std::mt19937_64& rng, std::string_view alphabet, size_t max_len) {
  std::string s(rng() % (max_len + 1), ' ');
  for (char& c : s) c = alphabet[rng() % alphabet.size()];
  return s;
}

}  // namespace

TEST(PathRules, GlobAgreesWithBacktrackingReference) {
  std::mt19937_64 rng(11);
  int matched = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string path = RandomString(rng, "ab/", 12);
    if (path.empty()) path = "a";  // an empty path names no file: never matches
    std::string pattern = RandomString(rng, i % 2 ? "ab/*?" : "ab/*?[]!", 9);
    bool want = RefPatternMatch(pattern, path);
    ASSERT_EQ(GitPatternMatch(pattern, path), want) << "pattern '" << pattern << "' path '" << path << "'";
    matched += want;
  }
  EXPECT_GT(matched, 5000);  // the generator is not degenerate
}

TEST(PathRules, LastMatchWinsAcrossLiteralAndWildcardRules) {
  EXPECT_FALSE(IsLfsTracked("*.bin filter=lfs\nx.bin -filter\n", "x.bin"));
  EXPECT_TRUE(IsLfsTracked("*.bin filter=lfs\nx.bin -filter\n", "y.bin"));
  EXPECT_TRUE(IsLfsTracked("x.bin -filter\n*.bin filter=lfs\n", "x.bin"));
  EXPECT_FALSE(IsLfsTracked("d/x.bin filter=lfs\n*.bin !filter\n", "d/x.bin"));
  EXPECT_TRUE(IsLfsTracked("*.bin -filter\nd/x.bin filter=lfs\n", "d/x.bin"));
  EXPECT_FALSE(IsLfsTracked("*.bin -filter\nd/x.bin filter=lfs\n", "e/d/x.bin"));  // with '/': from the root
  EXPECT_TRUE(IsLfsTracked("*.bin filter=lfs\n*.bin diff=lfs\n", "x.bin"));  // no filter: does not decide
  EXPECT_FALSE(IsLfsTracked("*.bin filter=lfs\n*.bin filter=other\n", "x.bin"));
  EXPECT_TRUE(IsLfsTracked("data/** filter=lfs\n", "data/a/b.txt"));
  EXPECT_FALSE(IsLfsTracked("/top.bin filter=lfs\n", "sub/top.bin"));
  EXPECT_TRUE(IsLfsTracked("/top.bin filter=lfs\n", "top.bin"));
  EXPECT_TRUE(IsLfsTracked("[attr]lfs filter=lfs\n*.bin filter=lfs\n", "a.bin"));
  EXPECT_TRUE(IsIgnored("a/**/b\n", "a/b"));
  EXPECT_TRUE(IsIgnored("a/**/b\n", "a/x/y/b"));
  EXPECT_FALSE(IsIgnored("a/**/b\n", "a/xb"));
  EXPECT_TRUE(IsIgnored("**/x\n", "x"));
  EXPECT_FALSE(IsIgnored("a?b\n", "a/b"));
  EXPECT_FALSE(IsIgnored("a[/]b\n", "a/b"));
}

TEST(PathRules, PatternFileLimits) {
  // The pattern of the report: "*a" * 6000 + "b" is a line longer than git itself reads.
  std::string huge;
  for (int i = 0; i < 6000; ++i) huge += "*a";
  huge += "b";
  auto r = PatternRules::ParseGitAttributes(huge + " filter=lfs\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("longer than 2048 bytes"), std::string::npos) << r.status().message();
  EXPECT_FALSE(GitPatternMatch(huge, std::string(1024, 'a')));

  std::string big(kMaxPatternFileBytes + 1, '#');
  r = PatternRules::ParseGitAttributes(big);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("larger than"), std::string::npos);

  std::string many;
  for (size_t i = 0; i <= kMaxPatternRules; ++i) many += "a -text\n";
  r = PatternRules::ParseGitAttributes(many);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("patterns (limit)"), std::string::npos);

  std::string wild;
  for (size_t pattern_bytes = 0; pattern_bytes <= kMaxWildcardPatternBytes;) {
    std::string pattern = "*" + std::to_string(pattern_bytes) + "*";
    wild += pattern + " filter=lfs\n";
    pattern_bytes += pattern.size();
  }
  r = PatternRules::ParseGitAttributes(wild);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not plain names"), std::string::npos);
  EXPECT_FALSE(PatternRules::ParseGitIgnore(wild).ok());
}

TEST(PathRules, WorstCasePatternCostsTokensTimesWords) {
  // The longest line allowed, of the worst shape, against the longest path: one word operation
  // per token and 64 path bytes, not the product of their lengths nor exponential.
  std::string pattern;
  while (pattern.size() + 2 < kMaxPatternLineBytes - 20) pattern += "*a";
  pattern += "b";
  auto rules = PatternRules::ParseGitAttributes(pattern + " filter=lfs\n");
  ASSERT_TRUE(rules.ok()) << rules.status().ToString();
  std::string path(kMaxPathBytes, 'a');
  auto m = rules->Matches(path);
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(*m);
  size_t words = (path.size() + 1 + 63) / 64;
  EXPECT_LE(rules->work(), int64_t((pattern.size() + 2) * words + path.size()));
  path.back() = 'b';
  EXPECT_TRUE(GitPatternMatch(pattern, path) == (pattern.size() / 2 <= kMaxPathBytes));
}

TEST(PathRules, ManyLfsPathsAreLookedUpNotScanned) {
  // A commit of 3000 LFS files no rule covers: each path costs about its own length, whatever
  // the number of literal rules added before it.
  auto rules = PatternRules::ParseGitAttributes(DefaultGitAttributes(false));
  ASSERT_TRUE(rules.ok());
  int64_t before = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string path = "data/part " + std::to_string(i) + "/shard-" + std::to_string(i) + ".jsonl";
    before = rules->work();
    auto m = rules->Matches(path);
    ASSERT_TRUE(m.ok());
    ASSERT_FALSE(*m) << path;
    ASSERT_TRUE(rules->AddLfsPath(path).ok());
    auto again = rules->Matches(path);
    ASSERT_TRUE(again.ok() && *again) << path;
  }
  // The default rules are ~35 patterns: the last lookups cost what the first ones did.
  EXPECT_LT(rules->work() - before, 2000);
}

TEST(PathRules, MatchingWorkHasABudget) {
  // 64 KiB of slow wildcard patterns against long paths: the request stops with a clear error
  // instead of running on.
  std::string text;
  std::string slow;
  while (slow.size() < 1900) slow += "*a";
  while (text.size() + slow.size() + 20 < kMaxWildcardPatternBytes) text += slow + "c filter=lfs\n";
  auto rules = PatternRules::ParseGitAttributes(text);
  ASSERT_TRUE(rules.ok()) << rules.status().ToString();
  Status last;
  int i = 0;
  for (; i < 100000; ++i) {
    auto m = rules->Matches(std::string(kMaxPathBytes - 10, 'a') + std::to_string(i));
    if (!m.ok()) {
      last = m.status();
      break;
    }
  }
  ASSERT_FALSE(last.ok());
  EXPECT_EQ(last.code(), Code::kInvalidArgument);
  EXPECT_NE(last.message().find("steps"), std::string::npos);
  EXPECT_LE(rules->work(), kPatternMatchBudget + int64_t(kMaxPatternLineBytes * 20));
  EXPECT_GT(i, 10);
}

TEST(PathRules, LongAttributeLinesFallBackToQuestionMarks) {
  std::string path = std::string(400, ' ') + "x.bin";
  std::string line = LfsAttributeLine(path);
  EXPECT_LE(line.size(), kMaxPatternLineBytes);
  EXPECT_TRUE(IsLfsTracked(line, path));
  std::string stars(kMaxPathBytes, '*');
  EXPECT_TRUE(IsLfsTracked(LfsAttributeLine(stars), stars));
}

}  // namespace modelhub
