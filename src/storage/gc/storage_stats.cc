#include "storage/gc/storage_stats.h"

#include <unordered_set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "storage/gc/reachability.h"

namespace modelhub {

Status ChunkFootprint::AddFile(const std::string& oid) {
  MH_ASSIGN_OR_RETURN(FileRecord f, chunks_->meta()->GetFile(oid));
  MH_ASSIGN_OR_RETURN(std::vector<FileTerm> terms, ParseTerms(f.terms));
  return AddTerms(terms);
}

Status ChunkFootprint::AddTerms(const std::vector<FileTerm>& terms) {
  // Check every term first so that a failing file counts nothing.
  std::vector<std::shared_ptr<const xet::XorbFooter>> footers;
  footers.reserve(terms.size());
  for (const FileTerm& t : terms) {
    MH_ASSIGN_OR_RETURN(auto footer, chunks_->LoadFooter(t.xorb));
    if (t.chunk_end > footer->chunk_ends.size()) {
      return Status::Corruption(fmt::format("a term names chunks [{}, {}) of xorb {}, which has {}", t.chunk_start,
                                            t.chunk_end, t.xorb.ToHex(), footer->chunk_ends.size()));
    }
    footers.push_back(std::move(footer));
  }
  for (size_t i = 0; i < terms.size(); ++i) {
    const FileTerm& t = terms[i];
    const auto& ends = footers[i]->chunk_ends;
    std::vector<bool>& seen = seen_[t.xorb];
    if (seen.size() < ends.size()) seen.resize(ends.size(), false);
    for (uint32_t k = t.chunk_start; k < t.chunk_end; ++k) {
      if (seen[k]) continue;
      seen[k] = true;
      bytes_ += int64_t(ends[k]) - (k == 0 ? 0 : int64_t(ends[k - 1]));
      ++chunks_counted_;
    }
  }
  return Status::Ok();
}

Result<RevisionStorage> ComputeRevisionStorage(ChunkStore* chunks, const std::vector<LfsPointer>& pointers) {
  RevisionStorage out;
  ChunkFootprint footprint(chunks);
  std::unordered_set<std::string> done;
  for (const LfsPointer& p : pointers) {
    if (!done.insert(p.oid).second) continue;
    ++out.lfs_files;
    out.logical_bytes += p.size;
    if (!footprint.AddFile(p.oid).ok()) ++out.missing_files;
  }
  out.stored_bytes = footprint.bytes();
  return out;
}

Result<HubStorageStats> ComputeHubStorageStats(const HubStorage& hub,
                                               const std::function<void(const std::string&)>& progress) {
  HubStorageStats out;
  MH_RETURN_IF_ERROR(hub.meta->ListXorbs([&](const XorbRecord& x) {
    ++out.xorbs;
    out.stored_bytes += x.stored_bytes;
    out.raw_bytes += x.raw_bytes;
  }));
  MH_RETURN_IF_ERROR(hub.meta->ListFiles([&](const FileRecord&) { ++out.recorded_files; }));
  MH_ASSIGN_OR_RETURN(std::vector<RepoRecord> repos, hub.meta->ListAllRepos());
  ReachabilityWalk walk(hub.meta, hub.repos_dir);
  std::unordered_map<std::string, int64_t> all;  // oid -> size, every repo
  for (size_t i = 0; i < repos.size(); ++i) {
    if (progress) progress(fmt::format("stats: repository {}/{}: {}", i + 1, repos.size(), RepoDisplayName(repos[i])));
    std::unordered_map<std::string, int64_t> mine;
    Status walked = walk.WalkRepo(repos[i], [&](const PointerUse& use) {
      mine.emplace(use.pointer.oid, use.pointer.size);
      return Status::Ok();
    });
    RepoStorageStats r;
    r.repo = repos[i];
    if (!walked.ok()) {
      // Counted as far as it was walked; fsck reports the repository.
      r.error = walked.message();
      if (progress) progress(fmt::format("stats: {}: {}", RepoDisplayName(repos[i]), walked.message()));
    }
    ChunkFootprint footprint(hub.chunks);
    for (const auto& [oid, size] : mine) {
      ++r.lfs_files;
      r.logical_bytes += size;
      bool ok = footprint.AddFile(oid).ok();
      if (!ok) ++r.missing_files;
      if (all.emplace(oid, size).second && !ok) ++out.missing_files;
    }
    r.unique_stored_bytes = footprint.bytes();
    out.logical_bytes_per_repo += r.logical_bytes;
    out.per_repo.push_back(std::move(r));
  }
  out.repos = int64_t(repos.size());
  out.lfs_files = int64_t(all.size());
  for (const auto& kv : all) out.logical_bytes += kv.second;
  return out;
}

std::string HumanBytes(int64_t n) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = double(n);
  int u = 0;
  while (v >= 1024.0 && u < 5) {
    v /= 1024.0;
    ++u;
  }
  if (u == 0) return fmt::format("{} bytes", n);
  return fmt::format("{:.1f} {}", v, units[u]);
}

std::string FormatStatsText(const HubStorageStats& s) {
  std::string out;
  out += fmt::format("repositories:            {}\n", s.repos);
  out += fmt::format("LFS files reachable:     {} distinct ({} recorded in the chunk store)\n", s.lfs_files,
                     s.recorded_files);
  out += fmt::format("logical bytes:           {} ({} bytes), each file once\n", HumanBytes(s.logical_bytes),
                     s.logical_bytes);
  out += fmt::format("logical bytes per repo:  {} ({} bytes), summed over repositories\n",
                     HumanBytes(s.logical_bytes_per_repo), s.logical_bytes_per_repo);
  out += fmt::format("stored bytes:            {} ({} bytes) in {} xorbs ({} of distinct raw chunks)\n",
                     HumanBytes(s.stored_bytes), s.stored_bytes, s.xorbs, HumanBytes(s.raw_bytes));
  out += fmt::format("dedup ratio:             {:.2f} (logical / stored)\n", s.dedup_ratio());
  if (s.missing_files > 0) {
    out += fmt::format("missing files:           {} reachable LFS files are not stored or unreadable (run fsck)\n", s.missing_files);
  }
  if (!s.per_repo.empty()) {
    out += fmt::format("\n{:<40} {:>8} {:>14} {:>14}\n", "repository", "files", "logical", "unique stored");
    for (const auto& r : s.per_repo) {
      out += fmt::format("{:<40} {:>8} {:>14} {:>14}{}\n", RepoDisplayName(r.repo), r.lfs_files,
                         HumanBytes(r.logical_bytes), HumanBytes(r.unique_stored_bytes),
                         r.error.empty() ? "" : "  (incomplete: " + r.error + ")");
    }
  }
  return out;
}

std::string FormatStatsJson(const HubStorageStats& s) {
  nlohmann::json repos = nlohmann::json::array();
  for (const auto& r : s.per_repo) {
    repos.push_back({{"id", RepoDisplayName(r.repo)},
                     {"type", RepoTypeName(r.repo.type)},
                     {"lfsFiles", r.lfs_files},
                     {"logicalBytes", r.logical_bytes},
                     {"uniqueStoredBytes", r.unique_stored_bytes},
                     {"missingFiles", r.missing_files},
                     {"error", r.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.error)}});
  }
  nlohmann::json j = {{"repos", s.repos},
                      {"lfsFiles", s.lfs_files},
                      {"recordedFiles", s.recorded_files},
                      {"logicalBytes", s.logical_bytes},
                      {"logicalBytesPerRepo", s.logical_bytes_per_repo},
                      {"xorbs", s.xorbs},
                      {"storedBytes", s.stored_bytes},
                      {"rawBytes", s.raw_bytes},
                      {"dedupRatio", s.dedup_ratio()},
                      {"missingFiles", s.missing_files},
                      {"perRepo", std::move(repos)}};
  return j.dump(2) + "\n";
}

}  // namespace modelhub
