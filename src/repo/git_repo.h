// GitRepo: one repository's history (commits, trees, refs, small files, LFS
// pointer files), stored as a bare git repository and written with libgit2.
//
// Thread-safety: a GitRepo object must be used by one thread at a time; open
// one per request (Open is cheap). Concurrent writers on the same repository
// are safe: every ref update is a compare-and-swap (git_reference_create_matching)
// from the commit the writer started at, so a lost race reports
// PreconditionFailed and changes nothing.
// Failure: NotFound carries the Hub code "RevisionNotFound" (bad revision) or
// "EntryNotFound" (bad path); a full disk is NoSpace; other libgit2 failures map to
// IOError/Corruption. Messages never contain server paths.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace modelhub {

struct GitSignature {
  std::string name;
  std::string email;
  int64_t time_s = 0;  // unix seconds; 0 = now
};

struct TreeEntry {
  enum class Type { kFile, kDirectory };
  Type type = Type::kFile;
  std::string path;  // relative to the repository root, no leading '/'
  std::string oid;   // 40-hex git object id (blob or tree)
  int64_t size = 0;  // blob size in bytes (0 for directories)
};

struct CommitInfo {
  std::string id;       // 40-hex
  std::string title;    // first line of the message
  std::string message;  // full message
  std::string author_name;
  std::string author_email;
  int64_t time_s = 0;
  std::vector<std::string> parents;
};

// One file met by GitRepo::ForEachReachableFile. The references are valid during the callback only.
struct ReachableFile {
  const std::string& commit;    // 40-hex id of the first commit the walk found the entry in
  const std::string& path;      // full path in that commit's tree
  const std::string& blob_oid;  // 40-hex blob id
  int64_t size;                 // blob size in bytes (from the object header; the blob is not read)
};

struct RefInfo {
  std::string name;    // short name: "main", "v1.0"
  std::string ref;     // full: "refs/heads/main", "refs/tags/v1.0"
  std::string target;  // commit id (tags are peeled to their commit)
};

// One change in a commit. Applied in order on top of the parent tree.
struct FileOp {
  enum class Kind { kUpsert, kDelete, kDeleteFolder };
  Kind kind = Kind::kUpsert;
  std::string path;     // validated by the caller (repo/path_rules.h)
  std::string content;  // kUpsert: the blob bytes (regular file or LFS pointer)
  std::string blob_oid;  // kUpsert: if set, an existing blob (from WriteBlob) used instead of content
};

class GitRepo {
 public:
  virtual ~GitRepo() = default;

  // Creates a bare repository at dir (must not exist) with HEAD -> refs/heads/<branch>
  // and one initial commit holding `files` (path -> content).
  static Result<std::unique_ptr<GitRepo>> Create(const std::string& dir, const std::string& branch,
                                                 const std::vector<std::pair<std::string, std::string>>& files,
                                                 const GitSignature& author, const std::string& message);
  // Opens an existing bare repository. NotFound if missing.
  static Result<std::unique_ptr<GitRepo>> Open(const std::string& dir);
  // Branch and tag names resolve through a process-wide cache (repo/ref_cache.h) that this class
  // invalidates on each of its own ref writes. Call this when refs of dir were changed by anything
  // else (git receive-pack, deleting the repository), after the change and before acknowledging it.
  static void RefsChangedOutside(const std::string& dir);

  virtual std::string DefaultBranch() = 0;  // the branch HEAD points to

  // Resolves a revision to a commit id. Accepts: "HEAD", a branch or tag short
  // name, "refs/heads/x", "refs/tags/x", other "refs/..." names, a full 40-hex
  // id, or a unique hex prefix of >= 7 chars. NotFound("RevisionNotFound").
  virtual Result<std::string> ResolveRevision(const std::string& rev) = 0;
  virtual Result<bool> IsBranch(const std::string& name) = 0;

  // Lists the entries under dir ("" = root) at commit. recursive=false lists
  // immediate children (files and directories); recursive=true lists every file
  // and directory below, depth first, sorted by path. NotFound("EntryNotFound")
  // when dir does not exist or is a file.
  // Order is git's tree order: a directory sorts as if its name ended in '/'
  // ("a-b", "a.txt", "a/", "a/x", "a0") and comes before its contents.
  virtual Result<std::vector<TreeEntry>> ListTree(const std::string& commit, const std::string& dir,
                                                  bool recursive) = 0;
  // Entry at path (file or directory); NotFound("EntryNotFound").
  // Stat("") is the root directory (path "", oid of the root tree).
  virtual Result<TreeEntry> Stat(const std::string& commit, const std::string& path) = 0;
  // Whole blob content by blob id (only for small blobs: regular files and LFS pointers).
  virtual Result<std::string> ReadBlob(const std::string& blob_oid) = 0;
  // Writes content as a blob object now (so callers need not keep it in
  // memory until Commit); returns its id for FileOp::blob_oid.
  virtual Result<std::string> WriteBlob(const std::string& content) = 0;
  // Git blob id of `content` (sha1 of "blob <n>\0" + content) without writing it.
  static std::string BlobId(const std::string& content);

  // Applies ops on top of branch's head and moves the branch by compare-and-swap.
  // expected_parent: if set (full id or unique prefix), the branch head must
  // equal it, else PreconditionFailed. Deleting a missing file: NotFound with
  // message "A file with this name doesn't exist". Returns the new commit id.
  // A ref lock file held for over ~1.5 s gives Unavailable (retryable) instead of waiting
  // forever; one older than StaleLockAgeS() (left by a crashed writer, repo/stale_locks.h) is
  // removed and the update retried, as by every method here that moves refs.
  virtual Result<std::string> Commit(const std::string& branch, const std::optional<std::string>& expected_parent,
                                     const std::vector<FileOp>& ops, const GitSignature& author,
                                     const std::string& message) = 0;

  virtual Result<std::vector<RefInfo>> ListBranches() = 0;
  virtual Result<std::vector<RefInfo>> ListTags() = 0;
  // Every ref under refs/ (branches, tags, refs/pr/*, refs/convert/*, ...), sorted by ref, each
  // peeled to its commit; name is the ref without "refs/". Refs that lead to no commit are skipped.
  virtual Result<std::vector<RefInfo>> ListAllRefs() = 0;

  // Calls fn for the files (blobs, not submodules) of every commit reachable from `tips` but
  // from none of `hide` (commit ids; ids of missing objects in `hide` are ignored). A tree met
  // again (another commit with the same root or subtree) is not entered again, so fn sees each
  // (tree, entry) pair once, with the first commit it was found in; commits come newest first.
  // Memory: one set of tree ids and one of blob sizes for the walk. A non-OK status from fn
  // stops the walk and is returned; NotFound("RevisionNotFound") for a missing tip.
  virtual Status ForEachReachableFile(const std::vector<std::string>& tips, const std::vector<std::string>& hide,
                                      const std::function<Status(const ReachableFile&)>& fn) = 0;
  // Conflict if it exists.
  virtual Status CreateBranch(const std::string& name, const std::string& commit) = 0;
  // NotFound("RevisionNotFound") if missing; InvalidArgument for the default branch.
  virtual Status DeleteBranch(const std::string& name) = 0;
  // Annotated tag when message is non-empty, lightweight otherwise. Conflict if it exists.
  virtual Status CreateTag(const std::string& name, const std::string& commit, const std::string& message,
                           const GitSignature& tagger) = 0;
  virtual Status DeleteTag(const std::string& name) = 0;  // NotFound("RevisionNotFound")

  // History from commit, newest first (first-parent and merges, as git log): skip then limit.
  virtual Result<std::vector<CommitInfo>> Log(const std::string& commit, int64_t skip, int64_t limit) = 0;
  virtual Result<int64_t> CountCommits(const std::string& commit) = 0;
  // Newest commit reachable from `commit` that changed `path` (file or directory);
  // scans at most max_commits commits, then returns the oldest scanned.
  virtual Result<CommitInfo> LastCommitTouching(const std::string& commit, const std::string& path,
                                                int64_t max_commits) = 0;
  virtual Result<CommitInfo> GetCommit(const std::string& commit) = 0;
};

// Valid git ref component name for a branch or tag (git check-ref-format rules,
// plus: not starting with "refs/").
bool IsValidRefName(const std::string& name);

}  // namespace modelhub
