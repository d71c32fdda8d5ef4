// The one rule for an LFS pointer in a repository's tree.
//
// A pointer (`oid sha256:…`, `size …`) in repository R is honoured — accepted into
// a commit, served by /resolve, listed with its Xet hash, counted by fsck — only if
//   1. the object is stored (the chunk store has a file record for the oid),
//   2. R has proven possession of it: R is linked to the oid in the LFS registry
//      (someone with write access uploaded it to R, through LFS or Xet, or it
//      entered R through an earlier checked path), and
//   3. the pointer's size is the stored size.
// Without 2, anyone who knows a SHA-256 could read another repository's private
// object through a pointer of their own; without 3, a smaller size would leak a
// prefix. Every path that puts a pointer into a tree (HF commits with `lfsFile`,
// inline `file` and copy operations, git push, and later merges and imports) calls
// CheckObjectOwnership, and every reader of a pointer calls it before using it.
//
// Thread-safety: as the MetadataStore passed in.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "storage/meta/metadata_store.h"

namespace modelhub {

enum class Ownership {
  kOwned,      // linked to the repository, stored, sizes agree
  kNotOwned,   // the repository never proved possession of the object: a junk pointer
  kMissing,    // linked, but no longer stored (removed by gc from an old revision, or damage)
  kWrongSize,  // linked and stored, but the pointer's size is not the stored size
};

struct OwnershipCheck {
  Ownership verdict = Ownership::kNotOwned;
  FileRecord file;  // the stored file (kOwned and kWrongSize)
};

// declared_size < 0: the caller has no size yet (an `lfsFile` without one); any stored size is
// accepted. Errors of the store (not NotFound) are returned as they are.
Result<OwnershipCheck> CheckObjectOwnership(MetadataStore& meta, int64_t repo_id, const std::string& oid,
                                            int64_t declared_size);

}  // namespace modelhub
