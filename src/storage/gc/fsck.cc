#include "storage/gc/fsck.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "common/time_util.h"
#include "repo/stale_locks.h"
#include "storage/gc/reachability.h"
#include "storage/gc/storage_stats.h"
#include "storage/meta/object_ownership.h"

namespace modelhub {

namespace {

// Strips a leading "prefix" from a message.
std::string StripPrefix(std::string msg, const std::string& prefix) {
  if (msg.rfind(prefix, 0) == 0) msg.erase(0, prefix.size());
  return msg;
}

// The first chunk that fails to read, as "chunk 12: content does not match its hash"; the
// whole-xorb verification message when every chunk reads (a footer or xorb-hash problem).
std::string LocateDamage(ChunkStore* chunks, const xet::XetHash& xorb, const Status& verify) {
  std::string fallback = StripPrefix(verify.message(), "invalid xorb: ");
  auto footer = chunks->LoadFooter(xorb);
  if (!footer.ok()) return fallback;
  const std::string prefix = "xorb " + xorb.ToHex() + " ";
  std::string out;
  for (uint32_t k = 0; k < (*footer)->chunk_ends.size(); ++k) {
    out.clear();
    auto read = chunks->ReadChunks(xorb, k, k + 1, &out);
    if (!read.ok()) return StripPrefix(read.status().message(), prefix);
  }
  return fallback;
}

}  // namespace

int64_t FsckReport::errors() const {
  return std::count_if(problems.begin(), problems.end(), [](const FsckProblem& p) { return p.error; });
}

Result<FsckReport> RunFsck(const HubStorage& hub, const FsckOptions& o) {
  FsckReport r;
  auto say = [&](const std::string& m) {
    if (o.progress) o.progress(m);
  };
  MetadataStore* meta = hub.meta;
  ChunkStore* chunks = hub.chunks;
  ProgressThrottle throttle;

  // Problems that files can point at, and which files point at each.
  std::unordered_map<std::string, size_t> xorb_problem;                  // xorb hash -> problem
  std::unordered_map<std::string, std::vector<size_t>> problems_of_oid;  // oid -> problems
  auto add = [&](bool error, std::string what, std::string detail) {
    r.problems.push_back(FsckProblem{error, std::move(what), std::move(detail), {}, 0});
    return r.problems.size() - 1;
  };

  // ---- 1. every recorded xorb ----
  std::vector<XorbRecord> xorbs;
  MH_RETURN_IF_ERROR(meta->ListXorbs([&](const XorbRecord& x) { xorbs.push_back(x); }));
  std::unordered_map<std::string, int64_t> num_chunks;
  for (size_t i = 0; i < xorbs.size(); ++i) {
    const XorbRecord& x = xorbs[i];
    if (throttle.Due()) {
      say(fmt::format("fsck: verified {}/{} xorbs ({})", i, xorbs.size(), HumanBytes(r.xorb_bytes_checked)));
    }
    num_chunks[x.hash] = x.num_chunks;
    auto hash = xet::XetHash::FromHex(x.hash);
    if (!hash.ok()) {
      xorb_problem[x.hash] = add(true, "DAMAGED xorb " + x.hash, "the record's hash does not parse");
      continue;
    }
    auto size = chunks->blobs()->Size(ChunkStore::XorbKey(*hash));
    if (!size.ok()) {
      xorb_problem[x.hash] = add(true, "MISSING xorb " + x.hash,
                                 size.status().IsNotFound() ? "recorded but not in storage" : size.status().message());
      continue;
    }
    ++r.xorbs_checked;
    r.xorb_bytes_checked += *size;
    Status v = chunks->VerifyStoredXorb(*hash);
    if (!v.ok()) {
      std::string detail = v.code() == Code::kCorruption ? LocateDamage(chunks, *hash, v) : v.message();
      xorb_problem[x.hash] = add(true, "DAMAGED xorb " + x.hash, detail);
    } else if (*size != x.stored_bytes) {
      xorb_problem[x.hash] = add(true, "DAMAGED xorb " + x.hash,
                                 fmt::format("stored object is {} bytes, the record says {}", *size, x.stored_bytes));
    }
  }
  xorbs.clear();

  // ---- 2. stored objects nobody recorded ----
  std::unordered_set<std::string> deleting;
  MH_RETURN_IF_ERROR(meta->ListDeletingXorbs([&](const std::string& h) { deleting.insert(h); }));
  std::vector<std::pair<std::string, int64_t>> orphans;
  MH_RETURN_IF_ERROR(chunks->blobs()->List("xorbs/", [&](const std::string& key, int64_t size) {
    auto slash = key.rfind('/');
    auto hash = xet::XetHash::FromHex(std::string_view(key).substr(slash + 1));
    if (!hash.ok() || ChunkStore::XorbKey(*hash) != key) return;
    std::string hex = hash->ToHex();
    if (num_chunks.count(hex) == 0 && deleting.count(hex) == 0) orphans.emplace_back(hex, size);
  }));
  std::sort(orphans.begin(), orphans.end());
  for (const auto& [hex, size] : orphans) {
    ++r.orphans;
    r.orphan_bytes += size;
    // Verified too: the chunk store adopts an existing object instead of writing it again when the
    // same content is uploaded later, so a damaged orphan would become a damaged recorded xorb.
    auto hash = xet::XetHash::FromHex(hex);
    Status v = chunks->VerifyStoredXorb(*hash);
    if (!v.ok() && !v.IsNotFound()) {  // NotFound: collected while we looked
      add(true, "DAMAGED xorb " + hex,
          "stored but not recorded, and " + (v.code() == Code::kCorruption ? LocateDamage(chunks, *hash, v) : v.message()));
      continue;
    }
    r.xorb_bytes_checked += v.ok() ? size : 0;
    add(false, "ORPHAN xorb " + hex,
        fmt::format("stored ({}) but not recorded; not an error, gc removes it after the grace period",
                    HumanBytes(size)));
  }

  // ---- 3. every reachable LFS pointer ----
  ReachabilityWalk walk(meta, hub.repos_dir);
  walk.set_error_handler([&](const RepoRecord& rec, const Status& s) {
    add(true, "UNREADABLE repository " + RepoDisplayName(rec), s.message() + " (its LFS files were not all checked)");
    return Status::Ok();
  });
  walk.set_progress([&](size_t i, size_t n, const RepoRecord& rec) {
    if (throttle.Due()) say(fmt::format("fsck: walking repository {}/{}: {}", i + 1, n, RepoDisplayName(rec)));
  });
  std::map<std::string, int64_t> reachable;  // oid -> size the pointer declares (sorted: stable output)
  // A pointer whose repository never proved possession of its object is junk someone wrote (the
  // object may not exist at all), not storage damage: it is never served, so it is reported as
  // information and its object is not checked on its behalf (storage/meta/object_ownership.h).
  std::map<std::pair<int64_t, std::string>, bool> owned;  // (repo id, oid) -> linked
  std::map<std::string, size_t> unowned_problem;           // oid -> problem
  auto is_owned = [&](const PointerUse& use) -> Result<bool> {
    auto key = std::make_pair(use.repo.id, use.pointer.oid);
    if (auto it = owned.find(key); it != owned.end()) return it->second;
    MH_ASSIGN_OR_RETURN(OwnershipCheck c, CheckObjectOwnership(*meta, use.repo.id, use.pointer.oid, -1));
    return owned[key] = c.verdict != Ownership::kNotOwned;
  };
  MH_RETURN_IF_ERROR(walk.WalkAll([&](const PointerUse& use) {
    ++r.pointer_uses;
    MH_ASSIGN_OR_RETURN(bool own, is_owned(use));
    if (!own) {
      ++r.unowned_pointers;
      auto it = unowned_problem.find(use.pointer.oid);
      if (it == unowned_problem.end()) {
        it = unowned_problem
                 .emplace(use.pointer.oid,
                          add(false, "UNOWNED pointer " + use.pointer.oid,
                              "the repository never uploaded this object, so it is not served; not storage damage"))
                 .first;
      }
      FsckProblem& p = r.problems[it->second];
      ++p.affects_total;
      if (p.affects.size() < o.max_uses_kept) p.affects.push_back(walk.Describe(use));
      return Status::Ok();
    }
    reachable.emplace(use.pointer.oid, use.pointer.size);
    return Status::Ok();
  }));
  r.repos = walk.repos_walked();

  // ---- 3b. lock files left by writers that died (repo/stale_locks.h) ----
  // Informational, not errors: no data is damaged, and the server removes such a lock itself
  // the next time a writer needs it. Listed so an operator sees why a branch was stuck.
  MH_ASSIGN_OR_RETURN(std::vector<RepoRecord> all_repos, meta->ListAllRepos());
  for (const RepoRecord& rec : all_repos) {
    auto locks = FindStaleLocks(RepoGitDir(hub.repos_dir, rec.id), o.stale_lock_age_s);
    if (!locks.ok()) continue;  // a repository that cannot be listed was reported by the walk
    for (const LockFile& l : *locks) {
      ++r.stale_locks;
      add(false, "STALE lock " + RepoDisplayName(rec) + ":" + l.name,
          fmt::format("{} old, so its writer died; it blocks updates of that file until removed (the server "
                      "removes it at the next write; it is safe to delete by hand)",
                      l.age_s >= 3600 ? fmt::format("{} h", l.age_s / 3600) : fmt::format("{} s", l.age_s)));
    }
  }

  // ---- 4. each reachable file ----
  std::map<std::string, size_t> unrecorded_xorb;  // named by terms, no record
  int64_t done = 0;
  for (const auto& [oid, pointer_size] : reachable) {
    ++r.files_checked;
    if (throttle.Due()) say(fmt::format("fsck: checked {}/{} files", done, reachable.size()));
    ++done;
    auto f = meta->GetFile(oid);
    if (!f.ok()) {
      problems_of_oid[oid].push_back(add(
          true, "MISSING file " + oid,
          f.status().IsNotFound() ? fmt::format("{} bytes: not in the chunk store", pointer_size) : f.status().message()));
      continue;
    }
    auto terms = ParseTerms(f->terms);
    if (!terms.ok()) {
      problems_of_oid[oid].push_back(add(true, "BROKEN file " + oid, "terms do not parse: " + terms.status().message()));
      continue;
    }
    int64_t total = 0;
    for (const FileTerm& t : *terms) total += t.bytes;
    if (total != f->size) {
      problems_of_oid[oid].push_back(
          add(true, "BROKEN file " + oid, fmt::format("terms add up to {} bytes, the file has {}", total, f->size)));
    }
    if (f->size != pointer_size) {
      problems_of_oid[oid].push_back(add(
          true, "BROKEN file " + oid,
          fmt::format("the LFS pointer says {} bytes, the stored file has {}", pointer_size, f->size)));
    }
    std::set<size_t> attached;
    for (size_t i = 0; i < terms->size(); ++i) {
      const FileTerm& t = (*terms)[i];
      std::string hex = t.xorb.ToHex();
      size_t p;
      if (auto it = xorb_problem.find(hex); it != xorb_problem.end()) {
        p = it->second;
      } else if (auto n = num_chunks.find(hex); n == num_chunks.end()) {
        auto u = unrecorded_xorb.find(hex);
        if (u == unrecorded_xorb.end()) {
          u = unrecorded_xorb.emplace(hex, add(true, "MISSING xorb " + hex, "named by files but not recorded")).first;
        }
        p = u->second;
      } else if (int64_t(t.chunk_end) > n->second) {
        p = add(true, "BROKEN file " + oid,
                fmt::format("term {} names chunks [{}, {}) of xorb {}, which has {}", i, t.chunk_start, t.chunk_end,
                            hex, n->second));
      } else {
        continue;
      }
      if (attached.insert(p).second) problems_of_oid[oid].push_back(p);
    }
  }

  // ---- 5. where the damaged files are used ----
  if (!problems_of_oid.empty()) {
    say("fsck: finding where the damaged files are used");
    std::vector<std::set<std::pair<int64_t, std::string>>> seen(r.problems.size());  // (repo, path) per problem
    MH_RETURN_IF_ERROR(walk.WalkAll([&](const PointerUse& use) {
      auto it = problems_of_oid.find(use.pointer.oid);
      if (it == problems_of_oid.end()) return Status::Ok();
      MH_ASSIGN_OR_RETURN(bool own, is_owned(use));
      if (!own) return Status::Ok();
      for (size_t p : it->second) {
        if (!seen[p].insert({use.repo.id, use.path}).second) continue;
        FsckProblem& prob = r.problems[p];
        ++prob.affects_total;
        if (prob.affects.size() < o.max_uses_kept) prob.affects.push_back(walk.Describe(use));
      }
      return Status::Ok();
    }));
  }
  // Errors first, informational lines (orphans) last; otherwise in the order found.
  std::stable_sort(r.problems.begin(), r.problems.end(),
                   [](const FsckProblem& a, const FsckProblem& b) { return a.error && !b.error; });
  return r;
}

std::string FormatFsckReport(const FsckReport& r, bool verbose) {
  std::string out;
  for (const FsckProblem& p : r.problems) {
    out += p.what + ": " + p.detail;
    if (p.affects_total > 0) {
      out += " — affects " + p.affects.front();
      if (p.affects_total > 1) out += fmt::format(" (and {} more)", p.affects_total - 1);
    } else if (p.error && p.what.find(" xorb ") != std::string::npos) {
      out += " — no file reachable from a ref uses it";
    }
    out += "\n";
    if (verbose && p.affects.size() > 1) {
      for (const std::string& a : p.affects) out += "    " + a + "\n";
      if (p.affects_total > int64_t(p.affects.size())) {
        out += fmt::format("    ... and {} more\n", p.affects_total - int64_t(p.affects.size()));
      }
    }
  }
  int64_t errors = r.errors();
  out += fmt::format(
      "fsck: {} xorbs verified ({}), {} LFS files reachable from {} {} checked: {}{}\n", r.xorbs_checked,
      HumanBytes(r.xorb_bytes_checked), r.files_checked, r.repos, r.repos == 1 ? "repository" : "repositories",
      errors == 0 ? std::string("no errors") : fmt::format("{} error{}", errors, errors == 1 ? "" : "s"),
      r.orphans == 0 ? std::string()
                     : fmt::format(", {} unrecorded xorb objects ({})", r.orphans, HumanBytes(r.orphan_bytes)));
  if (r.stale_locks > 0) {
    out += fmt::format("fsck: {} stale lock file{} in repositories (listed above; not errors)\n", r.stale_locks,
                       r.stale_locks == 1 ? "" : "s");
  }
  return out;
}

}  // namespace modelhub
