// LibGit2Repo: the GitRepo implementation on a bare repository, with libgit2.
//
// Conventions of this file:
// - every "commit" argument accepts any revision ResolveRevision accepts;
// - branch and tag arguments are short names ("main", "v1.0");
// - ref updates go through git_reference_create_matching/git_reference_delete,
//   which compare the old value under the ref's lock file: a writer that lost a
//   race gets PreconditionFailed and has changed nothing but unreachable objects.
#include "repo/git_repo.h"

#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

#include "common/fs.h"
#include "common/sole_writer.h"
#include "common/strings.h"
#include "common/time_util.h"
#include "repo/libgit2_util.h"
#include "repo/ref_cache.h"
#include "repo/stale_locks.h"
#include "repo/tree_editor.h"

namespace modelhub {

namespace {

using git::BlobPtr;
using git::CommitPtr;
using git::FromGit;
using git::ObjectPtr;
using git::OidHex;
using git::ReferencePtr;
using git::RepositoryPtr;
using git::RevwalkPtr;
using git::SignaturePtr;
using git::TreeEntryPtr;
using git::TreePtr;

constexpr char kHeads[] = "refs/heads/";
constexpr char kTags[] = "refs/tags/";

Status RevisionNotFound(const std::string& rev, const std::string& why = {}) {
  std::string msg = "Invalid rev id: " + rev;
  if (!why.empty()) msg += " (" + why + ")";
  return Status::NotFound(std::move(msg), "RevisionNotFound");
}

Status EntryNotFound(const std::string& path) {
  return Status::NotFound("Entry not found: " + path, "EntryNotFound");
}

// A ref update that finds the ref's lock file held by another writer is
// retried for a short while: the holder is about to finish, and after it the
// compare-and-swap decides.
template <typename F>
int RetryBriefly(F&& f) {
  int rc = 0;
  auto delay = std::chrono::microseconds(500);
  for (int attempt = 0; attempt < 40; ++attempt) {
    rc = f();
    if (rc != GIT_ELOCKED) return rc;
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::microseconds(50'000));
  }
  return rc;
}

// RetryBriefly, and when the lock is still held after it: a lock file left by a
// writer that died (older than StaleLockAgeS(), repo/stale_locks.h) is removed and
// the update tried once more. A lock still held after that ends as GIT_ELOCKED
// (LockedStatus: Unavailable, retryable).
template <typename F>
int RetryWhileLocked(const std::string& gitdir, F&& f) {
  int rc = RetryBriefly(f);
  if (rc != GIT_ELOCKED) return rc;
  auto removed = RecoverStaleLocks(gitdir);
  if (removed.ok() && *removed > 0) rc = RetryBriefly(f);
  return rc;
}

// libgit2 1.5 may report a loose-object write that failed for lack of space as done (seen on
// a full tmpfs: write() gave ENOSPC, git_commit_create returned 0). So before a ref is moved to
// objects just written, the disk must still have room: with less than kMinFreeAfterWrite bytes
// available the write is refused as NoSpace rather than risk a ref to a missing object.
constexpr uint64_t kMinFreeAfterWrite = 1 << 20;
Status CheckSpaceAfterWrites(const std::string& gitdir) {
  struct statvfs vfs;
  if (::statvfs(gitdir.c_str(), &vfs) != 0) return Status::Ok();  // unknown: the ref update still checks
  if (static_cast<unsigned __int128>(vfs.f_bavail) * vfs.f_frsize >= kMinFreeAfterWrite) return Status::Ok();
  return Status::NoSpace("less than 1 MiB left on the disk of " + gitdir + " after writing objects");
}

// What a writer that found `what` locked for good is told (no server paths).
Status LockedStatus(const std::string& what) {
  return Status::Unavailable(fmt::format(
      "{} is locked by another writer; try again shortly (a lock left by a crashed writer is removed once it is "
      "{} s old)",
      what, StaleLockAgeS()));
}

// git rejects '<', '>' and newlines in identities and an empty name.
std::string CleanIdent(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c != '<' && c != '>' && c != '\n' && c != '\r' && c != '\0') out += c;
  }
  return Trim(out);
}

Result<SignaturePtr> MakeSignature(const GitSignature& who) {
  std::string name = CleanIdent(who.name);
  std::string email = CleanIdent(who.email);
  if (name.empty()) name = email.empty() ? "unknown" : email;
  git_signature* sig = nullptr;
  int rc = git_signature_new(&sig, name.c_str(), email.c_str(), who.time_s != 0 ? who.time_s : NowS(), 0);
  if (rc < 0) return Status::InvalidArgument("invalid author: " + name + " <" + email + ">");
  return SignaturePtr(sig);
}

// Git's message conventions: trailing whitespace removed, one final newline.
// Lines starting with '#' are kept (they are not comments here).
Result<std::string> CleanMessage(const std::string& message) {
  git::Buf buf;
  std::string m = message.substr(0, message.find('\0'));
  int rc = git_message_prettify(buf.get(), m.c_str(), /*strip_comments=*/0, '#');
  if (rc < 0) return FromGit(rc, "commit message");
  return buf.str();
}

CommitInfo ToCommitInfo(const git_commit* c) {
  CommitInfo info;
  info.id = OidHex(*git_commit_id(c));
  const char* raw = git_commit_message(c);
  info.message = raw != nullptr ? raw : "";
  while (!info.message.empty() && (info.message.back() == '\n' || info.message.back() == '\r')) {
    info.message.pop_back();
  }
  info.title = Trim(info.message.substr(0, info.message.find('\n')));
  const git_signature* a = git_commit_author(c);
  info.author_name = a->name != nullptr ? a->name : "";
  info.author_email = a->email != nullptr ? a->email : "";
  info.time_s = a->when.time;
  for (unsigned i = 0, n = git_commit_parentcount(c); i < n; ++i) {
    info.parents.push_back(OidHex(*git_commit_parent_id(c, i)));
  }
  return info;
}

// "a/b/" -> "a/b"; nullopt for paths that can never name an entry.
std::optional<std::string> NormalizePath(const std::string& path) {
  if (path.find('\0') != std::string::npos) return std::nullopt;
  std::string p = path;
  while (!p.empty() && p.back() == '/') p.pop_back();
  return p;
}

std::string OidKey(const git_oid& oid) { return std::string(reinterpret_cast<const char*>(oid.id), GIT_OID_RAWSZ); }

// Process-wide map key -> immutable value, bounded by a budget of cost units
// (cleared when full: entries are cheap to recompute). Thread-safe.
template <typename V>
class BoundedCache {
 public:
  explicit BoundedCache(size_t budget) : budget_(budget) {}
  std::optional<V> Get(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    return it->second;
  }
  void Put(const std::string& key, V value, size_t cost) {
    std::lock_guard<std::mutex> lock(mu_);
    if (used_ + cost > budget_) {
      map_.clear();
      used_ = 0;
    }
    if (map_.emplace(key, std::move(value)).second) used_ += cost;
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, V> map_;  // guarded by mu_
  size_t used_ = 0;                         // guarded by mu_
  const size_t budget_;
};

// Blob id -> size. Sizes never change for an id.
BoundedCache<int64_t>& BlobSizes() {
  static BoundedCache<int64_t> cache(1 << 20);
  return cache;
}

// (repository, blob id) -> content, for small blobs (LFS pointers, configs): a loose
// object read costs an open, a read and an inflate, and every GET/HEAD /resolve reads
// its blob (to tell an LFS pointer from a file). Content never changes for an id; the
// repository is part of the key so a repository only ever sees its own objects.
constexpr size_t kCachedBlobMax = 64 << 10;
BoundedCache<std::string>& SmallBlobs() {
  static BoundedCache<std::string> cache(32 << 20);
  return cache;
}

// The RefCache key of a repository directory: the path without trailing slashes.
std::string RepoKey(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

// Invalidates the cached revisions of a repository when a method that writes refs returns
// (on every path: a failed write may still have moved a ref).
class RefsChangedGuard {
 public:
  explicit RefsChangedGuard(const std::string& key) : key_(key) {}
  ~RefsChangedGuard() { RefCache::Shared().Invalidate(key_); }
  RefsChangedGuard(const RefsChangedGuard&) = delete;
  RefsChangedGuard& operator=(const RefsChangedGuard&) = delete;

 private:
  const std::string& key_;
};

class LibGit2Repo final : public GitRepo {
 public:
  LibGit2Repo(RepositoryPtr repo, std::string dir) : repo_(std::move(repo)), dir_(std::move(dir)) {}

  std::string DefaultBranch() override {
    git_reference* raw = nullptr;
    if (git_reference_lookup(&raw, repo_.get(), "HEAD") < 0) return "";
    ReferencePtr head(raw);
    if (git_reference_type(head.get()) != GIT_REFERENCE_SYMBOLIC) return "";
    std::string target = git_reference_symbolic_target(head.get());
    if (target.rfind(kHeads, 0) != 0) return "";
    return target.substr(std::strlen(kHeads));
  }

  Result<std::string> ResolveRevision(const std::string& rev) override {
    MH_ASSIGN_OR_RETURN(git_oid oid, Resolve(rev));
    return OidHex(oid);
  }

  Result<std::string> WriteBlob(const std::string& content) override {
    git_oid oid;
    int rc = git_blob_create_from_buffer(&oid, repo_.get(), content.data(), content.size());
    if (rc < 0) {
      // On a full disk libgit2 may report a failed write as another error ("reference not found").
      MH_RETURN_IF_ERROR(CheckSpaceAfterWrites(dir_));
      return FromGit(rc, "write blob");
    }
    return OidHex(oid);
  }

  Result<bool> IsBranch(const std::string& name) override {
    if (!IsValidRefName(name)) return false;
    git_reference* raw = nullptr;
    int rc = git_reference_lookup(&raw, repo_.get(), (kHeads + name).c_str());
    ReferencePtr ref(raw);
    if (rc == GIT_ENOTFOUND) return false;
    if (rc < 0) return FromGit(rc, "lookup branch " + name);
    return true;
  }

  Result<std::vector<TreeEntry>> ListTree(const std::string& commit, const std::string& dir,
                                          bool recursive) override {
    MH_ASSIGN_OR_RETURN(TreePtr root, CommitTree(commit));
    std::optional<std::string> d = NormalizePath(dir);
    if (!d) return EntryNotFound(dir);
    TreePtr tree;
    if (d->empty()) {
      tree = std::move(root);
    } else {
      MH_ASSIGN_OR_RETURN(TreeEntryPtr entry, EntryByPath(root.get(), *d));
      if (git_tree_entry_type(entry.get()) != GIT_OBJECT_TREE) return EntryNotFound(*d);
      git_tree* raw = nullptr;
      int rc = git_tree_lookup(&raw, repo_.get(), git_tree_entry_id(entry.get()));
      if (rc < 0) return FromGit(rc, "read tree " + *d);
      tree.reset(raw);
    }
    MH_ASSIGN_OR_RETURN(git::OdbPtr odb, Odb());
    std::vector<TreeEntry> out;
    MH_RETURN_IF_ERROR(ListDir(odb.get(), tree.get(), d->empty() ? "" : *d + "/", recursive, &out));
    return out;
  }

  // Stat("") returns the root directory (path "", oid of the root tree).
  Result<TreeEntry> Stat(const std::string& commit, const std::string& path) override {
    MH_ASSIGN_OR_RETURN(TreePtr root, CommitTree(commit));
    std::optional<std::string> p = NormalizePath(path);
    if (!p) return EntryNotFound(path);
    TreeEntry out;
    if (p->empty()) {
      out.type = TreeEntry::Type::kDirectory;
      out.oid = OidHex(*git_tree_id(root.get()));
      return out;
    }
    MH_ASSIGN_OR_RETURN(TreeEntryPtr entry, EntryByPath(root.get(), *p));
    out.path = *p;
    out.oid = OidHex(*git_tree_entry_id(entry.get()));
    switch (git_tree_entry_type(entry.get())) {
      case GIT_OBJECT_TREE:
        out.type = TreeEntry::Type::kDirectory;
        return out;
      case GIT_OBJECT_BLOB: {
        MH_ASSIGN_OR_RETURN(git::OdbPtr odb, Odb());
        MH_ASSIGN_OR_RETURN(out.size, BlobSize(odb.get(), *git_tree_entry_id(entry.get())));
        out.type = TreeEntry::Type::kFile;
        return out;
      }
      default:  // submodule: not something the hub serves
        return EntryNotFound(*p);
    }
  }

  Result<std::string> ReadBlob(const std::string& blob_oid) override {
    git_oid oid;
    if (!git::ParseOid(blob_oid, &oid)) return Status::InvalidArgument("invalid blob id: " + blob_oid);
    const std::string key = dir_ + '\0' + OidKey(oid);
    if (auto cached = SmallBlobs().Get(key)) return *std::move(cached);
    git_blob* raw = nullptr;
    int rc = git_blob_lookup(&raw, repo_.get(), &oid);
    if (rc == GIT_ENOTFOUND) return EntryNotFound(blob_oid);
    if (rc < 0) return FromGit(rc, "read blob " + blob_oid);
    BlobPtr blob(raw);
    std::string content(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                        static_cast<size_t>(git_blob_rawsize(blob.get())));
    if (content.size() <= kCachedBlobMax) SmallBlobs().Put(key, content, content.size() + key.size() + 64);
    return content;
  }

  Result<std::string> Commit(const std::string& branch, const std::optional<std::string>& expected_parent,
                             const std::vector<FileOp>& ops, const GitSignature& author,
                             const std::string& message) override {
    RefsChangedGuard refs_changed(dir_);
    if (!IsValidRefName(branch)) return RevisionNotFound(branch, "not a branch");
    const std::string refname = kHeads + branch;
    git_reference* raw_ref = nullptr;
    int rc = git_reference_lookup(&raw_ref, repo_.get(), refname.c_str());
    if (rc == GIT_ENOTFOUND) return RevisionNotFound(branch, "no such branch");
    if (rc < 0) return FromGit(rc, "lookup branch " + branch);
    ReferencePtr ref(raw_ref);
    if (git_reference_type(ref.get()) != GIT_REFERENCE_DIRECT) {
      return Status::InvalidArgument("branch " + branch + " is a symbolic ref");
    }
    const git_oid head = *git_reference_target(ref.get());

    if (expected_parent) MH_RETURN_IF_ERROR(CheckParent(head, *expected_parent));

    MH_ASSIGN_OR_RETURN(CommitPtr parent, LookupCommit(head));
    git_tree* raw_tree = nullptr;
    rc = git_commit_tree(&raw_tree, parent.get());
    if (rc < 0) return FromGit(rc, "read tree of " + OidHex(head));
    git::TreeEditor editor(repo_.get(), TreePtr(raw_tree));
    for (const FileOp& op : ops) MH_RETURN_IF_ERROR(editor.Apply(op));
    MH_ASSIGN_OR_RETURN(git_oid tree_id, editor.Write());

    const git_commit* parents[] = {parent.get()};
    MH_ASSIGN_OR_RETURN(git_oid new_id, WriteCommit(tree_id, author, message, 1, parents));
    MH_RETURN_IF_ERROR(CheckSpaceAfterWrites(dir_));

    std::string log = "commit: " + message.substr(0, message.find('\n'));
    rc = RetryWhileLocked(dir_, [&] {
      git_reference* out = nullptr;
      int r = git_reference_create_matching(&out, repo_.get(), refname.c_str(), &new_id, /*force=*/1, &head,
                                            log.c_str());
      git_reference_free(out);
      return r;
    });
    if (rc == GIT_EMODIFIED || rc == GIT_ENOTFOUND) {
      return Status::PreconditionFailed("The branch " + branch +
                                        " was updated by another commit while this one was being written; "
                                        "parentCommit mismatch, retry from the new head");
    }
    if (rc == GIT_ELOCKED) return LockedStatus(refname);
    if (rc < 0) return FromGit(rc, "update " + refname);
    return OidHex(new_id);
  }

  Result<std::vector<RefInfo>> ListBranches() override { return ListRefs(kHeads); }
  Result<std::vector<RefInfo>> ListTags() override { return ListRefs(kTags); }
  Result<std::vector<RefInfo>> ListAllRefs() override { return ListRefs("refs/"); }

  Status ForEachReachableFile(const std::vector<std::string>& tips, const std::vector<std::string>& hide,
                              const std::function<Status(const ReachableFile&)>& fn) override {
    git_revwalk* raw_walk = nullptr;
    int rc = git_revwalk_new(&raw_walk, repo_.get());
    if (rc < 0) return FromGit(rc, "revwalk");
    RevwalkPtr walk(raw_walk);
    for (const std::string& tip : tips) {
      MH_ASSIGN_OR_RETURN(git_oid id, Resolve(tip));
      rc = git_revwalk_push(walk.get(), &id);
      if (rc < 0) return FromGit(rc, "revwalk from " + tip);
    }
    for (const std::string& h : hide) {
      git_oid id;
      if (!git::ParseOid(h, &id)) return Status::InvalidArgument("not a commit id: " + h);
      rc = git_revwalk_hide(walk.get(), &id);
      // A commit this repository no longer has hides nothing.
      if (rc < 0 && rc != GIT_ENOTFOUND) return FromGit(rc, "revwalk hide " + h);
    }
    MH_ASSIGN_OR_RETURN(git::OdbPtr odb, Odb());
    FileWalk state{odb.get(), fn, {}, {}, {}};
    git_oid id;
    while ((rc = git_revwalk_next(&id, walk.get())) == 0) {
      MH_ASSIGN_OR_RETURN(CommitPtr commit, LookupCommit(id));
      const git_oid* tree_id = git_commit_tree_id(commit.get());
      if (!state.trees.insert(OidKey(*tree_id)).second) continue;
      git_tree* raw_tree = nullptr;
      rc = git_tree_lookup(&raw_tree, repo_.get(), tree_id);
      if (rc < 0) return FromGit(rc, "read tree of " + OidHex(id));
      TreePtr tree(raw_tree);
      state.commit = OidHex(id);
      MH_RETURN_IF_ERROR(WalkTree(state, tree.get(), ""));
    }
    if (rc != GIT_ITEROVER) return FromGit(rc, "revwalk");
    return Status::Ok();
  }

  Status CreateBranch(const std::string& name, const std::string& commit) override {
    RefsChangedGuard refs_changed(dir_);
    if (!IsValidRefName(name)) return Status::InvalidArgument("Invalid branch name: " + name);
    MH_ASSIGN_OR_RETURN(git_oid target, Resolve(commit));
    const std::string refname = kHeads + name;
    MH_RETURN_IF_ERROR(CheckRefPathFree(refname));
    int rc = RetryWhileLocked(dir_, [&] {
      git_reference* out = nullptr;
      int r = git_reference_create(&out, repo_.get(), refname.c_str(), &target, /*force=*/0, "branch: created");
      git_reference_free(out);
      return r;
    });
    if (rc == GIT_EEXISTS) return Status::Conflict("Reference already exists: " + refname);
    if (rc == GIT_ELOCKED) return LockedStatus(refname);
    if (rc < 0) return FromGit(rc, "create " + refname);
    return Status::Ok();
  }

  Status DeleteBranch(const std::string& name) override {
    if (name == DefaultBranch()) {
      return Status::InvalidArgument("Cannot delete " + std::string(kHeads) + name + ": it is the default branch");
    }
    return DeleteRef(kHeads, name);
  }

  Status CreateTag(const std::string& name, const std::string& commit, const std::string& message,
                   const GitSignature& tagger) override {
    RefsChangedGuard refs_changed(dir_);
    if (!IsValidRefName(name)) return Status::InvalidArgument("Invalid tag name: " + name);
    MH_ASSIGN_OR_RETURN(git_oid target_id, Resolve(commit));
    git_object* raw = nullptr;
    int rc = git_object_lookup(&raw, repo_.get(), &target_id, GIT_OBJECT_COMMIT);
    if (rc < 0) return FromGit(rc, "read commit " + OidHex(target_id));
    ObjectPtr target(raw);
    MH_RETURN_IF_ERROR(CheckRefPathFree(kTags + name));
    git_oid tag_id;
    if (message.empty()) {
      rc = RetryWhileLocked(
          dir_, [&] { return git_tag_create_lightweight(&tag_id, repo_.get(), name.c_str(), target.get(), 0); });
    } else {
      MH_ASSIGN_OR_RETURN(SignaturePtr sig, MakeSignature(tagger));
      MH_ASSIGN_OR_RETURN(std::string msg, CleanMessage(message));
      rc = RetryWhileLocked(dir_, [&] {
        return git_tag_create(&tag_id, repo_.get(), name.c_str(), target.get(), sig.get(), msg.c_str(), 0);
      });
    }
    if (rc == GIT_EEXISTS) return Status::Conflict("Reference already exists: " + std::string(kTags) + name);
    if (rc == GIT_ELOCKED) return LockedStatus(std::string(kTags) + name);
    if (rc < 0) return FromGit(rc, "create tag " + name);
    return Status::Ok();
  }

  Status DeleteTag(const std::string& name) override { return DeleteRef(kTags, name); }

  // limit < 0: no limit.
  Result<std::vector<CommitInfo>> Log(const std::string& commit, int64_t skip, int64_t limit) override {
    MH_ASSIGN_OR_RETURN(RevwalkPtr walk, Walk(commit, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME));
    std::vector<CommitInfo> out;
    git_oid oid;
    int64_t index = 0;
    int rc = 0;
    while ((limit < 0 || static_cast<int64_t>(out.size()) < limit) && (rc = git_revwalk_next(&oid, walk.get())) == 0) {
      if (index++ < skip) continue;
      MH_ASSIGN_OR_RETURN(CommitPtr c, LookupCommit(oid));
      out.push_back(ToCommitInfo(c.get()));
    }
    if (rc < 0 && rc != GIT_ITEROVER) return FromGit(rc, "walk history");
    return out;
  }

  Result<int64_t> CountCommits(const std::string& commit) override {
    MH_ASSIGN_OR_RETURN(RevwalkPtr walk, Walk(commit, GIT_SORT_NONE));
    int64_t n = 0;
    git_oid oid;
    int rc;
    while ((rc = git_revwalk_next(&oid, walk.get())) == 0) ++n;
    if (rc != GIT_ITEROVER) return FromGit(rc, "walk history");
    return n;
  }

  // max_commits <= 0: no limit. NotFound("EntryNotFound") when path exists in
  // no commit of the history.
  Result<CommitInfo> LastCommitTouching(const std::string& commit, const std::string& path,
                                        int64_t max_commits) override {
    std::optional<std::string> p = NormalizePath(path);
    if (!p) return EntryNotFound(path);
    MH_ASSIGN_OR_RETURN(RevwalkPtr walk, Walk(commit, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME));
    // Entry ids already computed for first parents, which the walk visits next.
    std::unordered_map<std::string, std::optional<git_oid>> known;
    int64_t scanned = 0;
    git_oid oid;
    int rc;
    while ((rc = git_revwalk_next(&oid, walk.get())) == 0) {
      ++scanned;
      MH_ASSIGN_OR_RETURN(CommitPtr c, LookupCommit(oid));
      std::optional<git_oid> here;
      if (auto it = known.find(OidHex(oid)); it != known.end()) {
        here = it->second;
        known.erase(it);
      } else {
        MH_ASSIGN_OR_RETURN(here, EntryIdAt(c.get(), *p));
      }
      std::optional<git_oid> before;
      if (git_commit_parentcount(c.get()) > 0) {
        const git_oid* parent_id = git_commit_parent_id(c.get(), 0);
        MH_ASSIGN_OR_RETURN(CommitPtr parent, LookupCommit(*parent_id));
        MH_ASSIGN_OR_RETURN(before, EntryIdAt(parent.get(), *p));
        known[OidHex(*parent_id)] = before;
      }
      bool same = here.has_value() == before.has_value() && (!here || git_oid_equal(&*here, &*before));
      if (!same || (max_commits > 0 && scanned >= max_commits)) return ToCommitInfo(c.get());
    }
    if (rc != GIT_ITEROVER) return FromGit(rc, "walk history");
    return EntryNotFound(*p);
  }

  Result<CommitInfo> GetCommit(const std::string& commit) override {
    MH_ASSIGN_OR_RETURN(git_oid oid, Resolve(commit));
    MH_ASSIGN_OR_RETURN(CommitPtr c, LookupCommit(oid));
    return ToCommitInfo(c.get());
  }

  // Shared with GitRepo::Create.
  Result<git_oid> WriteCommit(const git_oid& tree_id, const GitSignature& author, const std::string& message,
                              size_t parent_count, const git_commit* parents[]) {
    git_tree* raw = nullptr;
    int rc = git_tree_lookup(&raw, repo_.get(), &tree_id);
    if (rc < 0) return FromGit(rc, "read new tree");
    TreePtr tree(raw);
    MH_ASSIGN_OR_RETURN(SignaturePtr sig, MakeSignature(author));
    MH_ASSIGN_OR_RETURN(std::string msg, CleanMessage(message));
    git_oid id;
    rc = git_commit_create(&id, repo_.get(), /*update_ref=*/nullptr, sig.get(), sig.get(), /*encoding=*/nullptr,
                           msg.c_str(), tree.get(), parent_count, parents);
    if (rc < 0) return FromGit(rc, "write commit");
    return id;
  }

  git_repository* raw() { return repo_.get(); }

 private:
  Result<git_oid> PeelToCommit(git_object* obj, const std::string& rev) {
    git_object* raw = nullptr;
    int rc = git_object_peel(&raw, obj, GIT_OBJECT_COMMIT);
    if (rc < 0) return RevisionNotFound(rev, "not a commit");
    ObjectPtr peeled(raw);
    return *git_object_id(peeled.get());
  }

  // The resolution order of the header: HEAD, refs/..., refs/heads/<rev>,
  // refs/tags/<rev>, then a full id or a unique prefix of >= 7 hex digits.
  Result<git_oid> Resolve(const std::string& rev) {
    if (rev.empty() || rev.find('\0') != std::string::npos) return RevisionNotFound(rev);
    // A full object id is by far the most common revision after the first
    // request of a client (it pins the commit it got): look it up directly
    // instead of first probing refs/heads/<id> and refs/tags/<id> on disk.
    if (rev.size() == GIT_OID_HEXSZ && IsHex(rev)) {
      git_oid oid;
      git_object* raw = nullptr;
      if (git_oid_fromstrn(&oid, rev.data(), rev.size()) == 0 &&
          git_object_lookup(&raw, repo_.get(), &oid, GIT_OBJECT_ANY) == 0) {
        ObjectPtr obj(raw);
        return PeelToCommit(obj.get(), rev);
      }
    }
    // Branch and tag names: answered from the RefCache while no ref of this repository changed
    // (only in a process that is the sole writer of the refs; common/sole_writer.h).
    const bool use_cache = IsSoleWriter();
    RefCache::Hit hit;
    if (use_cache) hit = RefCache::Shared().Lookup(dir_, rev);
    if (hit.commit && hit.commit->size() == GIT_OID_RAWSZ) {
      git_oid cached;
      std::memcpy(cached.id, hit.commit->data(), GIT_OID_RAWSZ);
      return cached;
    }
    std::vector<std::string> names;
    if (rev == "HEAD" || rev.rfind("refs/", 0) == 0) {
      names.push_back(rev);
    } else {
      names.push_back(kHeads + rev);
      names.push_back(kTags + rev);
    }
    for (const std::string& name : names) {
      int valid = 0;
      if (git_reference_name_is_valid(&valid, name.c_str()) < 0 || !valid) continue;
      git_reference* raw = nullptr;
      int rc = git_reference_lookup(&raw, repo_.get(), name.c_str());
      if (rc == GIT_ENOTFOUND || rc == GIT_EINVALIDSPEC) continue;
      if (rc < 0) return FromGit(rc, "lookup " + name);
      ReferencePtr ref(raw);
      git_object* obj = nullptr;
      rc = git_reference_peel(&obj, ref.get(), GIT_OBJECT_COMMIT);
      if (rc < 0) return RevisionNotFound(rev, rc == GIT_ENOTFOUND ? "unborn branch" : "not a commit");
      ObjectPtr peeled(obj);
      const git_oid* id = git_object_id(peeled.get());
      if (use_cache) {
        RefCache::Shared().Put(dir_, hit.generation, rev,
                               std::string(reinterpret_cast<const char*>(id->id), GIT_OID_RAWSZ));
      }
      return *id;
    }
    if (rev.size() >= 7 && rev.size() <= GIT_OID_HEXSZ && IsHex(rev)) {
      git_oid prefix;
      if (git_oid_fromstrn(&prefix, rev.data(), rev.size()) < 0) return RevisionNotFound(rev);
      git_object* raw = nullptr;
      int rc = git_object_lookup_prefix(&raw, repo_.get(), &prefix, rev.size(), GIT_OBJECT_ANY);
      if (rc == GIT_ENOTFOUND) return RevisionNotFound(rev);
      if (rc == GIT_EAMBIGUOUS) return RevisionNotFound(rev, "ambiguous commit id prefix");
      if (rc < 0) return FromGit(rc, "lookup " + rev);
      ObjectPtr obj(raw);
      return PeelToCommit(obj.get(), rev);
    }
    return RevisionNotFound(rev);
  }

  // expected: a full id or a unique prefix (>= 4 hex digits).
  Status CheckParent(const git_oid& head, const std::string& expected) {
    if (expected.size() < 4 || expected.size() > GIT_OID_HEXSZ || !IsHex(expected)) {
      return Status::InvalidArgument("Invalid parentCommit: " + expected);
    }
    bool match = false;
    if (expected.size() == GIT_OID_HEXSZ) {
      match = ToLower(expected) == OidHex(head);
    } else {
      git_oid prefix;
      git_object* raw = nullptr;
      int rc = git_oid_fromstrn(&prefix, expected.data(), expected.size());
      if (rc == 0) rc = git_object_lookup_prefix(&raw, repo_.get(), &prefix, expected.size(), GIT_OBJECT_ANY);
      ObjectPtr obj(raw);
      if (rc == GIT_EAMBIGUOUS) return Status::InvalidArgument("Ambiguous parentCommit: " + expected);
      if (rc < 0 && rc != GIT_ENOTFOUND) return FromGit(rc, "lookup parentCommit " + expected);
      match = rc == 0 && git_oid_equal(git_object_id(obj.get()), &head);
    }
    if (!match) {
      return Status::PreconditionFailed(
          "The branch was updated since you opened this page; parentCommit mismatch (head is " + OidHex(head) +
          ", parentCommit is " + expected + ")");
    }
    return Status::Ok();
  }

  Result<CommitPtr> LookupCommit(const git_oid& oid) {
    git_commit* raw = nullptr;
    int rc = git_commit_lookup(&raw, repo_.get(), &oid);
    if (rc == GIT_ENOTFOUND) return RevisionNotFound(OidHex(oid));
    if (rc < 0) return FromGit(rc, "read commit " + OidHex(oid));
    return CommitPtr(raw);
  }

  Result<TreePtr> CommitTree(const std::string& rev) {
    MH_ASSIGN_OR_RETURN(git_oid oid, Resolve(rev));
    MH_ASSIGN_OR_RETURN(CommitPtr c, LookupCommit(oid));
    git_tree* raw = nullptr;
    int rc = git_commit_tree(&raw, c.get());
    if (rc < 0) return FromGit(rc, "read tree of " + OidHex(oid));
    return TreePtr(raw);
  }

  Result<TreeEntryPtr> EntryByPath(const git_tree* root, const std::string& path) {
    git_tree_entry* raw = nullptr;
    int rc = git_tree_entry_bypath(&raw, root, path.c_str());
    if (rc == GIT_ENOTFOUND) return EntryNotFound(path);
    if (rc < 0) return FromGit(rc, "lookup " + path);
    return TreeEntryPtr(raw);
  }

  // Id of the tree entry at path in c's tree ("" = the root tree); nullopt if absent.
  Result<std::optional<git_oid>> EntryIdAt(const git_commit* c, const std::string& path) {
    if (path.empty()) return std::optional<git_oid>(*git_commit_tree_id(c));
    git_tree* raw_tree = nullptr;
    int rc = git_commit_tree(&raw_tree, c);
    if (rc < 0) return FromGit(rc, "read tree of " + OidHex(*git_commit_id(c)));
    TreePtr tree(raw_tree);
    git_tree_entry* raw = nullptr;
    rc = git_tree_entry_bypath(&raw, tree.get(), path.c_str());
    if (rc == GIT_ENOTFOUND) return std::optional<git_oid>();
    if (rc < 0) return FromGit(rc, "lookup " + path);
    TreeEntryPtr entry(raw);
    return std::optional<git_oid>(*git_tree_entry_id(entry.get()));
  }

  Result<git::OdbPtr> Odb() {
    git_odb* raw = nullptr;
    int rc = git_repository_odb(&raw, repo_.get());
    if (rc < 0) return FromGit(rc, "open object database");
    return git::OdbPtr(raw);
  }

  // Reads only the object header: large blobs are never inflated for a listing.
  // Blob sizes never change for an id, so they are remembered process-wide:
  // reading a loose object's header costs an open, a read and an inflate.
  Result<int64_t> BlobSize(git_odb* odb, const git_oid& oid) {
    if (auto cached = BlobSizes().Get(OidKey(oid))) return *cached;
    size_t len = 0;
    git_object_t type;
    int rc = git_odb_read_header(&len, &type, odb, &oid);
    if (rc < 0) return FromGit(rc, "read blob header " + OidHex(oid));
    BlobSizes().Put(OidKey(oid), static_cast<int64_t>(len), 1);
    return static_cast<int64_t>(len);
  }

  // Appends tree's entries in git order (a directory before its contents).
  // Submodule entries are skipped.
  Status ListDir(git_odb* odb, const git_tree* tree, const std::string& prefix, bool recursive,
                 std::vector<TreeEntry>* out) {
    for (size_t i = 0, n = git_tree_entrycount(tree); i < n; ++i) {
      const git_tree_entry* e = git_tree_entry_byindex(tree, i);
      TreeEntry entry;
      entry.path = prefix + git_tree_entry_name(e);
      entry.oid = OidHex(*git_tree_entry_id(e));
      git_object_t type = git_tree_entry_type(e);
      if (type == GIT_OBJECT_BLOB) {
        entry.type = TreeEntry::Type::kFile;
        MH_ASSIGN_OR_RETURN(entry.size, BlobSize(odb, *git_tree_entry_id(e)));
        out->push_back(std::move(entry));
      } else if (type == GIT_OBJECT_TREE) {
        entry.type = TreeEntry::Type::kDirectory;
        std::string sub_prefix = entry.path + "/";
        out->push_back(std::move(entry));
        if (recursive) {
          git_tree* raw = nullptr;
          int rc = git_tree_lookup(&raw, repo_.get(), git_tree_entry_id(e));
          if (rc < 0) return FromGit(rc, "read tree " + sub_prefix);
          TreePtr sub(raw);
          MH_RETURN_IF_ERROR(ListDir(odb, sub.get(), sub_prefix, recursive, out));
        }
      }
    }
    return Status::Ok();
  }

  // State of one ForEachReachableFile run.
  struct FileWalk {
    git_odb* odb;
    const std::function<Status(const ReachableFile&)>& fn;
    std::string commit;
    std::unordered_set<std::string> trees;               // raw 20-byte ids of trees entered
    std::unordered_map<std::string, int64_t> blob_sizes;  // raw id -> size, read once per blob
  };

  Status WalkTree(FileWalk& w, const git_tree* tree, const std::string& prefix) {
    for (size_t i = 0, n = git_tree_entrycount(tree); i < n; ++i) {
      const git_tree_entry* e = git_tree_entry_byindex(tree, i);
      const git_oid* oid = git_tree_entry_id(e);
      git_object_t type = git_tree_entry_type(e);
      if (type == GIT_OBJECT_TREE) {
        if (!w.trees.insert(OidKey(*oid)).second) continue;
        git_tree* raw = nullptr;
        int rc = git_tree_lookup(&raw, repo_.get(), oid);
        if (rc < 0) return FromGit(rc, "read tree " + prefix + git_tree_entry_name(e));
        TreePtr sub(raw);
        MH_RETURN_IF_ERROR(WalkTree(w, sub.get(), prefix + git_tree_entry_name(e) + "/"));
      } else if (type == GIT_OBJECT_BLOB) {
        std::string key = OidKey(*oid);
        auto it = w.blob_sizes.find(key);
        if (it == w.blob_sizes.end()) {
          MH_ASSIGN_OR_RETURN(int64_t size, BlobSize(w.odb, *oid));
          it = w.blob_sizes.emplace(std::move(key), size).first;
        }
        std::string path = prefix + git_tree_entry_name(e);
        std::string blob = OidHex(*oid);
        MH_RETURN_IF_ERROR(w.fn(ReachableFile{w.commit, path, blob, it->second}));
      }
    }
    return Status::Ok();
  }

  Result<RevwalkPtr> Walk(const std::string& commit, unsigned sort) {
    MH_ASSIGN_OR_RETURN(git_oid start, Resolve(commit));
    git_revwalk* raw = nullptr;
    int rc = git_revwalk_new(&raw, repo_.get());
    if (rc < 0) return FromGit(rc, "revwalk");
    RevwalkPtr walk(raw);
    rc = git_revwalk_sorting(walk.get(), sort);
    if (rc == 0) rc = git_revwalk_push(walk.get(), &start);
    if (rc < 0) return FromGit(rc, "revwalk");
    return walk;
  }

  Result<std::vector<RefInfo>> ListRefs(const std::string& prefix) {
    git_reference_iterator* raw_it = nullptr;
    // '*' matches across '/', so "feature/x" is listed too.
    int rc = git_reference_iterator_glob_new(&raw_it, repo_.get(), (prefix + "*").c_str());
    if (rc < 0) return FromGit(rc, "list " + prefix);
    git::RefIteratorPtr it(raw_it);
    std::vector<RefInfo> out;
    git_reference* raw = nullptr;
    while ((rc = git_reference_next(&raw, it.get())) == 0) {
      ReferencePtr ref(raw);
      git_object* obj = nullptr;
      // Refs that do not lead to a commit (a tag of a blob, say) are not revisions.
      if (git_reference_peel(&obj, ref.get(), GIT_OBJECT_COMMIT) < 0) continue;
      ObjectPtr peeled(obj);
      RefInfo info;
      info.ref = git_reference_name(ref.get());
      info.name = info.ref.substr(prefix.size());
      info.target = OidHex(*git_object_id(peeled.get()));
      out.push_back(std::move(info));
    }
    if (rc != GIT_ITEROVER) return FromGit(rc, "list " + prefix);
    std::sort(out.begin(), out.end(), [](const RefInfo& a, const RefInfo& b) { return a.ref < b.ref; });
    return out;
  }

  // git stores refs as files: "a" and "a/b" cannot both exist. libgit2
  // reports one direction of that clash as a generic error; check both here
  // so the caller gets Conflict.
  Status CheckRefPathFree(const std::string& refname) {
    for (size_t pos = refname.find('/', 5); pos != std::string::npos; pos = refname.find('/', pos + 1)) {
      git_reference* raw = nullptr;
      const std::string parent = refname.substr(0, pos);
      int rc = git_reference_lookup(&raw, repo_.get(), parent.c_str());
      git_reference_free(raw);
      if (rc == 0) return Status::Conflict("Cannot create " + refname + ": " + parent + " exists");
    }
    git_reference_iterator* raw_it = nullptr;
    int rc = git_reference_iterator_glob_new(&raw_it, repo_.get(), (refname + "/*").c_str());
    if (rc < 0) return FromGit(rc, "list " + refname + "/");
    git::RefIteratorPtr it(raw_it);
    const char* below = nullptr;
    rc = git_reference_next_name(&below, it.get());
    if (rc == 0) return Status::Conflict("Cannot create " + refname + ": " + below + " exists");
    if (rc != GIT_ITEROVER) return FromGit(rc, "list " + refname + "/");
    return Status::Ok();
  }

  Status DeleteRef(const std::string& prefix, const std::string& name) {
    RefsChangedGuard refs_changed(dir_);
    if (!IsValidRefName(name)) return RevisionNotFound(name);
    const std::string refname = prefix + name;
    git_reference* raw = nullptr;
    int rc = git_reference_lookup(&raw, repo_.get(), refname.c_str());
    if (rc == GIT_ENOTFOUND) return RevisionNotFound(name);
    if (rc < 0) return FromGit(rc, "lookup " + refname);
    ReferencePtr ref(raw);
    // Deletes only if the ref still holds the value just read.
    rc = RetryWhileLocked(dir_, [&] { return git_reference_delete(ref.get()); });
    if (rc == GIT_EMODIFIED) return Status::PreconditionFailed(refname + " was updated concurrently; not deleted");
    if (rc == GIT_ELOCKED) return LockedStatus(refname);
    if (rc < 0) return FromGit(rc, "delete " + refname);
    return Status::Ok();
  }

  RepositoryPtr repo_;
  std::string dir_;  // as opened: the RefCache key
};

}  // namespace

Result<std::unique_ptr<GitRepo>> GitRepo::Create(const std::string& dir_in, const std::string& branch,
                                                 const std::vector<std::pair<std::string, std::string>>& files,
                                                 const GitSignature& author, const std::string& message) {
  git::EnsureLibGit2();
  if (!IsValidRefName(branch)) return Status::InvalidArgument("Invalid branch name: " + branch);
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (dir.empty()) return Status::InvalidArgument("empty repository path");
  MH_RETURN_IF_ERROR(MakeDirs(Dirname(dir)));
  // mkdir is the atomic "does not exist yet" check: of two concurrent creators one gets EEXIST.
  if (::mkdir(dir.c_str(), 0755) != 0) {
    if (errno == EEXIST) return Status::Conflict("Repository already exists: " + dir);
    return ErrnoStatus(errno, "mkdir " + dir);
  }
  auto result = [&]() -> Result<std::unique_ptr<GitRepo>> {
    git_repository_init_options opts;
    git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
    opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_NO_REINIT;
    opts.initial_head = branch.c_str();
    git_repository* raw = nullptr;
    int rc = git_repository_init_ext(&raw, dir.c_str(), &opts);
    if (rc < 0) return FromGit(rc, "init " + dir);
    auto repo = std::make_unique<LibGit2Repo>(RepositoryPtr(raw), dir);

    git::TreeEditor editor(repo->raw(), nullptr);
    for (const auto& [path, content] : files) {
      FileOp op;
      op.kind = FileOp::Kind::kUpsert;
      op.path = path;
      op.content = content;
      MH_RETURN_IF_ERROR(editor.Apply(op));
    }
    MH_ASSIGN_OR_RETURN(git_oid tree_id, editor.Write());
    MH_ASSIGN_OR_RETURN(git_oid commit_id, repo->WriteCommit(tree_id, author, message, 0, nullptr));
    MH_RETURN_IF_ERROR(CheckSpaceAfterWrites(dir));
    git_reference* out = nullptr;
    rc = git_reference_create(&out, repo->raw(), (kHeads + branch).c_str(), &commit_id, /*force=*/0,
                              "commit (initial)");
    git_reference_free(out);
    if (rc < 0) return FromGit(rc, "create branch " + branch);
    return std::unique_ptr<GitRepo>(std::move(repo));
  }();
  // Leave nothing half-made behind, so the same name can be created again.
  if (!result.ok()) (void)RemoveAll(dir);
  RefsChangedOutside(dir);  // a repository made again in the same place
  return result;
}

Result<std::unique_ptr<GitRepo>> GitRepo::Open(const std::string& dir) {
  git::EnsureLibGit2();
  git_repository* raw = nullptr;
  int rc = git_repository_open_ext(&raw, dir.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE,
                                   nullptr);
  if (rc == GIT_ENOTFOUND) return Status::NotFound("Repository not found: " + dir, "RepoNotFound");
  if (rc < 0) return FromGit(rc, "open " + dir);
  return std::unique_ptr<GitRepo>(std::make_unique<LibGit2Repo>(RepositoryPtr(raw), RepoKey(dir)));
}

void GitRepo::RefsChangedOutside(const std::string& dir) { RefCache::Shared().Invalidate(RepoKey(dir)); }

std::string GitRepo::BlobId(const std::string& content) {
  const std::string header = "blob " + std::to_string(content.size()) + std::string(1, '\0');
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  // SHA-1 on a few bytes of memory cannot fail short of allocation failure.
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha1(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), header.data(), header.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), content.data(), content.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), md, &md_len) != 1) {
    return "";
  }
  return HexEncode(std::string_view(reinterpret_cast<const char*>(md), md_len));
}

bool IsValidRefName(const std::string& name) {
  if (name.empty() || name.size() > 255) return false;
  if (name.find('\0') != std::string::npos) return false;
  if (name.rfind("refs/", 0) == 0) return false;
  // git refuses these as branch names although they are valid ref paths.
  if (name == "HEAD" || name == "@" || name.front() == '-') return false;
  git::EnsureLibGit2();
  int valid = 0;
  if (git_reference_name_is_valid(&valid, (kHeads + name).c_str()) < 0) return false;
  return valid != 0;
}

}  // namespace modelhub
