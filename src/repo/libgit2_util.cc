#include "repo/libgit2_util.h"

#include <mutex>

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

Status FromGit(int err, std::string_view what) {
  const git_error* e = git_error_last();
  std::string msg(what);
  if (e != nullptr && e->message != nullptr) {
    msg += ": ";
    msg += e->message;
  }
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
