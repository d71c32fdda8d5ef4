// Consistency check of the chunk store against the repositories:
// `modelhub admin fsck`. Read-only; safe while the server runs (an object
// written or deleted during the run may be reported once).
//
// 1. Every recorded xorb is read whole and verified (ChunkStore::VerifyStoredXorb:
//    parse, decompress, chunk hashes, xorb hash, footer). Damaged or missing: error.
// 2. Stored xorb objects nobody recorded are verified the same way and listed
//    (orphans: not errors, GC removes them; damaged ones are errors, since an
//    upload of the same content would adopt the object).
// 3. Every LFS pointer reachable from any ref (ReachabilityWalk): its file must
//    be recorded, its terms parse and add up to its size, and every xorb they
//    name must be recorded, healthy and hold the chunks named.
// 4. Lock files in the repositories older than stale_lock_age_s ("STALE lock alice/model:
//    refs/heads/main.lock"): informational, since the server removes them itself.
// Each problem names what it affects: "alice/model@main:weights.bin (and 2 more)".
//
// Thread-safety: one run at a time per process is enough; it only reads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "storage/gc/hub_storage.h"

namespace modelhub {

struct FsckOptions {
  std::function<void(const std::string&)> progress;  // human-readable progress lines (stderr)
  size_t max_uses_kept = 50;  // affected places remembered per problem (the rest are counted)
  int64_t stale_lock_age_s = 600;  // lock files at least this old are reported (repo/stale_locks.h)
};

struct FsckProblem {
  bool error = true;          // false: informational (orphans)
  std::string what;           // "DAMAGED xorb <hash>", "MISSING file <oid>", ...
  std::string detail;         // "chunk 12: content does not match its hash"
  std::vector<std::string> affects;  // "alice/model@main:path", first max_uses_kept
  int64_t affects_total = 0;         // all affected places
};

struct FsckReport {
  int64_t xorbs_checked = 0;
  int64_t xorb_bytes_checked = 0;
  int64_t orphans = 0;
  int64_t orphan_bytes = 0;
  int64_t unowned_pointers = 0;  // pointer uses whose repository does not own the object (junk)
  int64_t repos = 0;
  int64_t pointer_uses = 0;
  int64_t files_checked = 0;  // distinct reachable oids
  int64_t stale_locks = 0;    // lock files in repositories left by writers that died (informational)
  std::vector<FsckProblem> problems;
  int64_t errors() const;
};

// Fails only if the store cannot be read at all; damage is reported in the report.
Result<FsckReport> RunFsck(const HubStorage& hub, const FsckOptions& options);
// One line per problem (and with verbose, every affected place below it), then a summary.
std::string FormatFsckReport(const FsckReport& r, bool verbose);

}  // namespace modelhub
