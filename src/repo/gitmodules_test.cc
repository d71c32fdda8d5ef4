#include "repo/gitmodules.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "common/fs.h"

namespace modelhub {
namespace {

// Tricky but readable config texts and the entries git reads from them.
TEST(Gitmodules, ParsesLikeGit) {
  auto p = ParseGitConfig(
      "\xEF\xBB\xBF# comment\n"
      "[submodule \"a \\\"q\\\" b\"]\r\n"
      "\tpath = lib/a ; trailing comment\n"
      "  URL = \"  spaced  \"  and   more \n"
      "[Submodule.Legacy]\n"
      "  url = x\\\n"
      "y\n"
      "  flag\n"
      "[submodule \"dots.in.name\"] update = \"!cmd\" # c\n");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const auto& e = *p;
  ASSERT_EQ(e.size(), 5u);
  EXPECT_EQ(e[0].section, "submodule");
  EXPECT_EQ(e[0].subsection, "a \"q\" b");
  EXPECT_EQ(e[0].key, "path");
  EXPECT_EQ(e[0].value, "lib/a");
  EXPECT_EQ(e[1].key, "url");
  EXPECT_EQ(e[1].value, "  spaced    and   more");
  EXPECT_EQ(e[1].line, 4);
  EXPECT_EQ(e[2].section, "submodule");
  EXPECT_EQ(e[2].subsection, "legacy");  // the legacy form is lower-cased
  EXPECT_EQ(e[2].value, "xy");           // backslash-newline continues the value
  EXPECT_EQ(e[3].key, "flag");
  EXPECT_FALSE(e[3].value.has_value());
  EXPECT_EQ(e[4].subsection, "dots.in.name");
  EXPECT_EQ(e[4].key, "update");
  EXPECT_EQ(e[4].value, "!cmd");
}

TEST(Gitmodules, RefusesWhatGitFsckRefuses) {
  auto check = [](const std::string& text) { return CheckGitmodules(text); };
  EXPECT_TRUE(check("").ok());
  EXPECT_TRUE(check("[submodule \"lib\"]\n\tpath = lib\n\turl = https://example.com/lib.git\n").ok());
  EXPECT_TRUE(check("[submodule \"lib\"]\n\turl = ../sibling.git\n\tupdate = rebase\n").ok());
  EXPECT_TRUE(check("[core]\n\turl = --not-a-submodule\n").ok());  // only [submodule "..."] sections
  for (const char* bad : {
           "[submodule \"x\"]\n\turl = --upload-pack=touch /tmp/pwned\n",
           "[submodule \"x\"]\n\turl = \"-u./payload\"\n",
           "[submodule \"x\"]\n\tURL = -oProxyCommand=x\n",
           "[submodule.x]\n\turl = --upload-pack=x\n",
           "[submodule \"x\"]\n\tpath = --output=x\n",
           "[submodule \"x\"]\n\tupdate = !rm -rf ~\n",
           "[submodule \"../../hooks\"]\n\tpath = x\n",
           "[submodule \"a\\\\..\\\\b\"]\n\tpath = x\n",
           "[submodule \"..\"]\n\tpath = x\n",
           "[submodule \"x\"]\n\turl = ./foo%0Ahost=evil\n",
           "[submodule \"x\"]\n\turl = https://user%0a@example.com/x\n",
           "[submodule \"x\"]\n\turl = http::./foo\n",
           "[submodule \"x\"]\n\turl = https:///no-host\n",
           "[submodule \"x\"]\n\tpath = ok\n\turl = \"unterminated\n",  // not readable by git
       }) {
    Status s = check(bad);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad;
  }
  Status s = check("[submodule \"x\"]\n\turl = --upload-pack=touch /tmp/x\n");
  EXPECT_NE(s.message().find("line 2"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("url"), std::string::npos) << s.message();
}

TEST(Gitmodules, PathsGitReadsAsGitmodules) {
  for (const char* yes : {".gitmodules", "sub/dir/.gitmodules", ".GitModules", ".gitmodules.", ".gitmodules  ",
                          "GITMOD~1", ".git\xE2\x80\x8Cmodules"}) {
    EXPECT_TRUE(IsGitmodulesPath(yes)) << yes;
  }
  for (const char* no : {"gitmodules", ".gitmodules/x", ".gitmodulesx", "x.gitmodules", "gitmod~", "gitmod~1x"}) {
    EXPECT_FALSE(IsGitmodulesPath(no)) << no;
  }
}

// Runs a shell command; its stdout, and whether it exited 0.
std::pair<std::string, bool> Sh(const std::string& cmd) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr) return {"", false};
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int rc = ::pclose(f);
  return {out, rc == 0};
}

class GitmodulesVsGit : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mh_gitmodules.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { (void)RemoveAll(dir_); }

  std::string Write(const std::string& text) {
    std::string path = dir_ + "/config";
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  // What `git config --list` reads, "name=value" per entry (bare keys without "="); nullopt if
  // git cannot parse the text.
  std::optional<std::vector<std::string>> GitList(const std::string& text) {
    auto [out, ok] = Sh("GIT_CONFIG_NOSYSTEM=1 git config --file '" + Write(text) + "' --list --null 2>/dev/null");
    if (!ok) return std::nullopt;
    std::vector<std::string> entries;
    size_t start = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i] != '\0') continue;
      std::string e = out.substr(start, i - start);
      size_t nl = e.find('\n');
      if (nl != std::string::npos) e[nl] = '=';
      entries.push_back(e);
      start = i + 1;
    }
    return entries;
  }

  // Whether `git fsck` refuses a commit whose tree holds this .gitmodules; nullopt if fsck cannot
  // parse the blob (it only notes that: gitmodulesParse is an "info" check).
  std::optional<bool> FsckRefuses(const std::string& text) {
    // A new repository each time: fsck looks at unreachable objects too.
    const std::string repo = dir_ + "/r" + std::to_string(++repos_) + ".git";
    if (!Sh("git init -q --bare '" + repo + "'").second) return std::nullopt;
    std::string git = "git --git-dir='" + repo + "' ";
    auto [blob, ok] = Sh(git + "hash-object -w '" + Write(text) + "'");
    if (!ok) return std::nullopt;
    blob.resize(40);
    auto [tree, ok2] = Sh("printf '100644 blob " + blob + "\\t.gitmodules\\n' | " + git + "mktree");
    if (!ok2) return std::nullopt;
    tree.resize(40);
    auto [commit, ok3] = Sh(git + "-c user.name=t -c user.email=t@t commit-tree " + tree + " -m x");
    if (!ok3) return std::nullopt;
    commit.resize(40);
    if (!Sh(git + "update-ref refs/heads/main " + commit).second) return std::nullopt;
    auto [report, clean] = Sh(git + "-c fsck.gitmodulesParse=error fsck --no-progress 2>&1");
    if (report.find("gitmodulesParse") != std::string::npos) return std::nullopt;
    return !clean;
  }

  std::string dir_;
  int repos_ = 0;
};

const std::vector<std::string>& Corpus() {
  static const std::vector<std::string> c = {
      "[submodule \"lib\"]\n\tpath = lib\n\turl = https://example.com/lib.git\n",
      "[submodule \"x\"]\n\turl = --upload-pack=touch /tmp/x\n",
      "[submodule \"x\"]\n\turl = \"--upload-pack=x\"\n",
      "[submodule \"x\"]\n\turl = \" --upload-pack=x\"\n",
      "[submodule \"x\"]\nurl=-x\n",
      "[submodule \"x\"]\n\turl = a\\\n-b\n",
      "[submodule \"x\"] url = -x",
      "[submodule.x]\n\turl = -x\n",
      "[SubModule \"X\"]\n\tUrl = -x\n",
      "[submodule \"x\"]\n\tpath = -p\n",
      "[submodule \"x\"]\n\tpath = \"-p\"\n",
      "[submodule \"x\"]\n\tupdate = !cmd\n",
      "[submodule \"x\"]\n\tupdate = \"!cmd\"\n",
      "[submodule \"x\"]\n\tupdate = checkout\n",
      "[submodule \"../x\"]\n\tpath = p\n",
      "[submodule \"a/../b\"]\n\tpath = p\n",
      "[submodule \"a..b\"]\n\tpath = p\n",
      "[submodule \"x\"]\n\turl = ./a%0ab\n",
      "[submodule \"x\"]\n\turl = https://a%0a@host/x\n",
      "[submodule \"x\"]\n\turl = https:///x\n",
      "[submodule \"x\"]\n\turl = http::./x\n",
      "[submodule \"x\"]\n\turl = git@host:x.git\n",
      "[submodule \"x\"]\n\tflag\n\turl\n",
      "[submodule \"x\"]\n\turl = ok # -x\n",
      "[submodule \"x\"]\n\turl = ok ; -x\n",
      "[submodule \"x\"]\n\turl = \"ok # not a comment\"\n",
      "[submodule \"x\"]\r\n\turl = -x\r\n",
      "[submodule \"x\"]\n\turl = \\t-x\n",
      "[submodule \"x\"]\n\turl = \\-x\n",
      "[submodule \"x\"\n\turl = -x\n",
      "[submodule  \"a\\\"b\"]\n\turl = -x\n",
      "url = -x\n",
      "\xEF\xBB\xBF[submodule \"x\"]\n\turl = -x\n",
      "\xEF\xBB[submodule \"x\"]\n\turl = -x\n",
      "[submodule \"x\"]\n\t9url = -x\n",
      "[submodule \"x\"]\n\tur_l = -x\n",
      "[sub module]\n",
      "[]\n",
      "[submodule \"x\"]\n\turl = a\\qb\n",
      "[submodule \"x\"]\n\turl = \"a\n",
      "[submodule \"x\"]\n\turl = a\\",
      "[submodule \"x\"]\n\turl = \"a\\",
      "[submodule \"x\"]\n\turl\t=\t\t-x\t \n",
      "[submodule \"x\"]\n  url  -x\n",
      "[a.b \"c\"]\n\tk = v\n",
      "[submodule \"x\"]\n\turl = a\rb\n",
      "[submodule \"x\"]\n\turl = a\vb\n",
  };
  return c;
}

// The parser reads what git's config parser reads (names, values, and where it gives up).
TEST_F(GitmodulesVsGit, SameEntriesAsGitConfig) {
  for (const std::string& text : Corpus()) {
    auto ours = ParseGitConfig(text);
    auto theirs = GitList(text);
    ASSERT_EQ(ours.ok(), theirs.has_value()) << "text: " << text << "\nours: " << ours.status().ToString();
    if (!theirs) continue;
    std::vector<std::string> mine;
    for (const auto& e : *ours) {
      std::string name = e.section.empty() ? e.key : e.section + (e.has_subsection ? "." + e.subsection : "") + "." + e.key;
      mine.push_back(e.value ? name + "=" + *e.value : name);
    }
    EXPECT_EQ(mine, *theirs) << "text: " << text;
  }
}

// CheckGitmodules refuses a .gitmodules exactly when git's fsck does, wherever fsck can read it.
// (Text fsck cannot read, fsck only notes: we refuse what git config cannot read, and check the
// entries of the rest, e.g. a file starting with a byte order mark.)
TEST_F(GitmodulesVsGit, SameVerdictAsGitFsck) {
  int compared = 0;
  for (const std::string& text : Corpus()) {
    auto fsck = FsckRefuses(text);
    if (!fsck) {
      if (!GitList(text)) {
        EXPECT_FALSE(CheckGitmodules(text).ok()) << "text: " << text;
      }
      continue;
    }
    ++compared;
    EXPECT_EQ(!CheckGitmodules(text).ok(), *fsck) << "text: " << text << "\nours: " << CheckGitmodules(text).ToString();
  }
  EXPECT_GT(compared, 30);
}

}  // namespace
}  // namespace modelhub
