// TreeEditor (private to src/repo): applies FileOps, strictly in the order
// given, to a git tree, then writes the changed trees to the object database.
//
// Only the directories on the edited paths are loaded into memory; untouched
// subtrees are carried over by id. Directories left empty by deletions are
// dropped (git cannot record an empty directory); the root may become the
// empty tree.
//
// Failure: Apply reports
//   InvalidArgument - malformed path (empty, ".", "..", ".git" component), an
//                     upsert onto a directory, or a file where a directory is needed,
//                     a .gitmodules git's fsck would refuse (repo/gitmodules.h);
// Write reports InvalidArgument if a name the ops added to a directory has a Unicode
// NFC twin there (repo/path_rules.h CheckNfcTwins).
//   NotFound("EntryNotFound") - "A file with this name doesn't exist" (kDelete)
//                     or "A folder with this name doesn't exist" (kDeleteFolder).
// After a failed Apply the editor's state is unspecified: discard it.
// Blobs written by Apply before a failure stay in the object database as
// unreachable loose objects (git gc removes them).
//
// Thread-safety: one thread at a time, like the git_repository it writes to.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "repo/git_repo.h"
#include "repo/libgit2_util.h"

namespace modelhub::git {

class TreeEditor {
 public:
  // base: the tree to start from (nullptr = empty tree). repo must outlive the editor.
  TreeEditor(git_repository* repo, TreePtr base);
  ~TreeEditor();
  TreeEditor(const TreeEditor&) = delete;
  TreeEditor& operator=(const TreeEditor&) = delete;

  Status Apply(const FileOp& op);
  // Writes every changed tree; returns the new root tree id.
  Result<git_oid> Write();

 private:
  struct Dir;
  struct Node {
    bool is_dir = false;
    git_oid oid{};  // blob (or submodule commit) id; for a directory, its original tree id
    git_filemode_t mode = GIT_FILEMODE_BLOB;
    std::unique_ptr<Dir> dir;  // a directory's contents, loaded when an edit reaches into it
  };

  static std::unique_ptr<Dir> MakeDir(TreePtr tree);  // tree: non-null
  Status Upsert(const std::string& path, const std::string& content, const std::string& blob_oid);
  Status Delete(const std::string& path, bool folder);
  Status Load(Node& node, const std::string& path);
  // Returns the written tree id, or nullopt when the directory ended up empty
  // (never for the root).
  Result<std::optional<git_oid>> WriteDir(Dir& dir, const std::string& path, bool is_root);

  git_repository* repo_;
  std::unique_ptr<Dir> root_;
};

}  // namespace modelhub::git
