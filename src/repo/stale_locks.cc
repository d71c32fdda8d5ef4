#include "repo/stale_locks.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <mutex>

#include "common/fs.h"
#include "common/log.h"
#include "common/time_util.h"

namespace modelhub {

namespace {

std::atomic<int64_t> g_stale_lock_age_s{600};

bool EndsWithLock(const std::string& name) {
  constexpr std::string_view kLock = ".lock";
  return name.size() > kLock.size() && name.compare(name.size() - kLock.size(), kLock.size(), kLock) == 0;
}

// Adds name (relative to gitdir) if it is a regular file at least max_age_s old.
void Consider(const std::string& gitdir, const std::string& name, int64_t now_s, int64_t max_age_s,
              std::vector<LockFile>* out) {
  struct stat st;
  if (::lstat((gitdir + "/" + name).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;
  int64_t age = std::max<int64_t>(0, now_s - int64_t(st.st_mtim.tv_sec));
  if (age >= max_age_s) out->push_back(LockFile{name, age});
}

std::mutex& RecoveryMutex() {
  static std::mutex mu;
  return mu;
}

bool SameFile(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
         a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

}  // namespace

int64_t StaleLockAgeS() { return g_stale_lock_age_s.load(std::memory_order_relaxed); }
void SetStaleLockAgeS(int64_t seconds) {
  if (seconds > 0) g_stale_lock_age_s.store(seconds, std::memory_order_relaxed);
}

Result<std::vector<LockFile>> FindStaleLocks(const std::string& gitdir, int64_t max_age_s) {
  namespace fs = std::filesystem;
  std::vector<LockFile> out;
  const int64_t now = NowS();
  std::error_code ec;
  fs::directory_iterator top(gitdir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return Status::NotFound("no repository at " + gitdir);
    return ErrorCodeStatus(ec, "list " + gitdir);
  }
  for (; top != fs::directory_iterator(); top.increment(ec)) {
    std::string name = top->path().filename().string();
    if (EndsWithLock(name)) Consider(gitdir, name, now, max_age_s, &out);
  }
  if (ec) return ErrorCodeStatus(ec, "list " + gitdir);
  const std::string refs = gitdir + "/refs";
  fs::recursive_directory_iterator it(refs, fs::directory_options::none, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) return ErrorCodeStatus(ec, "list " + refs);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!EndsWithLock(name)) continue;
    Consider(gitdir, "refs/" + it->path().lexically_relative(refs).string(), now, max_age_s, &out);
  }
  // A ref directory removed while we walked is no error worth reporting.
  if (ec && ec != std::errc::no_such_file_or_directory) return ErrorCodeStatus(ec, "list " + refs);
  std::sort(out.begin(), out.end(), [](const LockFile& a, const LockFile& b) { return a.name < b.name; });
  return out;
}

Result<int> RecoverStaleLocks(const std::string& gitdir) {
  const int64_t max_age = StaleLockAgeS();
  MH_ASSIGN_OR_RETURN(std::vector<LockFile> stale, FindStaleLocks(gitdir, max_age));
  if (stale.empty()) return 0;
  std::lock_guard<std::mutex> lock(RecoveryMutex());
  int removed = 0;
  for (const LockFile& l : stale) {
    const std::string path = gitdir + "/" + l.name;
    struct stat before;
    if (::lstat(path.c_str(), &before) != 0 || !S_ISREG(before.st_mode)) continue;  // gone meanwhile
    if (NowS() - int64_t(before.st_mtim.tv_sec) < max_age) continue;                // re-taken meanwhile
    const std::string aside = gitdir + "/stale-lock-" + RandomHex(8);
    if (::rename(path.c_str(), aside.c_str()) != 0) continue;  // gone meanwhile (or not ours to move)
    struct stat moved;
    if (::lstat(aside.c_str(), &moved) == 0 && SameFile(before, moved)) {
      ::unlink(aside.c_str());
      ++removed;
      LogWarn("removed stale lock file {} in {} ({} s old, older than {} s: its writer died)", l.name, gitdir,
              NowS() - int64_t(before.st_mtim.tv_sec), max_age);
      continue;
    }
    // A writer removed the stale file and took the lock again between our lstat and rename:
    // that lock is live. Give it back unless yet another writer holds the name by now.
    if (::renameat2(AT_FDCWD, aside.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0) {
      ::unlink(aside.c_str());
      LogWarn("lock file {} in {} changed hands while being recovered; a concurrent writer may fail once", l.name,
              gitdir);
    }
  }
  return removed;
}

}  // namespace modelhub
