#include "repo/git_repo.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "common/fs.h"
#include "common/sole_writer.h"
#include "repo/stale_locks.h"

namespace modelhub {
namespace {

namespace fs = std::filesystem;

const GitSignature kAlice{"Alice", "alice@example.com", 1700000000};

FileOp Upsert(std::string path, std::string content) {
  return FileOp{FileOp::Kind::kUpsert, std::move(path), std::move(content), {}};
}
FileOp Delete(std::string path) { return FileOp{FileOp::Kind::kDelete, std::move(path), {}, {}}; }
FileOp DeleteFolder(std::string path) { return FileOp{FileOp::Kind::kDeleteFolder, std::move(path), {}, {}}; }

// Runs a shell command; true when it exits 0.
bool Shell(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> Paths(const std::vector<TreeEntry>& entries) {
  std::vector<std::string> out;
  for (const TreeEntry& e : entries) {
    out.push_back(e.path + (e.type == TreeEntry::Type::kDirectory ? "/" : ""));
  }
  return out;
}

class GitRepoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr ? tmp : "/tmp") + "/repo_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/org/model.git";
  }
  void TearDown() override { (void)RemoveAll(root_); }

  std::unique_ptr<GitRepo> CreateRepo(const std::vector<std::pair<std::string, std::string>>& files) {
    auto r = GitRepo::Create(dir_, "main", files, kAlice, "Initial commit");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }

  bool Fsck() { return Shell("git --git-dir='" + dir_ + "' fsck --strict --no-progress --no-dangling"); }

  std::string root_;
  std::string dir_;
};

TEST(GitRepoStatic, BlobIdMatchesGit) {
  EXPECT_EQ(GitRepo::BlobId(""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
  EXPECT_EQ(GitRepo::BlobId("hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
  EXPECT_EQ(GitRepo::BlobId(std::string("a\0b", 3)).size(), 40u);
}

TEST(GitRepoStatic, IsValidRefName) {
  for (std::string ok : {"main", "feature/x", "v1.0", "release-2024", "a_b", "UPPER", "deadbeef"}) {
    EXPECT_TRUE(IsValidRefName(ok)) << ok;
  }
  for (std::string bad : {"", "refs/heads/x", "refs/tags/v1", "a..b", "a b", "a~1", "a^", "a:b", "a?", "a*",
                          "a[", "a\\b", ".hidden", "a/.b", "a.lock", "a/", "/a", "a//b", "@{", "a@{b", "@", "HEAD",
                          "-x", "a.", "tab\there"}) {
    EXPECT_FALSE(IsValidRefName(bad)) << bad;
  }
  EXPECT_FALSE(IsValidRefName(std::string("a\0b", 3)));
  EXPECT_TRUE(IsValidRefName(std::string(255, 'a')));
  EXPECT_FALSE(IsValidRefName(std::string(256, 'a')));
}

TEST_F(GitRepoTest, CreateWithInitialFiles) {
  auto repo = CreateRepo({{"README.md", "# hello\n"}, {"a/b/c.txt", "ccc"}, {"a/d.txt", "dd"}});
  ASSERT_TRUE(repo);
  EXPECT_EQ(repo->DefaultBranch(), "main");
  auto head = repo->ResolveRevision("main");
  ASSERT_TRUE(head.ok()) << head.status().ToString();

  auto tree = repo->ListTree(*head, "", true);
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  EXPECT_EQ(Paths(*tree), (std::vector<std::string>{"README.md", "a/", "a/b/", "a/b/c.txt", "a/d.txt"}));
  EXPECT_EQ((*tree)[0].size, 8);
  EXPECT_EQ((*tree)[0].oid, GitRepo::BlobId("# hello\n"));
  EXPECT_EQ((*tree)[1].size, 0);

  auto st = repo->Stat(*head, "a/b/c.txt");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->type, TreeEntry::Type::kFile);
  EXPECT_EQ(st->size, 3);
  auto blob = repo->ReadBlob(st->oid);
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(*blob, "ccc");

  auto info = repo->GetCommit("main");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->title, "Initial commit");
  EXPECT_EQ(info->author_name, "Alice");
  EXPECT_EQ(info->author_email, "alice@example.com");
  EXPECT_EQ(info->time_s, kAlice.time_s);
  EXPECT_TRUE(info->parents.empty());

  // Open sees the same repository.
  auto reopened = GitRepo::Open(dir_);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(*(*reopened)->ResolveRevision("HEAD"), *head);
  EXPECT_TRUE(Fsck());
}

TEST_F(GitRepoTest, CreateAndOpenErrors) {
  ASSERT_TRUE(CreateRepo({}));
  auto again = GitRepo::Create(dir_, "main", {}, kAlice, "x");
  EXPECT_EQ(again.status().code(), Code::kConflict);

  auto missing = GitRepo::Open(root_ + "/nope.git");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);

  auto bad_branch = GitRepo::Create(root_ + "/b.git", "a..b", {}, kAlice, "x");
  EXPECT_EQ(bad_branch.status().code(), Code::kInvalidArgument);

  // A file where a directory is needed: nothing is left behind.
  auto conflict = GitRepo::Create(root_ + "/c.git", "main", {{"a", "1"}, {"a/b", "2"}}, kAlice, "x");
  EXPECT_EQ(conflict.status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(PathExists(root_ + "/c.git"));

  // Empty initial commit: the empty tree.
  auto repo = GitRepo::Open(dir_);
  ASSERT_TRUE(repo.ok());
  auto tree = (*repo)->ListTree("main", "", true);
  ASSERT_TRUE(tree.ok());
  EXPECT_TRUE(tree->empty());
  auto root = (*repo)->Stat("main", "");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->type, TreeEntry::Type::kDirectory);
  EXPECT_EQ(root->oid, "4b825dc642cb6eb9a060e54bf8d69288fbee4904");
}

#define EXPECT_OK_RESULT(expr)                                 \
  do {                                                         \
    auto mh_r = (expr);                                        \
    EXPECT_TRUE(mh_r.ok()) << #expr << ": " << mh_r.ToString(); \
  } while (0)

// Two spellings of one name (NFC "caf\u00e9" and NFD "cafe\u0301") may not end up in one folder.
TEST_F(GitRepoTest, CommitRefusesNfcTwins) {
  const std::string nfc = "caf\xc3\xa9.txt", nfd = "cafe\xcc\x81.txt";
  auto repo = CreateRepo({{"dir/" + nfc, "one"}});
  ASSERT_TRUE(repo);
  std::string head = *repo->ResolveRevision("main");
  for (const std::vector<FileOp>& ops : std::vector<std::vector<FileOp>>{
           {Upsert("dir/" + nfd, "two")},                            // beside an existing file
           {Upsert(nfc, "a"), Upsert(nfd, "b")},                     // both in one commit
           {Upsert(nfc + "/x", "a"), Upsert(nfd, "b")},              // a folder and a file
           {Upsert("d\xc3\xa9j\xc3\xa0/x", "a"), Upsert("de\xcc\x81ja\xcc\x80/y", "b")},  // two folders
       }) {
    auto c = repo->Commit("main", std::nullopt, ops, kAlice, "twins");
    EXPECT_EQ(c.status().code(), Code::kInvalidArgument) << c.status().ToString();
    EXPECT_NE(c.status().message().find("NFC"), std::string::npos) << c.status().ToString();
  }
  EXPECT_EQ(*repo->ResolveRevision("main"), head);  // nothing moved
  // Replacing the file under its own spelling, renaming it to the other one, and other names are fine.
  EXPECT_OK_RESULT(repo->Commit("main", std::nullopt, {Upsert("dir/" + nfc, "new")}, kAlice, "edit").status());
  EXPECT_OK_RESULT(
      repo->Commit("main", std::nullopt, {Delete("dir/" + nfc), Upsert("dir/" + nfd, "moved")}, kAlice, "mv").status());
  EXPECT_OK_RESULT(repo->Commit("main", std::nullopt, {Upsert("dir/cafe.txt", "ascii")}, kAlice, "other").status());
  // Added then deleted again in the same commit: never in the tree.
  EXPECT_OK_RESULT(repo->Commit("main", std::nullopt, {Upsert("dir/" + nfc, "x"), Delete("dir/" + nfc)}, kAlice, "noop")
                   .status());
}

TEST_F(GitRepoTest, CommitRefusesGitmodulesInjection) {
  auto repo = CreateRepo({{"a.txt", "a"}});
  ASSERT_TRUE(repo);
  const std::string bad = "[submodule \"x\"]\n\tpath = x\n\turl = --upload-pack=touch /tmp/pwned\n";
  for (const char* path : {".gitmodules", "sub/.gitmodules", ".GITMODULES"}) {
    auto c = repo->Commit("main", std::nullopt, {Upsert(path, bad)}, kAlice, "inject");
    EXPECT_EQ(c.status().code(), Code::kInvalidArgument) << path << ": " << c.status().ToString();
  }
  // Also when the content arrives as a blob written beforehand (how the HTTP commit sends files).
  auto written = repo->WriteBlob(bad);
  ASSERT_TRUE(written.ok());
  const std::string blob = *written;
  auto c = repo->Commit("main", std::nullopt, {FileOp{FileOp::Kind::kUpsert, ".gitmodules", "", blob}}, kAlice, "x");
  EXPECT_EQ(c.status().code(), Code::kInvalidArgument) << c.status().ToString();
  EXPECT_NE(c.status().message().find("url"), std::string::npos) << c.status().ToString();
  // The same bytes elsewhere are just a file; a sane .gitmodules is accepted.
  EXPECT_OK_RESULT(repo->Commit("main", std::nullopt, {Upsert("notes/gitmodules.txt", bad)}, kAlice, "ok").status());
  EXPECT_OK_RESULT(repo->Commit("main", std::nullopt,
                            {Upsert(".gitmodules", "[submodule \"lib\"]\n\tpath = lib\n\turl = ../lib.git\n")},
                            kAlice, "ok")
                   .status());
}

TEST_F(GitRepoTest, CommitOperations) {
  auto repo = CreateRepo({{"keep.txt", "k"}, {"old.txt", "o"}, {"dir/x.bin", "x"}, {"dir/sub/y.bin", "y"}});
  ASSERT_TRUE(repo);
  std::string c0 = *repo->ResolveRevision("main");

  auto c1 = repo->Commit("main", std::nullopt,
                         {Upsert("new/deep/nested/file.txt", "nested"), Upsert("keep.txt", "k2"), Delete("old.txt")},
                         kAlice, "Second\n\nwith a body");
  ASSERT_TRUE(c1.ok()) << c1.status().ToString();
  auto info = repo->GetCommit(*c1);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->title, "Second");
  EXPECT_EQ(info->message, "Second\n\nwith a body");
  EXPECT_EQ(info->parents, std::vector<std::string>{c0});
  EXPECT_EQ(*repo->ReadBlob(repo->Stat(*c1, "keep.txt")->oid), "k2");
  EXPECT_EQ(repo->Stat(*c1, "old.txt").status().hub_code(), "EntryNotFound");
  EXPECT_EQ(repo->Stat(*c1, "new/deep/nested/file.txt")->size, 6);
  // The old commit is untouched.
  EXPECT_EQ(*repo->ReadBlob(repo->Stat(c0, "keep.txt")->oid), "k");

  // DeleteFolder with a trailing '/', then ops apply in order: the same path
  // deleted and re-added in one commit.
  auto c2 = repo->Commit("main", *c1, {DeleteFolder("dir/"), Delete("keep.txt"), Upsert("keep.txt", "k3")}, kAlice,
                         "Third");
  ASSERT_TRUE(c2.ok()) << c2.status().ToString();
  EXPECT_EQ(Paths(*repo->ListTree(*c2, "", false)), (std::vector<std::string>{"keep.txt", "new/"}));
  EXPECT_EQ(*repo->ReadBlob(repo->Stat(*c2, "keep.txt")->oid), "k3");

  // Deleting the last file of a directory drops the now-empty directories.
  auto c3 = repo->Commit("main", std::nullopt, {Delete("new/deep/nested/file.txt")}, kAlice, "Fourth");
  ASSERT_TRUE(c3.ok());
  EXPECT_EQ(Paths(*repo->ListTree(*c3, "", true)), (std::vector<std::string>{"keep.txt"}));
  // A file replaced by a folder of the same name, and back, in one commit each.
  auto c4 = repo->Commit("main", std::nullopt, {Delete("keep.txt"), Upsert("keep.txt/inner", "i")}, kAlice, "5");
  ASSERT_TRUE(c4.ok()) << c4.status().ToString();
  EXPECT_EQ(Paths(*repo->ListTree(*c4, "", true)), (std::vector<std::string>{"keep.txt/", "keep.txt/inner"}));
  auto c5 = repo->Commit("main", std::nullopt, {DeleteFolder("keep.txt"), Upsert("keep.txt", "f")}, kAlice, "6");
  ASSERT_TRUE(c5.ok()) << c5.status().ToString();
  EXPECT_EQ(repo->Stat(*c5, "keep.txt")->type, TreeEntry::Type::kFile);

  // Failures change nothing.
  auto missing_file = repo->Commit("main", std::nullopt, {Upsert("z", "z"), Delete("nope.txt")}, kAlice, "x");
  EXPECT_EQ(missing_file.status().code(), Code::kNotFound);
  EXPECT_NE(missing_file.status().message().find("A file with this name doesn't exist"), std::string::npos);
  auto missing_folder = repo->Commit("main", std::nullopt, {DeleteFolder("nope")}, kAlice, "x");
  EXPECT_EQ(missing_folder.status().code(), Code::kNotFound);
  EXPECT_NE(missing_folder.status().message().find("A folder with this name doesn't exist"), std::string::npos);
  auto folder_as_file = repo->Commit("main", std::nullopt, {Upsert("d/f", "1"), Delete("d")}, kAlice, "x");
  EXPECT_EQ(folder_as_file.status().code(), Code::kNotFound);
  auto onto_dir = repo->Commit("main", std::nullopt, {Upsert("d/f", "1"), Upsert("d", "2")}, kAlice, "x");
  EXPECT_EQ(onto_dir.status().code(), Code::kInvalidArgument);
  auto under_file = repo->Commit("main", std::nullopt, {Upsert("keep.txt/x", "2")}, kAlice, "x");
  EXPECT_EQ(under_file.status().code(), Code::kInvalidArgument);
  for (std::string bad : {"", "/abs", "a//b", "../x", "a/./b", ".git/config", "x/.GIT/y"}) {
    auto r = repo->Commit("main", std::nullopt, {Upsert(bad, "1")}, kAlice, "x");
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
  }
  auto no_branch = repo->Commit("nope", std::nullopt, {Upsert("a", "1")}, kAlice, "x");
  EXPECT_EQ(no_branch.status().code(), Code::kNotFound);
  EXPECT_EQ(no_branch.status().hub_code(), "RevisionNotFound");
  EXPECT_EQ(*repo->ResolveRevision("main"), *c5);
  EXPECT_EQ(*repo->CountCommits("main"), 6);
  EXPECT_TRUE(Fsck());
}

TEST_F(GitRepoTest, ExpectedParent) {
  auto repo = CreateRepo({{"a", "1"}});
  ASSERT_TRUE(repo);
  std::string base = *repo->ResolveRevision("main");

  // Two writers that both opened the page at `base`: the second loses.
  auto other = GitRepo::Open(dir_);
  ASSERT_TRUE(other.ok());
  auto first = repo->Commit("main", base, {Upsert("a", "2")}, kAlice, "first");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = (*other)->Commit("main", base, {Upsert("a", "3")}, kAlice, "second");
  EXPECT_EQ(second.status().code(), Code::kPreconditionFailed);
  EXPECT_NE(second.status().message().find("parentCommit"), std::string::npos);
  EXPECT_EQ(*repo->ResolveRevision("main"), *first);

  // Short and upper-case forms of the right parent are accepted.
  auto third = repo->Commit("main", first->substr(0, 7), {Upsert("a", "4")}, kAlice, "third");
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  std::string upper = *third;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(repo->Commit("main", upper, {Upsert("a", "5")}, kAlice, "fourth").ok());

  EXPECT_EQ(repo->Commit("main", std::string("xyz"), {}, kAlice, "x").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(repo->Commit("main", std::string(40, '0'), {}, kAlice, "x").status().code(),
            Code::kPreconditionFailed);
}

// The compare-and-swap itself: a writer whose branch moves between reading the
// head and updating the ref must fail and leave the ref alone.
TEST_F(GitRepoTest, RefUpdateIsCompareAndSwap) {
  auto repo = CreateRepo({{"a", "1"}});
  ASSERT_TRUE(repo);
  ASSERT_TRUE(repo->CreateBranch("other", "main").ok());
  auto other_head = repo->Commit("other", std::nullopt, {Upsert("b", "2")}, kAlice, "on other");
  ASSERT_TRUE(other_head.ok());

  // Hold the ref lock the way git does, so the writer stops right before its swap.
  const std::string lock = dir_ + "/refs/heads/main.lock";
  {
    std::ofstream(lock) << *other_head << "\n";
  }
  auto count_objects = [&] {  // complete loose objects (libgit2 writes tmp_* files, then renames)
    size_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir_ + "/objects")) {
      n += e.is_regular_file() && e.path().filename().string().rfind("tmp_", 0) != 0 ? 1 : 0;
    }
    return n;
  };
  const size_t before = count_objects();
  Result<std::string> racing = Status::Internal("not run");
  std::thread writer([&] {
    auto r = GitRepo::Open(dir_);
    racing = r.ok() ? (*r)->Commit("main", std::nullopt, {Upsert("c", "3")}, kAlice, "racing") : r.status();
  });
  // The writer reads the head before writing anything, so once its blob, tree
  // and commit exist, moving the branch is a race it must lose.
  while (count_objects() < before + 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  fs::rename(lock, dir_ + "/refs/heads/main");  // "another process" moves main to other_head
  writer.join();
  EXPECT_EQ(racing.status().code(), Code::kPreconditionFailed) << racing.status().ToString();
  EXPECT_EQ(*repo->ResolveRevision("main"), *other_head);

  // A lock that is never released (a crashed writer) ends in a retryable error.
  {
    std::ofstream(lock) << *other_head << "\n";
  }
  auto stuck = repo->Commit("main", std::nullopt, {Upsert("d", "4")}, kAlice, "stuck");
  EXPECT_EQ(stuck.status().code(), Code::kUnavailable);
  EXPECT_TRUE(stuck.status().retryable());
  EXPECT_EQ(stuck.status().message().find(root_), std::string::npos) << stuck.status().message();
  fs::remove(lock);
  EXPECT_EQ(*repo->ResolveRevision("main"), *other_head);
  EXPECT_TRUE(Fsck());
}

// A lock file older than the stale bound has no live owner: the writer removes it and succeeds.
TEST_F(GitRepoTest, StaleRefLockIsRecovered) {
  auto repo = CreateRepo({{"a", "1"}});
  ASSERT_TRUE(repo);
  const std::string lock = dir_ + "/refs/heads/main.lock";
  {
    std::ofstream(lock) << "garbage of a killed writer\n";
  }
  fs::last_write_time(lock, fs::file_time_type::clock::now() - std::chrono::seconds(StaleLockAgeS() + 60));
  auto c = repo->Commit("main", std::nullopt, {Upsert("b", "2")}, kAlice, "after a crash");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(*repo->ResolveRevision("main"), *c);
  EXPECT_FALSE(fs::exists(lock));
  // Branch creation and deletion (packed-refs.lock, the ref's lock) recover the same way.
  ASSERT_TRUE(repo->CreateBranch("dev", "main").ok());
  const std::string dev_lock = dir_ + "/refs/heads/dev.lock";
  {
    std::ofstream(dev_lock) << "x\n";
  }
  fs::last_write_time(dev_lock, fs::file_time_type::clock::now() - std::chrono::seconds(StaleLockAgeS() + 60));
  EXPECT_TRUE(repo->DeleteBranch("dev").ok());
  EXPECT_TRUE(Fsck());
}

TEST_F(GitRepoTest, ConcurrentWritersLoseNothing) {
  ASSERT_TRUE(CreateRepo({{"README.md", "r"}}));
  constexpr int kThreads = 8;
  constexpr int kCommitsEach = 5;
  std::atomic<int> conflicts{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCommitsEach; ++i) {
        for (int attempt = 0;; ++attempt) {
          auto repo = GitRepo::Open(dir_);  // one object per request, as the header says
          if (!repo.ok()) {
            ++failures;
            return;
          }
          std::string path = "t" + std::to_string(t) + "/f" + std::to_string(i);
          auto r = (*repo)->Commit("main", std::nullopt, {Upsert(path, path)}, kAlice, "commit " + path);
          if (r.ok()) break;
          if (r.status().code() != Code::kPreconditionFailed || attempt > 1000) {
            ADD_FAILURE() << r.status().ToString();
            ++failures;
            return;
          }
          ++conflicts;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);
  auto repo = GitRepo::Open(dir_);
  ASSERT_TRUE(repo.ok());
  EXPECT_EQ(*(*repo)->CountCommits("main"), 1 + kThreads * kCommitsEach);
  auto tree = (*repo)->ListTree("main", "", true);
  ASSERT_TRUE(tree.ok());
  int files = 0;
  for (const TreeEntry& e : *tree) files += e.type == TreeEntry::Type::kFile ? 1 : 0;
  EXPECT_EQ(files, 1 + kThreads * kCommitsEach);
  std::cout << "[          ] " << conflicts.load() << " lost races retried\n";
  EXPECT_TRUE(Fsck());
}

TEST_F(GitRepoTest, ResolveRevision) {
  auto repo = CreateRepo({{"a", "1"}});
  ASSERT_TRUE(repo);
  std::string c0 = *repo->ResolveRevision("main");
  auto c1 = repo->Commit("main", std::nullopt, {Upsert("a", "2")}, kAlice, "two");
  ASSERT_TRUE(c1.ok());

  ASSERT_TRUE(repo->CreateTag("light", c0, "", kAlice).ok());
  ASSERT_TRUE(repo->CreateTag("v1.0", c0, "Release 1.0", kAlice).ok());
  ASSERT_TRUE(repo->CreateBranch("feature/x", c0).ok());

  EXPECT_EQ(*repo->ResolveRevision("HEAD"), *c1);
  EXPECT_EQ(*repo->ResolveRevision("main"), *c1);
  EXPECT_EQ(*repo->ResolveRevision("refs/heads/main"), *c1);
  EXPECT_EQ(*repo->ResolveRevision("feature/x"), c0);
  EXPECT_EQ(*repo->ResolveRevision("light"), c0);
  EXPECT_EQ(*repo->ResolveRevision("v1.0"), c0);  // annotated: peeled to the commit
  EXPECT_EQ(*repo->ResolveRevision("refs/tags/v1.0"), c0);
  EXPECT_EQ(*repo->ResolveRevision(c0), c0);
  EXPECT_EQ(*repo->ResolveRevision(c0.substr(0, 7)), c0);
  EXPECT_EQ(*repo->ResolveRevision(c0.substr(0, 12)), c0);

  // A branch and a tag with the same name: the branch wins.
  ASSERT_TRUE(repo->CreateTag("same", c0, "", kAlice).ok());
  ASSERT_TRUE(repo->CreateBranch("same", *c1).ok());
  EXPECT_EQ(*repo->ResolveRevision("same"), *c1);
  EXPECT_EQ(*repo->ResolveRevision("refs/tags/same"), c0);

  const std::vector<std::string> unknown{"unknown", "refs/heads/unknown", "main~1",  "main^",
                                        "HEAD@{0}", "",                   "0000000", std::string(40, 'f'),
                                        c0.substr(0, 6), "a..b"};
  for (const std::string& bad : unknown) {
    auto r = repo->ResolveRevision(bad);
    EXPECT_EQ(r.status().code(), Code::kNotFound) << bad;
    EXPECT_EQ(r.status().hub_code(), "RevisionNotFound") << bad;
  }
  // A tree id is not a commit.
  std::string tree_id = repo->Stat(c0, "")->oid;
  EXPECT_EQ(repo->ResolveRevision(tree_id).status().code(), Code::kNotFound);
  EXPECT_TRUE(Fsck());
}

TEST_F(GitRepoTest, CachedRevisionsFollowEveryRefChange) {
  SetSoleWriter(true);  // the cache is used only in a process that writes every ref itself
  auto writer = CreateRepo({{"a", "1"}});
  ASSERT_TRUE(writer);
  auto reader = std::move(GitRepo::Open(dir_)).value();  // another handle, as the server pools them
  std::string c0 = *reader->ResolveRevision("main");
  auto c1 = writer->Commit("main", std::nullopt, {Upsert("a", "2")}, kAlice, "two");
  ASSERT_TRUE(c1.ok());
  EXPECT_EQ(*reader->ResolveRevision("main"), *c1);
  EXPECT_EQ(*reader->ResolveRevision("HEAD"), *c1);
  ASSERT_TRUE(writer->CreateBranch("dev", c0).ok());
  EXPECT_EQ(*reader->ResolveRevision("dev"), c0);
  ASSERT_TRUE(writer->DeleteBranch("dev").ok());
  EXPECT_EQ(reader->ResolveRevision("dev").status().code(), Code::kNotFound);
  ASSERT_TRUE(writer->CreateTag("v1", c0, "", kAlice).ok());
  EXPECT_EQ(*reader->ResolveRevision("v1"), c0);
  ASSERT_TRUE(writer->DeleteTag("v1").ok());
  EXPECT_EQ(reader->ResolveRevision("v1").status().code(), Code::kNotFound);

  // A ref moved by another program (as git receive-pack does) is seen once the caller says so.
  EXPECT_EQ(*reader->ResolveRevision("main"), *c1);  // cached now
  ASSERT_TRUE(Shell("git --git-dir='" + dir_ + "' update-ref refs/heads/main " + c0));
  EXPECT_EQ(*reader->ResolveRevision("main"), *c1) << "cached until RefsChangedOutside";
  GitRepo::RefsChangedOutside(dir_ + "/");
  EXPECT_EQ(*reader->ResolveRevision("main"), c0);

  // Not the sole writer (several processes share the refs): every lookup reads the refs.
  SetSoleWriter(false);
  ASSERT_TRUE(Shell("git --git-dir='" + dir_ + "' update-ref refs/heads/main " + *c1));
  EXPECT_EQ(*reader->ResolveRevision("main"), *c1);
}

TEST_F(GitRepoTest, SmallBlobsAreRememberedPerRepository) {
  auto a = CreateRepo({{"config.json", "{\"a\": 1}"}});
  ASSERT_TRUE(a);
  std::string head = *a->ResolveRevision("main");
  std::string oid = a->Stat(head, "config.json")->oid;
  EXPECT_EQ(*a->ReadBlob(oid), "{\"a\": 1}");
  EXPECT_EQ(*a->ReadBlob(oid), "{\"a\": 1}");  // from memory the second time
  // Another repository does not see a blob it does not have, though it is in memory for the first.
  auto b = std::move(GitRepo::Create(root_ + "/org/other.git", "main", {{"x", "y"}}, kAlice, "init")).value();
  EXPECT_EQ(b->ReadBlob(oid).status().code(), Code::kNotFound);
}

TEST_F(GitRepoTest, ListTree) {
  // git order: "a-b" < "a.txt" < "a/" < "a0" (a directory sorts as if it ended in '/').
  auto repo = CreateRepo({{"a0", "0"}, {"a/x", "xx"}, {"a.txt", "t"}, {"a-b", "b"}, {"a/y/z", "zzz"}});
  ASSERT_TRUE(repo);
  auto all = repo->ListTree("main", "", true);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(Paths(*all), (std::vector<std::string>{"a-b", "a.txt", "a/", "a/x", "a/y/", "a/y/z", "a0"}));
  EXPECT_EQ(Paths(*repo->ListTree("main", "", false)), (std::vector<std::string>{"a-b", "a.txt", "a/", "a0"}));
  EXPECT_EQ(Paths(*repo->ListTree("main", "a", false)), (std::vector<std::string>{"a/x", "a/y/"}));
  EXPECT_EQ(Paths(*repo->ListTree("main", "a/", true)), (std::vector<std::string>{"a/x", "a/y/", "a/y/z"}));
  auto sub = repo->ListTree("main", "a/y", false);
  ASSERT_TRUE(sub.ok());
  ASSERT_EQ(sub->size(), 1u);
  EXPECT_EQ((*sub)[0].size, 3);
  EXPECT_EQ((*sub)[0].oid, GitRepo::BlobId("zzz"));

  for (std::string bad : {"missing", "a.txt", "a/x", "a/missing"}) {
    auto r = repo->ListTree("main", bad, false);
    EXPECT_EQ(r.status().code(), Code::kNotFound) << bad;
    EXPECT_EQ(r.status().hub_code(), "EntryNotFound") << bad;
  }
  EXPECT_EQ(repo->ListTree("nope", "", false).status().hub_code(), "RevisionNotFound");
  auto dir = repo->Stat("main", "a/y");
  ASSERT_TRUE(dir.ok());
  EXPECT_EQ(dir->type, TreeEntry::Type::kDirectory);
  EXPECT_EQ(dir->path, "a/y");
  EXPECT_EQ(repo->Stat("main", "a/nope").status().hub_code(), "EntryNotFound");
  EXPECT_EQ(repo->Stat("main", std::string("a.txt\0x", 7)).status().hub_code(), "EntryNotFound");
  EXPECT_EQ(repo->ReadBlob(std::string(40, '0')).status().hub_code(), "EntryNotFound");
  EXPECT_EQ(repo->ReadBlob("xyz").status().code(), Code::kInvalidArgument);
}

TEST_F(GitRepoTest, BranchesAndTags) {
  auto repo = CreateRepo({{"a", "1"}});
  ASSERT_TRUE(repo);
  std::string c0 = *repo->ResolveRevision("main");

  EXPECT_TRUE(repo->CreateBranch("dev", "main").ok());
  EXPECT_TRUE(repo->CreateBranch("feature/x", c0.substr(0, 8)).ok());
  EXPECT_EQ(repo->CreateBranch("dev", "main").code(), Code::kConflict);
  // Ref paths clash both ways: refs/heads/feature/x exists, so does refs/heads/dev.
  EXPECT_EQ(repo->CreateBranch("feature", "main").code(), Code::kConflict);
  EXPECT_EQ(repo->CreateBranch("dev/sub", "main").code(), Code::kConflict);
  EXPECT_EQ(repo->CreateBranch("bad..name", "main").code(), Code::kInvalidArgument);
  EXPECT_EQ(repo->CreateBranch("ok", "nope").code(), Code::kNotFound);
  EXPECT_TRUE(*repo->IsBranch("dev"));
  EXPECT_FALSE(*repo->IsBranch("nope"));
  EXPECT_FALSE(*repo->IsBranch("refs/heads/dev"));

  auto branches = repo->ListBranches();
  ASSERT_TRUE(branches.ok());
  ASSERT_EQ(branches->size(), 3u);
  EXPECT_EQ((*branches)[0].name, "dev");
  EXPECT_EQ((*branches)[1].name, "feature/x");
  EXPECT_EQ((*branches)[1].ref, "refs/heads/feature/x");
  EXPECT_EQ((*branches)[2].name, "main");
  EXPECT_EQ((*branches)[2].target, c0);

  auto del_main = repo->DeleteBranch("main");
  EXPECT_EQ(del_main.code(), Code::kInvalidArgument);
  EXPECT_NE(del_main.message().find("Cannot delete refs/heads/main"), std::string::npos);
  EXPECT_TRUE(repo->DeleteBranch("dev").ok());
  EXPECT_EQ(repo->DeleteBranch("dev").hub_code(), "RevisionNotFound");
  EXPECT_EQ(repo->ResolveRevision("dev").status().code(), Code::kNotFound);

  EXPECT_TRUE(repo->CreateTag("v1", "main", "", kAlice).ok());
  EXPECT_TRUE(repo->CreateTag("v2", "main", "Version two\nwith notes", kAlice).ok());
  EXPECT_EQ(repo->CreateTag("v1", "main", "", kAlice).code(), Code::kConflict);
  EXPECT_EQ(repo->CreateTag("v2", "main", "again", kAlice).code(), Code::kConflict);
  EXPECT_EQ(repo->CreateTag("bad tag", "main", "", kAlice).code(), Code::kInvalidArgument);
  EXPECT_EQ(repo->CreateTag("v1/rc", "main", "", kAlice).code(), Code::kConflict);
  EXPECT_EQ(repo->CreateTag("v1/rc", "main", "annotated", kAlice).code(), Code::kConflict);
  auto tags = repo->ListTags();
  ASSERT_TRUE(tags.ok());
  ASSERT_EQ(tags->size(), 2u);
  EXPECT_EQ((*tags)[1].name, "v2");
  EXPECT_EQ((*tags)[1].ref, "refs/tags/v2");
  EXPECT_EQ((*tags)[1].target, c0);  // peeled
  EXPECT_TRUE(repo->DeleteTag("v2").ok());
  EXPECT_EQ(repo->DeleteTag("v2").hub_code(), "RevisionNotFound");
  EXPECT_EQ(repo->ListTags()->size(), 1u);
  EXPECT_TRUE(Fsck());
  EXPECT_TRUE(Shell("test \"$(git --git-dir='" + dir_ + "' cat-file -t refs/tags/v1)\" = commit"));
}

TEST_F(GitRepoTest, LogAndCount) {
  auto repo = CreateRepo({{"f", "0"}});
  ASSERT_TRUE(repo);
  std::vector<std::string> ids{*repo->ResolveRevision("main")};
  for (int i = 1; i <= 5; ++i) {
    GitSignature who{"Bob", "bob@example.com", kAlice.time_s + i};
    auto c = repo->Commit("main", std::nullopt, {Upsert("f", std::to_string(i))}, who, "change " + std::to_string(i));
    ASSERT_TRUE(c.ok());
    ids.push_back(*c);
  }
  EXPECT_EQ(*repo->CountCommits("main"), 6);
  EXPECT_EQ(*repo->CountCommits(ids[2]), 3);

  auto page1 = repo->Log("main", 0, 2);
  ASSERT_TRUE(page1.ok());
  ASSERT_EQ(page1->size(), 2u);
  EXPECT_EQ((*page1)[0].id, ids[5]);
  EXPECT_EQ((*page1)[0].title, "change 5");
  EXPECT_EQ((*page1)[0].author_name, "Bob");
  EXPECT_EQ((*page1)[0].time_s, kAlice.time_s + 5);
  EXPECT_EQ((*page1)[0].parents, std::vector<std::string>{ids[4]});
  EXPECT_EQ((*page1)[1].id, ids[4]);
  auto page3 = repo->Log("main", 4, 2);
  ASSERT_EQ(page3->size(), 2u);
  EXPECT_EQ((*page3)[0].id, ids[1]);
  EXPECT_EQ((*page3)[1].id, ids[0]);
  EXPECT_TRUE(repo->Log("main", 6, 2)->empty());
  EXPECT_EQ(repo->Log("main", 0, -1)->size(), 6u);
  EXPECT_EQ(repo->Log("nope", 0, 10).status().hub_code(), "RevisionNotFound");
}

TEST_F(GitRepoTest, LastCommitTouching) {
  auto repo = CreateRepo({{"a.txt", "a"}, {"b.txt", "b"}});
  ASSERT_TRUE(repo);
  std::string c0 = *repo->ResolveRevision("main");
  std::string c1 = *repo->Commit("main", std::nullopt, {Upsert("a.txt", "a2")}, kAlice, "a");
  std::string c2 = *repo->Commit("main", std::nullopt, {Upsert("dir/x", "x")}, kAlice, "dir");
  std::string c3 = *repo->Commit("main", std::nullopt, {Upsert("b.txt", "b2")}, kAlice, "b");
  std::string c4 = *repo->Commit("main", std::nullopt, {Upsert("other", "o")}, kAlice, "other");

  EXPECT_EQ(repo->LastCommitTouching("main", "a.txt", 100)->id, c1);
  EXPECT_EQ(repo->LastCommitTouching("main", "b.txt", 100)->id, c3);
  EXPECT_EQ(repo->LastCommitTouching("main", "dir", 100)->id, c2);
  EXPECT_EQ(repo->LastCommitTouching("main", "dir/", 100)->id, c2);
  EXPECT_EQ(repo->LastCommitTouching("main", "dir/x", 0)->id, c2);
  EXPECT_EQ(repo->LastCommitTouching("main", "", 100)->id, c4);
  EXPECT_EQ(repo->LastCommitTouching(c2, "b.txt", 100)->id, c0);
  // Budget exhausted: the oldest scanned commit.
  EXPECT_EQ(repo->LastCommitTouching("main", "a.txt", 2)->id, c3);
  EXPECT_EQ(repo->LastCommitTouching("main", "never", 100).status().hub_code(), "EntryNotFound");

  // A deletion touches the path too.
  std::string c5 = *repo->Commit("main", std::nullopt, {Delete("a.txt")}, kAlice, "rm a");
  EXPECT_EQ(repo->LastCommitTouching("main", "a.txt", 100)->id, c5);
}

TEST_F(GitRepoTest, GitCliReadsTheRepository) {
  auto repo = CreateRepo({{"README.md", "# model\n"}, {"weights/config.json", "{}"}});
  ASSERT_TRUE(repo);
  ASSERT_TRUE(repo->Commit("main", std::nullopt, {Upsert("weights/model.bin", std::string("\0\1\2", 3))}, kAlice,
                           "Add weights")
                  .ok());
  ASSERT_TRUE(repo->CreateTag("v1", "main", "first release", kAlice).ok());
  EXPECT_TRUE(Fsck());

  const std::string clone = root_ + "/clone";
  ASSERT_TRUE(Shell("git clone -q '" + dir_ + "' '" + clone + "' 2>&1"));
  EXPECT_EQ(Slurp(clone + "/README.md"), "# model\n");
  EXPECT_EQ(Slurp(clone + "/weights/config.json"), "{}");
  EXPECT_EQ(Slurp(clone + "/weights/model.bin"), std::string("\0\1\2", 3));
  EXPECT_TRUE(Shell("cd '" + clone + "' && test \"$(git log --format=%s -1)\" = 'Add weights'"));
  EXPECT_TRUE(Shell("cd '" + clone + "' && test \"$(git log --format='%an <%ae>' -1)\" = 'Alice <alice@example.com>'"));
  EXPECT_TRUE(Shell("cd '" + clone + "' && git describe --tags >/dev/null"));
}

}  // namespace

TEST(GitRepoWriteBlob, UpsertByBlobId) {
  auto dir = fs::temp_directory_path() / ("gitrepo-wb-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto repo = GitRepo::Create(dir.string(), "main", {{"a.txt", "a"}}, kAlice, "init");
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  auto blob = (*repo)->WriteBlob("streamed content");
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(*blob, GitRepo::BlobId("streamed content"));
  FileOp op{FileOp::Kind::kUpsert, "dir/b.txt", {}, *blob};
  auto c = (*repo)->Commit("main", std::nullopt, {op}, kAlice, "add b");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto st = (*repo)->Stat(*c, "dir/b.txt");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(*(*repo)->ReadBlob(st->oid), "streamed content");
  fs::remove_all(dir);
}

}  // namespace modelhub

namespace modelhub {
namespace {

class ReachableFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr ? tmp : "/tmp") + "/reach_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { (void)RemoveAll(root_); }
  std::string root_;
};

TEST_F(ReachableFilesTest, EveryRefEveryCommitSharedTreesOnce) {
  auto r = GitRepo::Create(root_ + "/r.git", "main", {{"a.txt", "one"}, {"dir/b.bin", "bee"}}, kAlice, "init");
  ASSERT_TRUE(r.ok());
  GitRepo& git = **r;
  auto c1 = git.ResolveRevision("main");
  ASSERT_TRUE(c1.ok());
  // c2 changes a.txt only: dir/ is the same subtree and must be entered once.
  auto c2 = git.Commit("main", std::nullopt, {Upsert("a.txt", "two")}, kAlice, "edit");
  ASSERT_TRUE(c2.ok());
  // A branch whose only commit deletes a.txt and adds c.txt.
  ASSERT_TRUE(git.CreateBranch("side", *c1).ok());
  auto c3 = git.Commit("side", std::nullopt, {Delete("a.txt"), Upsert("c.txt", "sea")}, kAlice, "side");
  ASSERT_TRUE(c3.ok());
  ASSERT_TRUE(git.CreateTag("v1", *c1, "", kAlice).ok());

  auto refs = git.ListAllRefs();
  ASSERT_TRUE(refs.ok());
  std::vector<std::string> names;
  std::vector<std::string> tips;
  for (const auto& ref : *refs) {
    names.push_back(ref.name);
    tips.push_back(ref.target);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"heads/main", "heads/side", "tags/v1"}));

  std::multiset<std::string> seen;  // "path=content-size"
  std::map<std::string, std::string> first_commit;
  Status s = git.ForEachReachableFile(tips, {}, [&](const ReachableFile& f) {
    seen.insert(f.path + "=" + std::to_string(f.size));
    first_commit.emplace(f.path + "@" + f.blob_oid, f.commit);
    EXPECT_EQ(f.blob_oid.size(), 40u);
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  // a.txt "one" (c1) and "two" (c2), dir/b.bin once (shared subtree), c.txt once, and the root
  // trees of c1, c2, c3 each list their own entries.
  EXPECT_EQ(seen.count("dir/b.bin=3"), 1u);
  EXPECT_EQ(seen.count("a.txt=3"), 2u);
  EXPECT_EQ(seen.count("c.txt=3"), 1u);
  EXPECT_EQ(seen.size(), 4u);

  // Hiding c1 and c2 leaves only c3's new tree.
  seen.clear();
  s = git.ForEachReachableFile({*c3}, {*c1, *c2, std::string(40, 'a')}, [&](const ReachableFile& f) {
    EXPECT_EQ(f.commit, *c3);
    seen.insert(f.path);
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(seen, (std::multiset<std::string>{"c.txt", "dir/b.bin"}));

  // The callback's error stops the walk.
  int calls = 0;
  s = git.ForEachReachableFile(tips, {}, [&](const ReachableFile&) {
    ++calls;
    return Status::Corruption("stop");
  });
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(git.ForEachReachableFile({std::string(40, 'b')}, {}, [](const ReachableFile&) { return Status::Ok(); })
                  .IsNotFound());
}

}  // namespace
}  // namespace modelhub
