// LfsLockStore: git-lfs file locks of one repository, kept as files beside the
// repository's history, so they need no metadata schema and go wherever the
// repository goes (deleting the repository deletes them). Private to src/api.
//
//   <repo>.git/modelhub-locks/<sha256(path)>.json   {"id","path","owner","locked_at_ms","ref"}
//
// One file per locked path: "is this path locked" is one stat, and the
// exclusive create is link(2) of a fully written, fsynced temp file onto that
// name (EEXIST: someone holds the lock), so a reader never sees a partial lock.
// Unlock renames the file away first and checks it is still the lock it meant
// to remove, so a racing unlock + relock of the same path is never undone.
//
// Locks are advisory (git-lfs checks them on push through /locks/verify);
// their number per repository is small, so listing reads the whole folder.
// Thread-safety: no in-process state; concurrent use from threads and
// processes is safe through the filesystem operations above.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace modelhub {

struct LfsLock {
  std::string id;     // random, 32 hex chars
  std::string path;   // file path in the repository
  std::string owner;  // user name
  int64_t locked_at_ms = 0;
  std::string ref;  // the ref git-lfs named when locking ("" if none); informational
};

class LfsLockStore {
 public:
  explicit LfsLockStore(std::string repo_dir);

  // Creates a lock on path. If the path is locked already: Conflict, with the
  // existing lock in *existing.
  Result<LfsLock> Create(const std::string& path, const std::string& owner, const std::string& ref,
                         std::optional<LfsLock>* existing);
  // Every lock, sorted by path.
  Result<std::vector<LfsLock>> List();
  // NotFound if no lock has this id.
  Result<LfsLock> Get(const std::string& id);
  // Removes exactly this lock. NotFound if it is gone (or was replaced) meanwhile.
  Status Delete(const LfsLock& lock);

 private:
  std::string LockFile(const std::string& path) const;
  Result<std::optional<LfsLock>> Read(const std::string& file);
  std::string dir_;
};

}  // namespace modelhub
