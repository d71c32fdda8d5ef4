#include "storage/gc/reachability.h"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <optional>

#include <fmt/format.h>

#include "common/time_util.h"
#include "repo/git_repo.h"

namespace modelhub {

namespace {

// "heads/main" -> "main", "tags/v1" -> "v1"; other refs keep their namespace ("pr/1").
std::string ShortRef(const std::string& name) {
  for (const char* prefix : {"heads/", "tags/"}) {
    if (name.rfind(prefix, 0) == 0) return name.substr(std::string(prefix).size());
  }
  return name;
}

}  // namespace

std::string RepoGitDir(const std::string& repos_dir, int64_t repo_id) {
  return fmt::format("{}/{}.git", repos_dir, repo_id);
}

std::string RepoDisplayName(const RepoRecord& rec) {
  return (rec.type == RepoType::kDataset ? "datasets/" : "") + rec.FullId();
}

Status ReachabilityWalk::WalkAll(const Visitor& fn) {
  MH_ASSIGN_OR_RETURN(std::vector<RepoRecord> repos, meta_->ListAllRepos());
  refs_.clear();
  for (size_t i = 0; i < repos.size(); ++i) {
    if (progress_) progress_(i, repos.size(), repos[i]);
    Status s = Walk(repos[i], /*remember=*/true, /*only_changed=*/false, fn);
    if (!s.ok()) {
      if (!on_error_) return s;
      MH_RETURN_IF_ERROR(on_error_(repos[i], s));
    }
  }
  return Status::Ok();
}

Status ReachabilityWalk::WalkChanges(const Visitor& fn) {
  MH_ASSIGN_OR_RETURN(std::vector<RepoRecord> repos, meta_->ListAllRepos());
  std::set<int64_t> present;
  for (const RepoRecord& rec : repos) {
    present.insert(rec.id);
    Status s = Walk(rec, /*remember=*/true, /*only_changed=*/true, fn);
    if (!s.ok()) {
      if (!on_error_) return s;
      MH_RETURN_IF_ERROR(on_error_(rec, s));
    }
  }
  std::erase_if(refs_, [&](const auto& kv) { return present.count(kv.first) == 0; });
  return Status::Ok();
}

Status ReachabilityWalk::WalkRepo(const RepoRecord& rec, const Visitor& fn) {
  return Walk(rec, /*remember=*/false, /*only_changed=*/false, fn);
}

Status ReachabilityWalk::Walk(const RepoRecord& rec, bool remember, bool only_changed, const Visitor& fn) {
  const std::string dir = RepoGitDir(repos_dir_, rec.id);
  auto opened = GitRepo::Open(dir);
  if (!opened.ok()) {
    if (!opened.status().IsNotFound()) return opened.status();
    // Deleted since it was listed, or still being created (row first, then git init): nothing to see.
    auto again = meta_->GetRepoById(rec.id);
    if (!again.ok() && again.status().IsNotFound()) return Status::Ok();
    if (NowMs() - rec.created_ms < kCreationWindowMs) return Status::Ok();
    return Status::Corruption(
        fmt::format("repository {} (id {}) has no git directory at {}", RepoDisplayName(rec), rec.id, dir));
  }
  std::unique_ptr<GitRepo> git = std::move(opened).value();
  MH_ASSIGN_OR_RETURN(std::vector<RefInfo> refs, git->ListAllRefs());
  std::map<std::string, std::string> now;
  for (const RefInfo& r : refs) now[r.name] = r.target;

  std::set<std::string> seen_targets;
  auto old = refs_.find(rec.id);
  if (only_changed && old != refs_.end()) {
    for (const auto& kv : old->second) seen_targets.insert(kv.second);
  }
  std::vector<std::string> tips;
  for (const auto& kv : now) {
    if (seen_targets.count(kv.second) == 0 &&
        std::find(tips.begin(), tips.end(), kv.second) == tips.end()) {
      tips.push_back(kv.second);
    }
  }
  if (remember) refs_[rec.id] = now;
  ++repos_walked_;
  refs_walked_ += int64_t(refs.size());
  if (tips.empty()) return Status::Ok();

  std::vector<std::string> hide(seen_targets.begin(), seen_targets.end());
  // Pointer blobs are read once per repository, however many trees hold them.
  std::unordered_map<std::string, std::optional<LfsPointer>> parsed;
  return git->ForEachReachableFile(tips, hide, [&](const ReachableFile& f) -> Status {
    if (f.size > kMaxLfsPointerBytes) return Status::Ok();
    auto it = parsed.find(f.blob_oid);
    if (it == parsed.end()) {
      MH_ASSIGN_OR_RETURN(std::string content, git->ReadBlob(f.blob_oid));
      it = parsed.emplace(f.blob_oid, ParseLfsPointer(content)).first;
    }
    if (!it->second) return Status::Ok();
    return fn(PointerUse{rec, f.commit, f.path, *it->second});
  });
}

std::string ReachabilityWalk::Describe(const PointerUse& use) const {
  std::string at = use.commit.substr(0, 12);
  auto refs = refs_.find(use.repo.id);
  if (refs != refs_.end()) {
    // Branches first (map order: "heads/" < "pr/" < "tags/").
    for (const auto& [name, target] : refs->second) {
      if (target == use.commit) {
        at = ShortRef(name);
        break;
      }
    }
  }
  return fmt::format("{}@{}:{}", RepoDisplayName(use.repo), at, use.path);
}

}  // namespace modelhub
