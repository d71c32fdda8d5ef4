#include "api/git_lfs_locks.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/time_util.h"
#include "crypto/sha256.h"

namespace modelhub {

namespace {

using json = nlohmann::json;

Status Errno(const std::string& what) { return ErrnoStatus(errno, what); }

std::string ToJson(const LfsLock& l) {
  return json{{"id", l.id}, {"path", l.path}, {"owner", l.owner}, {"locked_at_ms", l.locked_at_ms}, {"ref", l.ref}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<LfsLock> FromJson(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  LfsLock l;
  try {
    l.id = j.at("id").get<std::string>();
    l.path = j.at("path").get<std::string>();
    l.owner = j.at("owner").get<std::string>();
    l.locked_at_ms = j.at("locked_at_ms").get<int64_t>();
    l.ref = j.value("ref", "");
  } catch (const json::exception&) {
    return std::nullopt;
  }
  return l;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

LfsLockStore::LfsLockStore(std::string repo_dir) : dir_(std::move(repo_dir) + "/modelhub-locks") {}

std::string LfsLockStore::LockFile(const std::string& path) const { return dir_ + "/" + Sha256Hex(path) + ".json"; }

Result<std::optional<LfsLock>> LfsLockStore::Read(const std::string& file) {
  auto text = ReadFile(file);
  if (!text.ok()) {
    if (text.status().IsNotFound()) return std::optional<LfsLock>();
    return text.status();
  }
  auto lock = FromJson(*text);
  if (!lock) return Status::Corruption("malformed lock file " + file);
  return lock;
}

Result<LfsLock> LfsLockStore::Create(const std::string& path, const std::string& owner, const std::string& ref,
                                     std::optional<LfsLock>* existing) {
  MH_RETURN_IF_ERROR(MakeDirs(dir_));
  LfsLock lock{RandomHex(16), path, owner, NowMs(), ref};
  std::string final_name = LockFile(path);
  // Fast path for the common conflict; the link below is what decides.
  MH_ASSIGN_OR_RETURN(auto cur, Read(final_name));
  if (cur) {
    *existing = std::move(cur);
    return Status::Conflict("already created lock");
  }
  std::string tmp = dir_ + "/.tmp-" + RandomHex(8);
  MH_RETURN_IF_ERROR(WriteFileAtomic(tmp, ToJson(lock), 0644));
  int rc = ::link(tmp.c_str(), final_name.c_str());
  int link_errno = errno;
  ::unlink(tmp.c_str());
  if (rc != 0) {
    if (link_errno == EEXIST) {
      MH_ASSIGN_OR_RETURN(auto winner, Read(final_name));
      if (winner) *existing = std::move(winner);
      return Status::Conflict("already created lock");
    }
    errno = link_errno;
    return Errno("create lock " + final_name);
  }
  MH_RETURN_IF_ERROR(FsyncDir(dir_));
  return lock;
}

Result<std::vector<LfsLock>> LfsLockStore::List() {
  std::vector<LfsLock> out;
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return out;
    return Errno("opendir " + dir_);
  }
  struct DirCloser {
    void operator()(DIR* p) const { ::closedir(p); }
  };
  std::unique_ptr<DIR, DirCloser> guard(d);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.empty() || n[0] == '.' || !EndsWith(n, ".json")) continue;
    names.push_back(n);
  }
  for (const auto& n : names) {
    MH_ASSIGN_OR_RETURN(auto lock, Read(dir_ + "/" + n));
    if (lock) out.push_back(std::move(*lock));  // removed meanwhile: skip
  }
  std::sort(out.begin(), out.end(), [](const LfsLock& a, const LfsLock& b) { return a.path < b.path; });
  return out;
}

Result<LfsLock> LfsLockStore::Get(const std::string& id) {
  MH_ASSIGN_OR_RETURN(auto all, List());
  for (auto& l : all) {
    if (l.id == id) return l;
  }
  return Status::NotFound("No lock with id " + id);
}

Status LfsLockStore::Delete(const LfsLock& lock) {
  std::string final_name = LockFile(lock.path);
  std::string moved = dir_ + "/.del-" + RandomHex(8);
  if (::rename(final_name.c_str(), moved.c_str()) != 0) {
    if (errno == ENOENT) return Status::NotFound("No lock with id " + lock.id);
    return Errno("unlock " + final_name);
  }
  auto got = Read(moved);
  if (!got.ok() || !*got || (*got)->id != lock.id) {
    // Someone unlocked and locked the path again in between: put theirs back.
    (void)::link(moved.c_str(), final_name.c_str());
    ::unlink(moved.c_str());
    return Status::NotFound("No lock with id " + lock.id);
  }
  ::unlink(moved.c_str());
  return FsyncDir(dir_);
}

}  // namespace modelhub
