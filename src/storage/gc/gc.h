// Garbage collection of the chunk store: `modelhub admin gc`.
//
// Mark: the live LFS files are every pointer oid reachable from any ref of any
// repository (ReachabilityWalk), the oids of open multipart upload sessions,
// and every file recorded less than grace_ms ago; the live xorbs are those the
// live files' terms name plus every xorb recorded less than grace_ms ago.
// Sweep: file rows that are not live go (with their LFS registry rows), then
// xorbs that are not live (tombstone + chunk index rows, the object, the row),
// then stored objects nobody recorded for at least grace_ms and staged
// multipart parts of sessions that are gone or older than grace_ms. Last, the
// blob store's stale uploads (BlobStore::CleanStaleUploads: writes begun more
// than upload_grace_ms ago and never finished, e.g. S3 multipart uploads of a
// killed process) are discarded.
//
// Safe while the server runs; the argument is in docs/gc-fsck.md. In short:
// nothing younger than the grace period is touched; the sweep holds the
// exclusive GcFence (commits and pushes hold it shared around "check the
// objects exist, move the ref") and first re-walks every ref that moved since
// the mark; files are recorded only if their xorbs still exist, in one
// transaction (MetadataStore::PutFileChecked), and xorbs are only marked for
// deletion in a transaction that re-checks the files recorded since the mark
// began (MetadataStore::MarkXorbsDeleting).
//
// Xorbs are deleted whole: a xorb still used by one live chunk keeps all its
// chunks (no rewriting of mostly-dead xorbs yet).
//
// Thread-safety: one GC per data folder at a time (the exclusive fence makes a
// second one wait for the sweep, not for the mark).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"
#include "storage/gc/hub_storage.h"

namespace modelhub {

struct GcOptions {
  int64_t grace_ms = 24LL * 3600 * 1000;
  // Xorbs are kept at least this long after they were recorded, even when nothing uses them: Xet
  // clients (hf_xet) reuse the xorbs they uploaded for 21 days from their local shard cache, and a
  // shard naming a deleted xorb can only be refused. The longer of the two periods applies to xorbs.
  int64_t xorb_grace_ms = 22LL * 24 * 3600 * 1000;
  // Blob store writes begun this long ago and never committed nor aborted are discarded (on the
  // real clock, not now_ms); it must exceed the longest single write.
  int64_t upload_grace_ms = 24LL * 3600 * 1000;
  bool dry_run = false;     // mark and report; remove nothing, take no lock
  int64_t lock_timeout_ms = 10LL * 60 * 1000;  // waiting for in-flight commits/pushes; < 0: forever
  std::function<void(const std::string&)> progress;  // human-readable progress lines (stderr)
  int64_t now_ms = 0;  // the clock the grace period is measured on; 0: the system clock (tests age data)
};

struct GcReport {
  bool dry_run = false;
  int64_t grace_ms = 0;
  int64_t xorb_grace_ms = 0;
  int64_t xorbs_young = 0;         // unreferenced xorbs kept because they are younger than xorb_grace_ms
  // Mark.
  int64_t repos = 0;
  int64_t refs = 0;
  int64_t pointer_uses = 0;        // pointer entries met by the walk (a shared tree counts once)
  int64_t reachable_files = 0;     // distinct oids found by the walk
  int64_t session_files = 0;       // distinct oids of open upload sessions
  int64_t remarked_files = 0;      // oids first found by the re-walk under the lock
  int64_t files = 0;               // recorded files
  int64_t files_live = 0;          // reachable, in an upload session, or younger than grace
  int64_t xorbs = 0;               // recorded xorbs
  int64_t xorbs_live = 0;
  int64_t stored_bytes = 0;        // of all recorded xorbs
  // Sweep (with dry_run: what would go).
  int64_t files_removed = 0;
  int64_t files_removed_bytes = 0;     // logical
  int64_t xorbs_removed = 0;
  int64_t reclaimed_bytes = 0;         // stored_bytes of the removed xorbs
  int64_t orphans_found = 0;           // stored objects without a record
  int64_t orphans_removed = 0;         // ... seen unrecorded for longer than the grace period
  int64_t orphan_bytes = 0;
  int64_t sessions_removed = 0;        // upload sessions older than grace
  int64_t parts_removed = 0;           // staged part objects
  int64_t part_bytes = 0;
  int64_t leftovers_finished = 0;      // deletions an earlier GC left halfway
  int64_t kept_since_mark = 0;         // candidates a concurrent upload or commit saved
  int64_t delete_errors = 0;           // objects that could not be removed (next run retries)
  // Blob store writes never finished (BlobStore::CleanStaleUploads); those that could not be
  // discarded count in delete_errors.
  int64_t upload_grace_ms = 0;
  int64_t stale_uploads_found = 0;
  int64_t stale_uploads_removed = 0;
  std::string stale_uploads_error;     // non-empty: they could not be listed (GC itself succeeded)
};

Result<GcReport> CollectGarbage(const HubStorage& hub, const GcOptions& options);
std::string FormatGcReport(const GcReport& r);

}  // namespace modelhub
