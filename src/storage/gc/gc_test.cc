// GC, fsck, stats and the reachability walk on a real data folder: OpenDataDir,
// bare git repositories at <data>/repos/<id>.git, real ChunkStore ingests.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <atomic>
#include <iostream>
#include <random>
#include <set>
#include <thread>

#include "common/fs.h"
#include "common/test_random.h"
#include "common/time_util.h"
#include "crypto/sha256.h"
#include "repo/git_repo.h"
#include "repo/path_rules.h"
#include "server/data_dir.h"
#include "storage/cas/format/xorb.h"
#include "storage/cas/xet/hashes.h"
#include "storage/gc/fsck.h"
#include "storage/gc/gc.h"
#include "storage/gc/gc_lock.h"
#include "storage/gc/reachability.h"
#include "storage/gc/storage_stats.h"

namespace modelhub {
namespace {

constexpr int64_t kDay = 24LL * 3600 * 1000;
const GitSignature kSig{"alice", "alice@example.com", 0};

class GcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = (std::filesystem::temp_directory_path() / ("gc-test-" + RandomHex(6))).string();
    auto dd = OpenDataDir(root_);
    ASSERT_TRUE(dd.ok()) << dd.status().ToString();
    dd_ = std::move(dd).value();
    ASSERT_TRUE(meta()->CreateUser("alice", false).ok());
    hub_ = HubStorage{meta(), dd_->content.get(), dd_->repos_dir(), root_};
  }
  void TearDown() override { (void)RemoveAll(root_); }

  MetadataStore* meta() { return dd_->meta.get(); }
  ChunkStore* chunks() { return dd_->content.get(); }

  // A repository as Hub::CreateRepo makes it: the row, then <repos>/<id>.git with one commit.
  RepoRecord NewRepo(const std::string& name, RepoType type = RepoType::kModel) {
    auto rec = meta()->CreateRepo(type, "alice", name, false);
    EXPECT_TRUE(rec.ok()) << rec.status().ToString();
    auto git = GitRepo::Create(RepoGitDir(hub_.repos_dir, rec->id), "main",
                               {{".gitattributes", DefaultGitAttributes(false)}}, kSig, "initial commit");
    EXPECT_TRUE(git.ok()) << git.status().ToString();
    return *rec;
  }
  std::unique_ptr<GitRepo> Git(const RepoRecord& rec) {
    auto git = GitRepo::Open(RepoGitDir(hub_.repos_dir, rec.id));
    EXPECT_TRUE(git.ok());
    return std::move(git).value();
  }
  // What the LFS upload path does: ingest, register, link to the repo.
  std::string Upload(const RepoRecord& rec, const std::string& data) {
    std::string oid = Sha256Hex(data);
    auto in = chunks()->BeginIngest(oid, int64_t(data.size()));
    EXPECT_TRUE(in.ok());
    EXPECT_TRUE((*in)->Write(data.data(), data.size()).ok());
    Status s = (*in)->Finish();
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(meta()->PutLfsObject(LfsObject{oid, int64_t(data.size()), 0}).ok());
    EXPECT_TRUE(meta()->LinkLfsObject(rec.id, oid).ok());
    return oid;
  }
  std::string CommitPointer(const RepoRecord& rec, const std::string& path, const std::string& data,
                            const std::string& branch = "main") {
    auto c = Git(rec)->Commit(branch, std::nullopt,
                              {FileOp{FileOp::Kind::kUpsert, path, FormatLfsPointer(Sha256Hex(data), int64_t(data.size())), {}}},
                              kSig, "add " + path);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : "";
  }
  void DeleteRepo(const RepoRecord& rec) {
    ASSERT_TRUE(meta()->DeleteRepo(rec.id).ok());
    ASSERT_TRUE(RemoveAll(RepoGitDir(hub_.repos_dir, rec.id)).ok());
  }
  Result<std::string> Read(const std::string& oid) {
    MH_ASSIGN_OR_RETURN(auto r, chunks()->Open(oid));
    std::string out;
    char buf[65536];
    while (true) {
      MH_ASSIGN_OR_RETURN(size_t n, r->Read(buf, sizeof buf));
      if (n == 0) return out;
      out.append(buf, n);
    }
  }
  std::set<std::string> XorbsOf(const std::string& oid) {
    std::set<std::string> out;
    auto f = meta()->GetFile(oid);
    EXPECT_TRUE(f.ok());
    auto terms = ParseTerms(f->terms);
    EXPECT_TRUE(terms.ok());
    for (const FileTerm& t : *terms) out.insert(t.xorb.ToHex());
    return out;
  }
  bool XorbStored(const std::string& hex) {
    return chunks()->blobs()->Size(ChunkStore::XorbKey(*xet::XetHash::FromHex(hex))).ok();
  }
  int64_t StoredBytesOf(const std::set<std::string>& xorbs) {
    int64_t n = 0;
    for (const auto& x : xorbs) n += meta()->GetXorb(x)->stored_bytes;
    return n;
  }
  // Chunk-record bytes of a file stored without compression (random data): raw + 8 per chunk.
  int64_t RecordBytesOf(const std::string& oid, int64_t size) {
    int64_t chunks = 0;
    auto terms = ParseTerms(meta()->GetFile(oid)->terms);
    EXPECT_TRUE(terms.ok());
    for (const FileTerm& t : *terms) chunks += t.chunk_end - t.chunk_start;
    return size + 8 * chunks;
  }
  // xorb_grace_ms: 0 here (xorbs follow the grace period) unless a test looks at the Xet horizon.
  Result<GcReport> Gc(int64_t age_ms, bool dry_run = false, int64_t xorb_grace_ms = 0) {
    GcOptions o;
    o.now_ms = NowMs() + age_ms;  // as if age_ms had passed
    o.dry_run = dry_run;
    o.xorb_grace_ms = xorb_grace_ms;
    o.lock_timeout_ms = 2000;
    return CollectGarbage(hub_, o);
  }

  std::string root_;
  std::unique_ptr<DataDir> dd_;
  HubStorage hub_;
};

TEST_F(GcTest, DeletedRepoGoesSharedFileStays) {
  RepoRecord a = NewRepo("a");
  RepoRecord b = NewRepo("b");
  std::string shared = RandomData(300'000, 1);
  std::string only_a = RandomData(200'000, 2);
  std::string s_oid = Upload(a, shared);
  std::string u_oid = Upload(a, only_a);
  CommitPointer(a, "shared.bin", shared);
  CommitPointer(a, "only.bin", only_a);
  Upload(b, shared);  // dedup: the same file, nothing new stored
  CommitPointer(b, "copy/shared.bin", shared);
  std::set<std::string> u_xorbs = XorbsOf(u_oid);
  std::set<std::string> s_xorbs = XorbsOf(s_oid);
  for (const auto& x : u_xorbs) ASSERT_EQ(s_xorbs.count(x), 0u);

  DeleteRepo(a);
  auto r = Gc(2 * kDay);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->repos, 1);
  EXPECT_EQ(r->reachable_files, 1);
  EXPECT_EQ(r->files_removed, 1);
  EXPECT_EQ(r->files_removed_bytes, int64_t(only_a.size()));
  EXPECT_EQ(r->xorbs_removed, int64_t(u_xorbs.size()));
  EXPECT_GT(r->reclaimed_bytes, int64_t(only_a.size()));
  EXPECT_NE(FormatGcReport(*r).find("reclaimed"), std::string::npos);

  // What only the deleted repo used is gone: file row, LFS registry, xorb rows, objects, chunk index.
  EXPECT_TRUE(meta()->GetFile(u_oid).status().IsNotFound());
  EXPECT_TRUE(meta()->GetLfsObject(u_oid).status().IsNotFound());
  for (const auto& x : u_xorbs) {
    EXPECT_TRUE(meta()->GetXorb(x).status().IsNotFound());
    EXPECT_FALSE(XorbStored(x));
  }
  int deleting = 0;
  ASSERT_TRUE(meta()->ListDeletingXorbs([&](const std::string&) { ++deleting; }).ok());
  EXPECT_EQ(deleting, 0);
  // The shared file stays whole and linked to b.
  auto back = Read(s_oid);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == shared);
  EXPECT_TRUE(*meta()->IsLfsObjectLinked(b.id, s_oid));
  for (const auto& x : s_xorbs) EXPECT_TRUE(XorbStored(x));

  // A second run finds nothing more; fsck is clean.
  auto again = Gc(2 * kDay);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->files_removed, 0);
  EXPECT_EQ(again->xorbs_removed, 0);
  auto f = RunFsck(hub_, {});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->errors(), 0) << FormatFsckReport(*f, true);

  // Uploading the removed content again works (nothing stale in the chunk index).
  RepoRecord c = NewRepo("c");
  std::string oid = Upload(c, only_a);
  EXPECT_TRUE(*Read(oid) == only_a);
}

TEST_F(GcTest, NothingYoungerThanTheGracePeriodGoes) {
  RepoRecord a = NewRepo("a");
  std::string data = RandomData(150'000, 3);
  std::string oid = Upload(a, data);
  CommitPointer(a, "f.bin", data);
  DeleteRepo(a);
  auto r = Gc(0);  // now, default grace of 24 h: everything is young
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->files_removed, 0);
  EXPECT_EQ(r->xorbs_removed, 0);
  EXPECT_EQ(r->orphans_removed, 0);
  EXPECT_TRUE(Read(oid).ok());
  // 23 h later still young.
  r = Gc(23 * 3600 * 1000LL);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->files_removed + r->xorbs_removed, 0);
  // A dry run after the grace period says what would go and removes nothing.
  r = Gc(2 * kDay, /*dry_run=*/true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->files_removed, 1);
  EXPECT_GE(r->xorbs_removed, 1);
  EXPECT_NE(FormatGcReport(*r).find("would remove"), std::string::npos);
  EXPECT_TRUE(Read(oid).ok());
  for (const auto& x : XorbsOf(oid)) EXPECT_TRUE(XorbStored(x));
}

TEST_F(GcTest, UnusedXorbsStayForTheXetClientCacheHorizon) {
  RepoRecord a = NewRepo("a");
  std::string data = RandomData(150'000, 33);
  std::string oid = Upload(a, data);
  CommitPointer(a, "f.bin", data);
  DeleteRepo(a);
  const int64_t horizon = GcOptions().xorb_grace_ms;
  EXPECT_GE(horizon, 21 * kDay);  // hf_xet trusts its own uploaded shards for 21 days
  // Past the file grace period: the file goes, its xorbs stay (a client may still name them).
  auto r = Gc(2 * kDay, false, horizon);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->files_removed, 1);
  EXPECT_EQ(r->xorbs_removed, 0);
  EXPECT_GE(r->xorbs_young, 1);
  EXPECT_NE(FormatGcReport(*r).find("kept for Xet clients"), std::string::npos);
  // Past the horizon they go too.
  r = Gc(horizon + kDay, false, horizon);
  ASSERT_TRUE(r.ok());
  EXPECT_GE(r->xorbs_removed, 1);
  EXPECT_EQ(r->xorbs_young, 0);
}

TEST_F(GcTest, UploadedButNotCommittedSurvivesTheGracePeriod) {
  RepoRecord a = NewRepo("a");
  std::string data = RandomData(120'000, 4);
  std::string oid = Upload(a, data);  // batch + PUT done, the commit has not come yet
  auto r = Gc(3600 * 1000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->files_removed, 0);
  EXPECT_TRUE(*meta()->IsLfsObjectLinked(a.id, oid));
  EXPECT_TRUE(Read(oid).ok());
  // Committed within the grace period: live for good.
  CommitPointer(a, "late.bin", data);
  r = Gc(10 * kDay);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->files_removed, 0);
  EXPECT_TRUE(Read(oid).ok());
  // Never committed, past the grace period: gone, and so is "this repo has it" (the LFS batch
  // API must ask for the upload again).
  std::string other = RandomData(90'000, 5);
  std::string other_oid = Upload(a, other);
  r = Gc(2 * kDay);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->files_removed, 1);
  EXPECT_TRUE(meta()->GetFile(other_oid).status().IsNotFound());
  EXPECT_FALSE(*meta()->IsLfsObjectLinked(a.id, other_oid));
  EXPECT_TRUE(Read(oid).ok());
}

TEST_F(GcTest, EveryRefKeepsItsFiles) {
  RepoRecord a = NewRepo("a", RepoType::kDataset);
  std::string on_branch = RandomData(70'000, 6);
  std::string on_tag = RandomData(80'000, 7);
  std::string in_history = RandomData(90'000, 8);
  for (const auto* d : {&on_branch, &on_tag, &in_history}) Upload(a, *d);
  auto git = Git(a);
  CommitPointer(a, "old.bin", in_history);
  ASSERT_TRUE(git->Commit("main", std::nullopt, {FileOp{FileOp::Kind::kDelete, "old.bin", {}, {}}}, kSig, "rm").ok());
  ASSERT_TRUE(git->CreateBranch("dev", "main").ok());
  CommitPointer(a, "dev.bin", on_branch, "dev");
  std::string tagged = CommitPointer(a, "tagged.bin", on_tag);
  ASSERT_TRUE(git->CreateTag("v1", tagged, "release", kSig).ok());
  ASSERT_TRUE(git->Commit("main", std::nullopt, {FileOp{FileOp::Kind::kDelete, "tagged.bin", {}, {}}}, kSig, "rm").ok());
  auto r = Gc(2 * kDay);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->reachable_files, 3);
  EXPECT_EQ(r->files_removed, 0);
  EXPECT_EQ(r->xorbs_removed, 0);
}

TEST_F(GcTest, IngestReusingACollectedXorbIsRefused) {
  RepoRecord a = NewRepo("a");
  // Large enough that the ingest below looks its first chunks up while it streams (the lookups
  // are batched), before GC runs.
  std::string old = RandomData(4'000'000, 9);
  std::string old_oid = Upload(a, old);  // never committed
  std::set<std::string> old_xorbs = XorbsOf(old_oid);

  // An upload that reuses the old chunks (same prefix) streams while GC collects them.
  std::string grown = old + RandomData(100'000, 10);
  auto in = chunks()->BeginIngest(Sha256Hex(grown), int64_t(grown.size()));
  ASSERT_TRUE(in.ok());
  ASSERT_TRUE((*in)->Write(grown.data(), grown.size()).ok());
  auto r = Gc(2 * kDay);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->files_removed, 1);
  Status s = (*in)->Finish();
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EXPECT_TRUE(s.retryable());
  EXPECT_TRUE(meta()->GetFile(Sha256Hex(grown)).status().IsNotFound());

  // The client's retry stores the chunks anew.
  std::string oid = Upload(a, grown);
  auto back = Read(oid);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == grown);

  // PutFileChecked itself: a xorb row that is gone (or being deleted) refuses the file.
  std::string gone = *old_xorbs.begin();
  EXPECT_TRUE(meta()->GetXorb(gone).status().IsNotFound());
  FileRecord f{Sha256Hex("x"), Sha256Hex("y"), 1, "", 0};
  EXPECT_EQ(meta()->PutFileChecked(f, {gone}).code(), Code::kUnavailable);
  EXPECT_TRUE(meta()->GetFile(f.sha256).status().IsNotFound());
}

TEST_F(GcTest, StaleUploadPartsOrphansAndLeftovers) {
  RepoRecord a = NewRepo("a");
  UploadSession s{"sess1", a.id, Sha256Hex("big"), 10, 5, 2, 0};
  ASSERT_TRUE(meta()->PutUploadSession(s).ok());
  for (int p = 1; p <= 2; ++p) {
    auto w = chunks()->NewPartWriter("sess1", p);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write("abcde", 5).ok());
    ASSERT_TRUE((*w)->Commit().ok());
  }
  auto w = chunks()->NewPartWriter("gone-session", 1);  // its session no longer exists
  ASSERT_TRUE((*w)->Write("xyz", 3).ok());
  ASSERT_TRUE((*w)->Commit().ok());
  // A stored xorb nobody recorded (a crash between the object and its row).
  xet::XetHash fake = *xet::XetHash::FromHex(Sha256Hex("fake"));
  auto ow = chunks()->blobs()->NewWriter(ChunkStore::XorbKey(fake));
  ASSERT_TRUE((*ow)->Write("junk", 4).ok());
  ASSERT_TRUE((*ow)->Commit().ok());
  // A deletion an earlier GC left halfway.
  RepoRecord b = NewRepo("b");
  std::string left = Upload(b, RandomData(50'000, 11));
  std::string left_xorb = *XorbsOf(left).begin();
  ASSERT_TRUE(meta()->DeleteFile(left).ok());
  ASSERT_TRUE(meta()
                  ->MarkXorbsDeleting({left_xorb}, NowMs() + kDay, NowMs() + kDay,
                                      [](const FileRecord&) -> Result<std::vector<std::string>> { return std::vector<std::string>{}; })
                  .ok());

  auto r = Gc(0);  // within grace: only the parts of the missing session and the leftover go
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->parts_removed, 1);
  EXPECT_EQ(r->sessions_removed, 0);
  EXPECT_EQ(r->orphans_removed, 0);
  EXPECT_EQ(r->leftovers_finished, 1);
  EXPECT_FALSE(XorbStored(left_xorb));
  EXPECT_TRUE(chunks()->PartSize("sess1", 1).ok());

  r = Gc(2 * kDay);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->sessions_removed, 1);
  EXPECT_EQ(r->parts_removed, 2);
  EXPECT_EQ(r->part_bytes, 10);
  EXPECT_EQ(r->orphans_removed, 1);
  EXPECT_FALSE(chunks()->PartSize("sess1", 1).ok());
  EXPECT_TRUE(meta()->GetUploadSession("sess1").status().IsNotFound());
  EXPECT_FALSE(XorbStored(fake.ToHex()));
}

TEST_F(GcTest, StaleBlobUploadsGoAfterTheUploadGracePeriod) {
  // Staged writes of the local blob store: one a killed process left two days ago, one in progress.
  const auto tmp = std::filesystem::path(root_) / "blobs" / ".tmp";
  ASSERT_TRUE(std::filesystem::is_directory(tmp));
  for (const char* name : {"crashed", "writing"}) ASSERT_TRUE(WriteFileAtomic((tmp / name).string(), "part").ok());
  std::filesystem::last_write_time(tmp / "crashed", std::filesystem::file_time_type::clock::now() - std::chrono::hours(48));

  auto r = Gc(0, /*dry_run=*/true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->stale_uploads_found, 1);
  EXPECT_NE(FormatGcReport(*r).find("\nstale uploads: 1 would be aborted (older than 24 h)\n"), std::string::npos)
      << FormatGcReport(*r);
  EXPECT_TRUE(std::filesystem::exists(tmp / "crashed"));

  r = Gc(0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->stale_uploads_removed, 1);
  EXPECT_EQ(r->delete_errors, 0);
  EXPECT_NE(FormatGcReport(*r).find("\nstale uploads: 1 aborted (older than 24 h)\n"), std::string::npos)
      << FormatGcReport(*r);
  EXPECT_FALSE(std::filesystem::exists(tmp / "crashed"));
  EXPECT_TRUE(std::filesystem::exists(tmp / "writing"));

  GcOptions o;
  o.upload_grace_ms = 0;
  o.lock_timeout_ms = 2000;
  r = CollectGarbage(hub_, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(FormatGcReport(*r).find("\nstale uploads: 1 aborted (older than 0 s)\n"), std::string::npos)
      << FormatGcReport(*r);
  EXPECT_FALSE(std::filesystem::exists(tmp / "writing"));
}

TEST_F(GcTest, SweepWaitsForWritersAndWritersWaitForTheSweep) {
  {
    auto shared = GcFence::Shared(root_);
    ASSERT_TRUE(shared.ok());
    EXPECT_TRUE(shared->held());
    auto also = GcFence::Shared(root_);  // writers do not exclude each other
    ASSERT_TRUE(also.ok());
    bool told = false;
    auto ex = GcFence::Exclusive(root_, 50, [&] { told = true; });
    EXPECT_EQ(ex.status().code(), Code::kUnavailable);
    EXPECT_TRUE(told);
    // GC refuses to sweep while a commit holds the fence (after its mark, nothing removed).
    auto r = Gc(2 * kDay);
    EXPECT_EQ(r.status().code(), Code::kUnavailable);
  }
  auto ex = GcFence::Exclusive(root_, 1000);
  ASSERT_TRUE(ex.ok());
  auto shared = GcFence::Shared(root_, 50);
  EXPECT_EQ(shared.status().code(), Code::kUnavailable);
  EXPECT_TRUE(shared.status().retryable());
  *ex = GcFence();
  EXPECT_TRUE(GcFence::Shared(root_, 50).ok());
  EXPECT_FALSE(GcFence::Shared("").value().held());  // no data folder: no fence
}

TEST_F(GcTest, WalkChangesSeesOnlyNewCommits) {
  RepoRecord a = NewRepo("a");
  std::string one = RandomData(10'000, 12);
  std::string two = RandomData(10'000, 13);
  std::string old = RandomData(10'000, 18);
  for (const auto* d : {&one, &two, &old}) Upload(a, *d);
  CommitPointer(a, "old.bin", old);
  ASSERT_TRUE(Git(a)->Commit("main", std::nullopt, {FileOp{FileOp::Kind::kDelete, "old.bin", {}, {}}}, kSig, "rm").ok());
  CommitPointer(a, "one.bin", one);
  ReachabilityWalk walk(meta(), hub_.repos_dir);
  std::multiset<std::string> seen;
  auto collect = [&](const PointerUse& u) {
    seen.insert(walk.Describe(u));
    return Status::Ok();
  };
  ASSERT_TRUE(walk.WalkAll(collect).ok());
  EXPECT_EQ(seen.count("alice/a@main:one.bin"), 1u);
  EXPECT_EQ(seen.size(), 2u);  // and old.bin, at a short commit id
  seen.clear();
  ASSERT_TRUE(walk.WalkChanges(collect).ok());
  EXPECT_TRUE(seen.empty());
  // New commits only: the new tip's tree (one.bin is in it again), not the history before it.
  CommitPointer(a, "two.bin", two);
  RepoRecord b = NewRepo("b");
  Upload(b, one);
  CommitPointer(b, "x/one.bin", one);
  ASSERT_TRUE(walk.WalkChanges(collect).ok());
  EXPECT_EQ(seen, (std::multiset<std::string>{"alice/a@main:one.bin", "alice/a@main:two.bin", "alice/b@main:x/one.bin"}));
}

TEST_F(GcTest, FsckCleanOnAHealthyStore) {
  RepoRecord a = NewRepo("a");
  std::string data = RandomData(250'000, 14);
  Upload(a, data);
  CommitPointer(a, "w.bin", data);
  auto r = RunFsck(hub_, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->errors(), 0) << FormatFsckReport(*r, true);
  EXPECT_EQ(r->orphans, 0);
  EXPECT_EQ(r->files_checked, 1);
  EXPECT_GE(r->xorbs_checked, 1);
  EXPECT_NE(FormatFsckReport(*r, false).find("no errors"), std::string::npos);
}

TEST_F(GcTest, FsckFindsAFlippedByteAndNamesWhatItAffects) {
  RepoRecord a = NewRepo("model");
  RepoRecord b = NewRepo("fork");
  std::string data = RandomData(200'000, 15);
  std::string oid = Upload(a, data);
  CommitPointer(a, "weights.safetensors", data);
  Upload(b, data);
  CommitPointer(b, "w.bin", data);
  std::string xorb = *XorbsOf(oid).begin();
  // Flip one byte inside the first chunk's payload (after its 8-byte header).
  std::string path = root_ + "/blobs/" + ChunkStore::XorbKey(*xet::XetHash::FromHex(xorb));
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path;
  char c = 0;
  ASSERT_EQ(::pread(fd, &c, 1, 100), 1);
  c = char(c ^ 0x20);
  ASSERT_EQ(::pwrite(fd, &c, 1, 100), 1);
  ::close(fd);

  auto r = RunFsck(hub_, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->errors(), 1) << FormatFsckReport(*r, true);
  const FsckProblem& p = r->problems[0];
  EXPECT_EQ(p.what, "DAMAGED xorb " + xorb);
  EXPECT_EQ(p.detail, "chunk 0: content does not match its hash");
  EXPECT_EQ(p.affects_total, 2);
  std::set<std::string> affects(p.affects.begin(), p.affects.end());
  EXPECT_EQ(affects, (std::set<std::string>{"alice/model@main:weights.safetensors", "alice/fork@main:w.bin"}));
  std::string text = FormatFsckReport(*r, false);
  EXPECT_NE(text.find("DAMAGED xorb " + xorb + ": chunk 0: content does not match its hash — affects alice/"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("(and 1 more)"), std::string::npos) << text;
  EXPECT_NE(text.find("1 error"), std::string::npos) << text;

  // A missing object is an error too; an unrecorded healthy one is only reported, an unrecorded
  // damaged one is an error (an upload of the same content would adopt it).
  ASSERT_TRUE(chunks()->blobs()->Delete(ChunkStore::XorbKey(*xet::XetHash::FromHex(xorb))).ok());
  auto put = [&](const xet::XetHash& h, const std::string& bytes) {
    auto w = chunks()->blobs()->NewWriter(ChunkStore::XorbKey(h));
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Write(bytes.data(), bytes.size()).ok());
    ASSERT_TRUE((*w)->Commit().ok());
  };
  xet::XorbWriter healthy;
  std::string chunk = RandomData(5000, 18);
  ASSERT_TRUE(healthy.Append(chunk, xet::ChunkHash(chunk)).ok());
  xet::XetHash healthy_hash = xet::XorbHash(healthy.ChunkHashesAndSizes());
  put(healthy_hash, healthy.SerializeWithFooter(healthy_hash));
  r = RunFsck(hub_, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->errors(), 1) << FormatFsckReport(*r, false);
  EXPECT_EQ(r->problems[0].what, "MISSING xorb " + xorb);
  EXPECT_EQ(r->orphans, 1);
  EXPECT_EQ(r->problems.back().what, "ORPHAN xorb " + healthy_hash.ToHex());
  EXPECT_FALSE(r->problems.back().error);
  xet::XetHash fake = *xet::XetHash::FromHex(Sha256Hex("orphan"));
  put(fake, "junk");
  r = RunFsck(hub_, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->errors(), 2) << FormatFsckReport(*r, false);
  EXPECT_NE(FormatFsckReport(*r, false).find("DAMAGED xorb " + fake.ToHex() + ": stored but not recorded, and "),
            std::string::npos)
      << FormatFsckReport(*r, false);
  ASSERT_TRUE(chunks()->blobs()->Delete(ChunkStore::XorbKey(fake)).ok());
  // A pointer to content that was never stored, nor uploaded to the repository: junk someone
  // wrote (storage/meta/object_ownership.h), reported but not an error.
  ASSERT_TRUE(Git(a)->Commit("main", std::nullopt,
                             {FileOp{FileOp::Kind::kUpsert, "ghost.bin", FormatLfsPointer(Sha256Hex("ghost"), 5), {}}},
                             kSig, "ghost")
                  .ok());
  r = RunFsck(hub_, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->errors(), 1) << FormatFsckReport(*r, false);
  EXPECT_EQ(r->unowned_pointers, 1);
  EXPECT_NE(FormatFsckReport(*r, false).find("UNOWNED pointer " + Sha256Hex("ghost") +
                                             ": the repository never uploaded this object, so it is not served; "
                                             "not storage damage — affects alice/model@main:ghost.bin"),
            std::string::npos)
      << FormatFsckReport(*r, false);
  // The same pointer once the repository did upload the object, whose file is then lost: damage.
  ASSERT_TRUE(meta()->PutLfsObject(LfsObject{Sha256Hex("ghost"), 5, 0}).ok());
  ASSERT_TRUE(meta()->LinkLfsObject(a.id, Sha256Hex("ghost")).ok());
  r = RunFsck(hub_, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->errors(), 2);
  EXPECT_EQ(r->unowned_pointers, 0);
  EXPECT_NE(FormatFsckReport(*r, false).find("MISSING file " + Sha256Hex("ghost") +
                                             ": 5 bytes: not in the chunk store — affects alice/model@main:ghost.bin"),
            std::string::npos)
      << FormatFsckReport(*r, false);
}

TEST_F(GcTest, StatsOfTwoReposSharingAFile) {
  RepoRecord a = NewRepo("a");
  RepoRecord b = NewRepo("b");
  std::string shared = RandomData(300'000, 16);
  std::string mine = RandomData(100'000, 17);
  std::string s_oid = Upload(a, shared);
  std::string m_oid = Upload(a, mine);
  CommitPointer(a, "shared.bin", shared);
  CommitPointer(a, "mine.bin", mine);
  CommitPointer(a, "again/shared.bin", shared);  // the same file twice in one repo counts once
  Upload(b, shared);
  CommitPointer(b, "shared.bin", shared);
  const int64_t S = int64_t(shared.size());
  const int64_t M = int64_t(mine.size());
  const int64_t s_rec = RecordBytesOf(s_oid, S);
  const int64_t m_rec = RecordBytesOf(m_oid, M);

  auto st = ComputeHubStorageStats(hub_);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->repos, 2);
  EXPECT_EQ(st->lfs_files, 2);
  EXPECT_EQ(st->logical_bytes, S + M);
  EXPECT_EQ(st->logical_bytes_per_repo, 2 * S + M);
  EXPECT_EQ(st->stored_bytes, StoredBytesOf(XorbsOf(s_oid)) + StoredBytesOf(XorbsOf(m_oid)));
  EXPECT_GT(st->stored_bytes, s_rec + m_rec);  // records plus footers
  EXPECT_NEAR(st->dedup_ratio(), double(S + M) / double(st->stored_bytes), 1e-9);
  ASSERT_EQ(st->per_repo.size(), 2u);
  EXPECT_EQ(st->per_repo[0].lfs_files, 2);
  EXPECT_EQ(st->per_repo[0].logical_bytes, S + M);
  EXPECT_EQ(st->per_repo[0].unique_stored_bytes, s_rec + m_rec);
  EXPECT_EQ(st->per_repo[1].logical_bytes, S);
  EXPECT_EQ(st->per_repo[1].unique_stored_bytes, s_rec);
  EXPECT_EQ(st->missing_files, 0);
  std::string json = FormatStatsJson(*st);
  EXPECT_NE(json.find("\"logicalBytesPerRepo\": " + std::to_string(2 * S + M)), std::string::npos) << json;
  EXPECT_NE(FormatStatsText(*st).find("alice/b"), std::string::npos);

  // One revision (what the repo info API reports).
  auto rev = ComputeRevisionStorage(chunks(), {LfsPointer{s_oid, S}, LfsPointer{m_oid, M}, LfsPointer{s_oid, S}});
  ASSERT_TRUE(rev.ok());
  EXPECT_EQ(rev->lfs_files, 2);
  EXPECT_EQ(rev->logical_bytes, S + M);
  EXPECT_EQ(rev->stored_bytes, s_rec + m_rec);
  auto missing = ComputeRevisionStorage(chunks(), {LfsPointer{Sha256Hex("nope"), 7}});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->missing_files, 1);
  EXPECT_EQ(missing->stored_bytes, 0);
}

// Uploads (some reusing chunks of files that just became garbage), commits under the fence, and
// GC with no grace period at all, concurrently: whatever interleaving, no commit may end up with
// a pointer to content GC removed, and every committed file reads back.
TEST_F(GcTest, ConcurrentUploadsCommitsAndGcLeaveNoDanglingPointer) {
  RepoRecord a = NewRepo("a");
  std::string base = RandomData(400'000, 99);
  std::atomic<bool> stop{false};
  std::atomic<int> runs{0};
  std::string gc_error;
  std::thread collector([&] {
    while (!stop) {
      GcOptions o;
      o.grace_ms = 0;
      o.lock_timeout_ms = 10'000;
      auto r = CollectGarbage(hub_, o);
      if (!r.ok()) {
        gc_error = r.status().ToString();
        return;
      }
      ++runs;
    }
  });
  auto upload = [&](const std::string& data) -> Status {
    std::string oid = Sha256Hex(data);
    MH_ASSIGN_OR_RETURN(auto in, chunks()->BeginIngest(oid, int64_t(data.size())));
    for (size_t i = 0; i < data.size(); i += 30'000) {
      MH_RETURN_IF_ERROR(in->Write(data.data() + i, std::min<size_t>(30'000, data.size() - i)));
    }
    MH_RETURN_IF_ERROR(in->Finish());
    MH_RETURN_IF_ERROR(meta()->PutLfsObject(LfsObject{oid, int64_t(data.size()), 0}));
    return meta()->LinkLfsObject(a.id, oid);
  };
  std::vector<std::string> committed;
  int retried = 0;
  int refused = 0;
  int gave_up = 0;
  std::string failure;
  for (int i = 0; i < 60 && gc_error.empty() && failure.empty(); ++i) {
    std::string data = base.substr(0, 100'000 * size_t(i % 4 + 1)) + RandomData(20'000, 1000 + i);
    Status s;
    for (int attempt = 0; attempt < 10; ++attempt) {
      s = upload(data);
      // Unavailable: a xorb this upload reused was collected meanwhile. NotFound: with no grace
      // period at all, GC may take the fresh file before the upload links it. The client retries.
      if (s.code() != Code::kUnavailable && s.code() != Code::kNotFound) break;
      ++retried;
    }
    if (s.code() == Code::kUnavailable || s.code() == Code::kNotFound) {
      ++gave_up;  // with no grace period GC can win every retry; never a wrong answer though
      continue;
    }
    if (!s.ok()) {
      failure = "upload: " + s.ToString();
      break;
    }
    if (i % 3 == 0) continue;  // never committed: garbage for the next run
    // What the commit API does: under the shared fence, check the object, move the branch.
    auto fence = GcFence::Shared(root_);
    if (!fence.ok()) {
      failure = "fence: " + fence.status().ToString();
      break;
    }
    std::string oid = Sha256Hex(data);
    auto linked = meta()->IsLfsObjectLinked(a.id, oid);
    if (!chunks()->Size(oid).ok() || !linked.ok() || !*linked) {
      ++refused;  // collected between upload and commit ("upload it again")
      continue;
    }
    CommitPointer(a, "f" + std::to_string(i) + ".bin", data);
    committed.push_back(data);
  }
  stop = true;
  collector.join();
  ASSERT_TRUE(failure.empty()) << failure;
  ASSERT_TRUE(gc_error.empty()) << gc_error;
  EXPECT_GT(runs.load(), 0);
  auto f = RunFsck(hub_, {});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->errors(), 0) << FormatFsckReport(*f, true);
  for (const std::string& d : committed) {
    auto back = Read(Sha256Hex(d));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_TRUE(*back == d);
  }
  // Informational: how often the races were actually hit.
  std::cerr << "gc runs " << runs.load() << ", committed " << committed.size() << ", upload retries " << retried
            << ", refused commits " << refused << ", uploads given up " << gave_up << "\n";
}

}  // namespace
}  // namespace modelhub
