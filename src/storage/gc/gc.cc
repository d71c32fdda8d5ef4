#include "storage/gc/gc.h"

#include <chrono>
#include <functional>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "common/time_util.h"
#include "storage/gc/gc_lock.h"
#include "storage/gc/reachability.h"
#include "storage/gc/storage_stats.h"

namespace modelhub {

namespace {

// Files recorded this long before the mark began still protect their xorbs in the sweep
// (a wall clock stepping back while the mark runs).
constexpr int64_t kClockSlackMs = 60'000;

Result<std::vector<std::string>> XorbsOfTerms(const std::string& terms) {
  MH_ASSIGN_OR_RETURN(std::vector<FileTerm> parsed, ParseTerms(terms));
  std::vector<std::string> out;
  out.reserve(parsed.size());
  for (const FileTerm& t : parsed) out.push_back(t.xorb.ToHex());
  return out;
}

// "xorbs/ab/<hash>" -> hash, for keys that are exactly a xorb's key.
std::optional<std::string> XorbOfKey(const std::string& key) {
  auto slash = key.rfind('/');
  if (slash == std::string::npos) return std::nullopt;
  auto hash = xet::XetHash::FromHex(std::string_view(key).substr(slash + 1));
  if (!hash.ok() || ChunkStore::XorbKey(*hash) != key) return std::nullopt;
  return hash->ToHex();
}

// "uploads/<session>/<part>" -> session.
std::optional<std::string> SessionOfPartKey(const std::string& key) {
  constexpr std::string_view kPrefix = "uploads/";
  if (key.rfind(kPrefix, 0) != 0) return std::nullopt;
  auto slash = key.find('/', kPrefix.size());
  if (slash == std::string::npos || slash == kPrefix.size()) return std::nullopt;
  return key.substr(kPrefix.size(), slash - kPrefix.size());
}

// Writes that were begun and never finished are no objects: nothing in the mark names them.
void SweepStaleUploads(BlobStore* blobs, const GcOptions& o, GcReport* r,
                       const std::function<void(const std::string&)>& say) {
  auto grace = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::milliseconds(o.upload_grace_ms));
  auto stale = blobs->CleanStaleUploads(grace, o.dry_run);
  if (!stale.ok()) {
    r->stale_uploads_error = stale.status().ToString();
    say("gc: stale uploads: " + r->stale_uploads_error);
    return;
  }
  r->stale_uploads_found = stale->found;
  r->stale_uploads_removed = o.dry_run ? stale->found : stale->removed;
  if (stale->failed > 0) {
    r->delete_errors += stale->failed;
    say(fmt::format("gc: {} stale uploads could not be aborted (the next run retries)", stale->failed));
  }
}

// "24 h" for whole hours, else seconds.
std::string DurationText(int64_t ms) {
  if (ms > 0 && ms % 3'600'000 == 0) return fmt::format("{} h", ms / 3'600'000);
  return fmt::format("{} s", ms / 1000);
}

}  // namespace

Result<GcReport> CollectGarbage(const HubStorage& hub, const GcOptions& o) {
  GcReport r;
  r.dry_run = o.dry_run;
  r.grace_ms = o.grace_ms;
  r.xorb_grace_ms = std::max(o.grace_ms, o.xorb_grace_ms);
  r.upload_grace_ms = o.upload_grace_ms;
  auto say = [&](const std::string& m) {
    if (o.progress) o.progress(m);
  };
  MetadataStore* meta = hub.meta;
  BlobStore* blobs = hub.chunks->blobs();
  const int64_t mark_start = o.now_ms != 0 ? o.now_ms : NowMs();
  const int64_t cutoff = mark_start - o.grace_ms;
  const int64_t xorb_cutoff = mark_start - r.xorb_grace_ms;

  // Deletions an earlier run left halfway (tombstones): finished along with this run's.
  std::unordered_set<std::string> leftovers;
  MH_RETURN_IF_ERROR(meta->ListDeletingXorbs([&](const std::string& h) { leftovers.insert(h); }));

  // Stored objects, listed before anything else: an object written after this is never a candidate.
  std::unordered_map<std::string, int64_t> orphans;  // xorb objects; those with a record are erased below
  MH_RETURN_IF_ERROR(blobs->List("xorbs/", [&](const std::string& key, int64_t size) {
    if (auto h = XorbOfKey(key)) orphans.emplace(*h, size);
  }));
  std::vector<std::pair<std::string, int64_t>> parts;
  MH_RETURN_IF_ERROR(blobs->List("uploads/", [&](const std::string& key, int64_t size) { parts.emplace_back(key, size); }));

  // ---- mark: live files ----
  std::unordered_set<std::string> live;
  MH_ASSIGN_OR_RETURN(std::vector<UploadSession> sessions, meta->ListUploadSessions());
  for (const UploadSession& s : sessions) live.insert(s.oid);
  r.session_files = int64_t(live.size());

  ReachabilityWalk walk(meta, hub.repos_dir);
  ProgressThrottle throttle;
  walk.set_progress([&](size_t i, size_t n, const RepoRecord& rec) {
    if (throttle.Due()) say(fmt::format("gc: walking repository {}/{}: {}", i + 1, n, RepoDisplayName(rec)));
  });
  std::unordered_set<std::string> reachable;
  MH_RETURN_IF_ERROR(walk.WalkAll([&](const PointerUse& use) {
    ++r.pointer_uses;
    reachable.insert(use.pointer.oid);
    return Status::Ok();
  }));
  r.repos = walk.repos_walked();
  r.refs = walk.refs_walked();
  r.reachable_files = int64_t(reachable.size());
  live.merge(reachable);

  // ---- mark: files, then the xorbs live files name ----
  std::unordered_set<std::string> live_xorbs;
  std::unordered_map<std::string, int64_t> dead_files;  // oid -> size
  Status bad_terms;
  MH_RETURN_IF_ERROR(meta->ListFiles([&](const FileRecord& f) {
    ++r.files;
    if (live.count(f.sha256) == 0 && f.created_ms < cutoff) {
      dead_files.emplace(f.sha256, f.size);
      return;
    }
    ++r.files_live;
    auto xorbs = XorbsOfTerms(f.terms);
    if (!xorbs.ok()) {
      if (bad_terms.ok()) bad_terms = Status::Corruption("file " + f.sha256 + ": " + xorbs.status().message());
      return;
    }
    live_xorbs.insert(xorbs->begin(), xorbs->end());
  }));
  // Which xorbs such a file needs is unknown: sweeping could remove them.
  if (!bad_terms.ok()) {
    return Status::Corruption(bad_terms.message() + "; refusing to collect garbage (run modelhub admin fsck)");
  }
  live.clear();

  std::unordered_map<std::string, int64_t> dead_xorbs;  // hash -> stored bytes
  MH_RETURN_IF_ERROR(meta->ListXorbs([&](const XorbRecord& x) {
    ++r.xorbs;
    r.stored_bytes += x.stored_bytes;
    orphans.erase(x.hash);
    if (x.created_ms >= xorb_cutoff || live_xorbs.count(x.hash) != 0) {
      ++r.xorbs_live;
      if (live_xorbs.count(x.hash) == 0 && x.created_ms < cutoff) ++r.xorbs_young;
    } else {
      dead_xorbs.emplace(x.hash, x.stored_bytes);
    }
  }));
  for (const std::string& h : leftovers) orphans.erase(h);
  live_xorbs.clear();
  // Unrecorded objects have no age of their own: they go once they were seen unrecorded for the
  // grace period (an upload between storing a xorb and recording it is never touched).
  r.orphans_found = int64_t(orphans.size());
  {
    std::vector<std::string> seen;
    seen.reserve(orphans.size());
    for (const auto& kv : orphans) seen.push_back(kv.first);
    MH_ASSIGN_OR_RETURN(std::vector<std::string> aged, meta->NoteOrphanXorbs(seen, mark_start, cutoff, !o.dry_run));
    std::unordered_map<std::string, int64_t> old;
    for (const std::string& h : aged) old.emplace(h, orphans[h]);
    orphans = std::move(old);
  }

  if (o.dry_run) {
    r.files_removed = int64_t(dead_files.size());
    for (const auto& kv : dead_files) r.files_removed_bytes += kv.second;
    r.xorbs_removed = int64_t(dead_xorbs.size());
    for (const auto& kv : dead_xorbs) r.reclaimed_bytes += kv.second;
    r.orphans_removed = int64_t(orphans.size());
    for (const auto& kv : orphans) r.orphan_bytes += kv.second;
    std::unordered_set<std::string> open;
    for (const UploadSession& s : sessions) {
      if (s.created_ms < cutoff) {
        ++r.sessions_removed;
      } else {
        open.insert(s.id);
      }
    }
    for (const auto& [key, size] : parts) {
      auto session = SessionOfPartKey(key);
      if (session && open.count(*session) == 0) {
        ++r.parts_removed;
        r.part_bytes += size;
      }
    }
    r.leftovers_finished = int64_t(leftovers.size());
    SweepStaleUploads(blobs, o, &r, say);
    return r;
  }

  // ---- sweep, under the exclusive fence ----
  MH_ASSIGN_OR_RETURN(GcFence fence, GcFence::Exclusive(hub.data_dir, o.lock_timeout_ms, [&] {
                        say("gc: waiting for in-flight commits and pushes to finish (gc.lock)");
                      }));
  // Re-mark: commits and pushes that finished since the walk moved refs; what they reach is live.
  std::vector<std::string> revived;
  MH_RETURN_IF_ERROR(walk.WalkChanges([&](const PointerUse& use) {
    if (dead_files.erase(use.pointer.oid) != 0) revived.push_back(use.pointer.oid);
    return Status::Ok();
  }));
  MH_ASSIGN_OR_RETURN(sessions, meta->ListUploadSessions());
  for (const UploadSession& s : sessions) {
    if (dead_files.erase(s.oid) != 0) revived.push_back(s.oid);
  }
  for (const std::string& oid : revived) {
    auto f = meta->GetFile(oid);
    if (!f.ok()) {
      if (f.status().IsNotFound()) continue;
      return f.status();
    }
    MH_ASSIGN_OR_RETURN(std::vector<std::string> xorbs, XorbsOfTerms(f->terms));
    for (const std::string& x : xorbs) dead_xorbs.erase(x);
  }
  r.remarked_files = int64_t(revived.size());

  // Files first: once no dead file names a xorb, the xorb can go.
  std::vector<std::string> doomed;
  doomed.reserve(dead_files.size());
  for (const auto& kv : dead_files) doomed.push_back(kv.first);
  MH_ASSIGN_OR_RETURN(std::vector<std::string> removed, meta->DeleteFilesOlderThan(doomed, cutoff));
  r.files_removed = int64_t(removed.size());
  for (const std::string& oid : removed) r.files_removed_bytes += dead_files[oid];
  r.kept_since_mark += int64_t(doomed.size() - removed.size());

  std::vector<std::string> candidates;
  for (const auto& kv : dead_xorbs) candidates.push_back(kv.first);
  for (const auto& kv : orphans) candidates.push_back(kv.first);
  candidates.insert(candidates.end(), leftovers.begin(), leftovers.end());
  auto xorbs_of = [](const FileRecord& f) { return XorbsOfTerms(f.terms); };
  MH_ASSIGN_OR_RETURN(std::vector<std::string> marked,
                      meta->MarkXorbsDeleting(candidates, xorb_cutoff, mark_start - kClockSlackMs, xorbs_of));
  r.kept_since_mark += int64_t(candidates.size() - marked.size());

  std::unordered_set<std::string> open;
  for (const UploadSession& s : sessions) {
    if (s.created_ms >= cutoff) {
      open.insert(s.id);
      continue;
    }
    Status d = meta->DeleteUploadSession(s.id);
    if (d.ok()) {
      ++r.sessions_removed;
    } else if (!d.IsNotFound()) {
      return d;
    }
  }
  // No record names what follows any more: no need to keep writers waiting.
  fence = GcFence();

  for (const std::string& h : marked) {
    auto hash = xet::XetHash::FromHex(h);
    if (!hash.ok()) continue;  // rows hold valid hashes; nothing to delete otherwise
    Status d = blobs->Delete(ChunkStore::XorbKey(*hash));
    if (d.ok()) d = meta->DeleteXorb(h);
    if (!d.ok()) {
      ++r.delete_errors;
      say(fmt::format("gc: xorb {}: {} (the next run retries)", h, d.message()));
      continue;
    }
    if (auto it = dead_xorbs.find(h); it != dead_xorbs.end()) {
      ++r.xorbs_removed;
      r.reclaimed_bytes += it->second;
    } else if (auto o2 = orphans.find(h); o2 != orphans.end()) {
      ++r.orphans_removed;
      r.orphan_bytes += o2->second;
    } else {
      ++r.leftovers_finished;
    }
  }
  for (const auto& [key, size] : parts) {
    auto session = SessionOfPartKey(key);
    if (!session || open.count(*session) != 0) continue;
    Status d = blobs->Delete(key);
    if (!d.ok()) {
      ++r.delete_errors;
      say(fmt::format("gc: {}: {}", key, d.message()));
      continue;
    }
    ++r.parts_removed;
    r.part_bytes += size;
  }
  SweepStaleUploads(blobs, o, &r, say);
  return r;
}

std::string FormatGcReport(const GcReport& r) {
  const char* verb = r.dry_run ? "would remove" : "removed";
  std::string out;
  out += fmt::format("gc{}: grace period {} s\n", r.dry_run ? " (dry run)" : "", r.grace_ms / 1000);
  out += fmt::format("mark: {} {}, {} refs, {} LFS pointers -> {} reachable files", r.repos,
                     r.repos == 1 ? "repository" : "repositories", r.refs, r.pointer_uses, r.reachable_files);
  if (r.session_files > 0) out += fmt::format(", {} in upload sessions", r.session_files);
  if (r.remarked_files > 0) out += fmt::format(", {} found again under the lock", r.remarked_files);
  out += "\n";
  out += fmt::format("files: {} recorded, {} live; {} {} ({})\n", r.files, r.files_live, verb, r.files_removed,
                     HumanBytes(r.files_removed_bytes));
  out += fmt::format("xorbs: {} recorded ({}), {} live; {} {} -> {} reclaimed\n", r.xorbs, HumanBytes(r.stored_bytes),
                     r.xorbs_live, verb, r.xorbs_removed, HumanBytes(r.reclaimed_bytes));
  if (r.xorbs_young > 0) {
    out += fmt::format("xorbs kept for Xet clients' caches (younger than {} s, --xorb-grace-seconds): {}\n",
                       r.xorb_grace_ms / 1000, r.xorbs_young);
  }
  out += fmt::format("unrecorded xorb objects: {} found, {} {} ({})\n", r.orphans_found, verb, r.orphans_removed,
                     HumanBytes(r.orphan_bytes));
  out += fmt::format("upload sessions older than the grace period: {} {}; staged parts: {} {} ({})\n", verb,
                     r.sessions_removed, verb, r.parts_removed, HumanBytes(r.part_bytes));
  if (!r.stale_uploads_error.empty()) {
    out += fmt::format("stale uploads: not checked: {}\n", r.stale_uploads_error);
  } else {
    out += fmt::format("stale uploads: {} {} (older than {})\n", r.stale_uploads_removed,
                       r.dry_run ? "would be aborted" : "aborted", DurationText(r.upload_grace_ms));
  }
  if (r.leftovers_finished > 0) {
    out += fmt::format("deletions left by an earlier run: {} {}\n", r.dry_run ? "would finish" : "finished",
                       r.leftovers_finished);
  }
  if (r.kept_since_mark > 0) {
    out += fmt::format("kept {} candidates used by uploads or commits since the mark\n", r.kept_since_mark);
  }
  if (r.delete_errors > 0) out += fmt::format("{} objects could not be deleted (see above)\n", r.delete_errors);
  if (r.dry_run) out += "dry run: nothing was removed; the real run re-walks refs that moved before it deletes\n";
  return out;
}

}  // namespace modelhub
