// ReachabilityWalk: which LFS objects the repositories still reference.
//
// For every repository (MetadataStore::ListAllRepos) it opens the bare git
// repository <repos_dir>/<id>.git, walks every commit reachable from any ref
// (branches, tags, refs/pr/*, ... — GitRepo::ForEachReachableFile, each tree
// entered once per repository) and reports every git-lfs pointer it meets
// (a blob of at most kMaxLfsPointerBytes that ParseLfsPointer accepts). GC, fsck and stats
// share it. It remembers each repository's ref targets so that WalkChanges can
// later walk only what moved (GC's re-mark under the lock).
//
// Memory: per repository, the walk's tree and blob sets; across repositories
// only the ref targets. What the visitor keeps is up to it.
// Thread-safety: one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "common/status.h"
#include "repo/path_rules.h"
#include "storage/meta/metadata_store.h"

namespace modelhub {

// One place a pointer was found. References are valid during the callback only.
struct PointerUse {
  const RepoRecord& repo;
  const std::string& commit;  // 40-hex: the first commit the walk found this entry in
  const std::string& path;
  const LfsPointer& pointer;
};

// The git directory of a repository: <repos_dir>/<id>.git (as api/Hub::RepoDir).
std::string RepoGitDir(const std::string& repos_dir, int64_t repo_id);
// "alice/model" for models, "datasets/alice/data" for datasets.
std::string RepoDisplayName(const RepoRecord& rec);

class ReachabilityWalk {
 public:
  using Visitor = std::function<Status(const PointerUse&)>;
  // Called when a repository cannot be walked; returning Ok skips it, anything else stops the
  // walk with that status. The default stops (what GC needs: never sweep on a partial mark).
  using ErrorHandler = std::function<Status(const RepoRecord&, const Status&)>;
  // Called before each repository of WalkAll (index from 0).
  using Progress = std::function<void(size_t index, size_t total, const RepoRecord&)>;

  ReachabilityWalk(MetadataStore* meta, std::string repos_dir) : meta_(meta), repos_dir_(std::move(repos_dir)) {}

  void set_error_handler(ErrorHandler h) { on_error_ = std::move(h); }
  void set_progress(Progress p) { progress_ = std::move(p); }

  // Walks every repository. A repository whose git directory is missing and that was created
  // less than kCreationWindowMs ago is being created (the row comes first): it has no LFS
  // pointers yet and is skipped; an older one is an error (Corruption).
  Status WalkAll(const Visitor& fn);
  // Walks only what changed since the previous walk: repositories that appeared, and for the
  // others the commits reachable from refs that now point elsewhere but from no previously
  // seen ref target. Repositories deleted since are forgotten.
  Status WalkChanges(const Visitor& fn);
  // Walks one repository fully (all its refs), ignoring and not updating what was seen.
  Status WalkRepo(const RepoRecord& rec, const Visitor& fn);

  // "alice/model@main:dir/file.bin": the ref name when the commit is a ref's tip, else its
  // first 12 hex digits.
  std::string Describe(const PointerUse& use) const;

  int64_t repos_walked() const { return repos_walked_; }
  int64_t refs_walked() const { return refs_walked_; }

  static constexpr int64_t kCreationWindowMs = 10 * 60 * 1000;

 private:
  // hide: commits already walked (previous targets); refs: the repository's refs now.
  Status Walk(const RepoRecord& rec, bool remember, bool only_changed, const Visitor& fn);

  MetadataStore* meta_;
  std::string repos_dir_;
  ErrorHandler on_error_;
  Progress progress_;
  // repo id -> ref ("heads/main") -> target commit, as of the last walk of that repository.
  std::map<int64_t, std::map<std::string, std::string>> refs_;
  int64_t repos_walked_ = 0;
  int64_t refs_walked_ = 0;
};

}  // namespace modelhub
