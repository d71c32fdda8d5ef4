// Private to src/repo: RAII owners for libgit2 objects, one-time library
// initialisation, and the mapping from libgit2 error codes to Status.
//
// Thread-safety: EnsureLibGit2() may be called from any thread; the owners are
// plain unique_ptrs (an object is used by one thread at a time, as libgit2 requires).
#pragma once

#include <git2.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace modelhub::git {

// Initialises libgit2 exactly once per process (std::call_once) and sets the
// process-wide options this module relies on (fsync of objects and refs).
void EnsureLibGit2();

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};

using RepositoryPtr = std::unique_ptr<git_repository, Deleter<git_repository, git_repository_free>>;
using ObjectPtr = std::unique_ptr<git_object, Deleter<git_object, git_object_free>>;
using CommitPtr = std::unique_ptr<git_commit, Deleter<git_commit, git_commit_free>>;
using TreePtr = std::unique_ptr<git_tree, Deleter<git_tree, git_tree_free>>;
using TreeEntryPtr = std::unique_ptr<git_tree_entry, Deleter<git_tree_entry, git_tree_entry_free>>;
using BlobPtr = std::unique_ptr<git_blob, Deleter<git_blob, git_blob_free>>;
using ReferencePtr = std::unique_ptr<git_reference, Deleter<git_reference, git_reference_free>>;
using RefIteratorPtr =
    std::unique_ptr<git_reference_iterator, Deleter<git_reference_iterator, git_reference_iterator_free>>;
using RevwalkPtr = std::unique_ptr<git_revwalk, Deleter<git_revwalk, git_revwalk_free>>;
using TreeBuilderPtr = std::unique_ptr<git_treebuilder, Deleter<git_treebuilder, git_treebuilder_free>>;
using SignaturePtr = std::unique_ptr<git_signature, Deleter<git_signature, git_signature_free>>;
using OdbPtr = std::unique_ptr<git_odb, Deleter<git_odb, git_odb_free>>;
using OdbObjectPtr = std::unique_ptr<git_odb_object, Deleter<git_odb_object, git_odb_object_free>>;
using DiffPtr = std::unique_ptr<git_diff, Deleter<git_diff, git_diff_free>>;

// A git_buf that disposes of itself.
class Buf {
 public:
  Buf() = default;
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  ~Buf() { git_buf_dispose(&buf_); }
  git_buf* get() { return &buf_; }
  std::string str() const { return buf_.ptr ? std::string(buf_.ptr, buf_.size) : std::string(); }

 private:
  git_buf buf_ = GIT_BUF_INIT;
};

// The one conversion of libgit2 failures (git_error_last()) to text and Status, for this layer
// and the push hook (server/git_hook.cc): messages never carry server paths (RedactPaths:
// libgit2 names files by absolute path).
//
// "<what>: <libgit2's message>", paths redacted.
std::string LastErrorMessage(std::string_view what);
// Maps a negative libgit2 return code (and git_error_last()) to a Status:
// an OS error that is "No space left on device"/"Disk quota exceeded" -> NoSpace (whatever the
// code), ENOTFOUND -> NotFound, EEXISTS/EDIRECTORY -> Conflict, EMODIFIED -> PreconditionFailed,
// ELOCKED -> Unavailable (retryable), EINVALIDSPEC -> InvalidArgument, zlib or
// object-format errors -> Corruption, anything else -> IOError. `what` says
// what was being done; it prefixes the message (LastErrorMessage).
Status FromGit(int err, std::string_view what);

std::string OidHex(const git_oid& oid);
// Parses exactly 40 hex characters (either case).
bool ParseOid(std::string_view hex, git_oid* out);

}  // namespace modelhub::git
