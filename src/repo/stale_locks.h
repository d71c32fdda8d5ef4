// Stale lock files in a bare git repository: found (fsck) and recovered (writers).
//
// git and libgit2 change a ref, packed-refs, HEAD or config by creating "<file>.lock" with
// O_EXCL, writing the new content into it and renaming it over the file. A writer killed in
// between (SIGKILL, OOM, power loss) leaves the .lock behind, and every later writer of that
// file fails ("failed to lock file", "Unable to create ... File exists") until it is removed.
// A live writer holds such a lock for milliseconds (libgit2: microseconds; git receive-pack:
// its ref transaction, after the pushed objects were checked), so a lock file older than a
// bound (StaleLockAgeS(), default 600 s; `serve --stale-lock-seconds`) has no live owner,
// whichever process or server took it, and may be removed.
//
// Removal never takes a lock from a writer that re-took it meanwhile: the file is renamed
// aside (into the git directory, where git ignores it) and removed only if it is the very
// file found stale (same device, inode and mtime); otherwise it is put back.
//
// Thread-safety: all functions are thread-safe; recoveries in one process are serialized.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace modelhub {

struct LockFile {
  std::string name;    // relative to the git directory: "refs/heads/main.lock", "packed-refs.lock"
  int64_t age_s = 0;   // seconds since its last modification
};

// The age from which a lock file counts as stale (process-wide; default 600).
int64_t StaleLockAgeS();
void SetStaleLockAgeS(int64_t seconds);  // seconds > 0

// The lock files of gitdir at least max_age_s old: "*.lock" at its top level (HEAD.lock,
// packed-refs.lock, config.lock, ...) and anywhere under refs/. Sorted by name.
// NotFound if gitdir does not exist; IOError if it cannot be listed.
Result<std::vector<LockFile>> FindStaleLocks(const std::string& gitdir, int64_t max_age_s);

// Removes the lock files of gitdir that are stale (FindStaleLocks(gitdir, StaleLockAgeS())),
// with a warning in the log for each; returns how many were removed. A lock that turns out
// to be live (re-taken while we looked) is left alone.
Result<int> RecoverStaleLocks(const std::string& gitdir);

}  // namespace modelhub
