#include "repo/libgit2_util.h"

#include <cerrno>
#include <cstring>
#include <mutex>

#include "common/fs.h"
#include "common/strings.h"

namespace modelhub::git {

void EnsureLibGit2() {
  static std::once_flag once;
  std::call_once(once, [] {
    git_libgit2_init();  // never shut down: other threads may still hold objects at exit
    // A commit that returned OK must survive a crash: fsync loose objects,
    // packs and ref files before they are renamed into place.
    git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
    // Bound the process-wide object cache (default 256 MiB) so server memory stays small.
    git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, static_cast<ssize_t>(32 << 20));
    // Small blobs (LFS pointers, configs) are read on every resolve: let them be cached.
    git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_BLOB, static_cast<size_t>(16 << 10));
    // The hub's repositories are configured by the hub alone: never read the
    // system, global or XDG git config (also saves several syscalls per open).
    for (auto level : {GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_XDG, GIT_CONFIG_LEVEL_GLOBAL,
                       GIT_CONFIG_LEVEL_PROGRAMDATA}) {
      git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, "");
    }
  });
}

std::string LastErrorMessage(std::string_view what) {
  const git_error* e = git_error_last();
  std::string msg(what);
  msg += ": ";
  msg += e != nullptr && e->message != nullptr ? e->message : "unknown libgit2 error";
  // libgit2 names the files it failed on by their absolute paths; those stay on the server.
  return RedactPaths(msg);
}

Status FromGit(int err, std::string_view what) {
  const int os_errno = errno;  // before anything here can change it
  const git_error* e = git_error_last();
  // libgit2 appends strerror() to the failures of OS calls (GIT_ERROR_OS), so the text tells a full
  // disk apart; some failed object writes set no error at all (libgit2 1.5), and then errno does.
  const bool no_space =
      (e != nullptr && e->message != nullptr && e->klass == GIT_ERROR_OS &&
       (std::strstr(e->message, std::strerror(ENOSPC)) != nullptr ||
        std::strstr(e->message, std::strerror(EDQUOT)) != nullptr)) ||
      ((e == nullptr || e->klass == GIT_ERROR_OS) && IsNoSpaceErrno(os_errno));
  std::string msg = e != nullptr && e->message != nullptr ? LastErrorMessage(what) : std::string(what);
  if (no_space) return Status::NoSpace(std::move(msg));
  switch (err) {
    case GIT_ENOTFOUND:
      return Status::NotFound(std::move(msg));
    case GIT_EEXISTS:
    case GIT_EDIRECTORY:
      return Status::Conflict(std::move(msg));
    case GIT_EMODIFIED:
      return Status::PreconditionFailed(std::move(msg));
    case GIT_ELOCKED:
      return Status::Unavailable(std::move(msg));
    case GIT_EINVALIDSPEC:
    case GIT_EAMBIGUOUS:
      return Status::InvalidArgument(std::move(msg));
    default:
      break;
  }
  if (e != nullptr && (e->klass == GIT_ERROR_ZLIB || e->klass == GIT_ERROR_OBJECT)) {
    return Status::Corruption(std::move(msg));
  }
  return Status::IOError(std::move(msg));
}

std::string OidHex(const git_oid& oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof(buf), &oid);
  return std::string(buf, GIT_OID_HEXSZ);
}

bool ParseOid(std::string_view hex, git_oid* out) {
  if (hex.size() != GIT_OID_HEXSZ || !IsHex(hex)) return false;
  return git_oid_fromstrn(out, hex.data(), hex.size()) == 0;
}

}  // namespace modelhub::git
