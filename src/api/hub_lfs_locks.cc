// The git-lfs File Locking API (git-lfs docs/api/locking.md) under
// {repo}.git/info/lfs/locks: create (POST /locks), list (GET /locks),
// verify (POST /locks/verify, called by git-lfs on every push) and
// unlock (POST /locks/{id}/unlock). Listing needs read access; everything
// else needs push (write) access. Locks live in LfsLockStore (git_lfs_locks.h).
#include <fmt/format.h>

#include "api/git_lfs_locks.h"
#include "api/hub_internal.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/time_util.h"
#include "repo/path_rules.h"

namespace modelhub {

namespace {

constexpr char kLfsJson[] = "application/vnd.git-lfs+json";
constexpr int64_t kDefaultLimit = 100;
constexpr int64_t kMaxLimit = 1000;

json LockJson(const LfsLock& l) {
  return json{{"id", l.id}, {"path", l.path}, {"locked_at", IsoTimeMs(l.locked_at_ms)}, {"owner", {{"name", l.owner}}}};
}

void WriteLfsJson(Response& resp, int status, const json& j) {
  resp.SetJson(status, j.dump(-1, ' ', false, json::error_handler_t::replace));
  resp.SetHeader("Content-Type", kLfsJson);
}

std::string RefName(const json& body) {
  if (body.is_object() && body.contains("ref") && body["ref"].is_object() && body["ref"].contains("name") &&
      body["ref"]["name"].is_string()) {
    return body["ref"]["name"].get<std::string>();
  }
  return "";
}

// A page of `all` from the cursor (an offset, as a string); sets next_cursor when more remain.
Result<std::vector<LfsLock>> Page(std::vector<LfsLock> all, const std::string& cursor, int64_t limit,
                                  std::string* next_cursor) {
  int64_t start = 0;
  if (!cursor.empty()) {
    auto c = ParseInt64(cursor);
    if (!c || *c < 0) return Status::InvalidArgument("Invalid cursor");
    start = *c;
  }
  if (limit <= 0) limit = kDefaultLimit;
  limit = std::min(limit, kMaxLimit);
  const PageSpan page = PageOf(int64_t(all.size()), start, limit);
  std::vector<LfsLock> out;
  for (int64_t i = page.begin; i < page.end; ++i) out.push_back(std::move(all[size_t(i)]));
  if (page.next >= 0) *next_cursor = std::to_string(page.next);
  return out;
}

}  // namespace

Status Hub::HandleLfsLocks(Request& req, Response& resp, RepoRef& repo) {
  resp.route = "lfs_locks";
  // req.path is ".../info/lfs/locks[/...]" (public prefix already stripped by Route).
  const std::string marker = "/info/lfs/locks";
  auto at = req.path.rfind(marker);
  if (at == std::string::npos) return Status::NotFound("Not found");
  std::vector<std::string> rest = Split(req.path.substr(at + marker.size()), '/');
  if (!rest.empty() && rest[0].empty()) rest.erase(rest.begin());
  const std::string& m = req.method;
  if (rest.empty() && m == "GET") return HandleLfsLockList(req, resp, repo);
  if (rest.empty() && m == "POST") return HandleLfsLockCreate(req, resp, repo);
  if (rest.size() == 1 && rest[0] == "verify" && m == "POST") return HandleLfsLockVerify(req, resp, repo);
  if (rest.size() == 2 && rest[1] == "unlock" && m == "POST") {
    MH_ASSIGN_OR_RETURN(std::string id, DecodeSegment(rest[0]));
    return HandleLfsUnlock(req, resp, repo, id);
  }
  return Status::NotFound("Not found");
}

namespace {
// Push access, in git-lfs's words; anonymous callers get a Basic challenge.
Status NeedPush(Authenticator& auth, const RepoRef& repo, Response& resp, const std::string& what) {
  Status w = auth.CheckWrite(repo.viewer, repo.rec);
  if (w.code() == Code::kUnauthorized) resp.SetHeader("LFS-Authenticate", "Basic realm=\"modelhub\"");
  if (w.code() == Code::kForbidden) return Status::Forbidden("You must have push access to " + what);
  return w;
}
}  // namespace

Status Hub::HandleLfsLockCreate(Request& req, Response& resp, RepoRef& repo) {
  MH_RETURN_IF_ERROR(NeedPush(auth_, repo, resp, "create a lock"));
  MH_ASSIGN_OR_RETURN(json body, ReadJsonBody(req, config_.max_json_body));
  if (!body.is_object() || !body.contains("path") || !body["path"].is_string()) {
    return Status::InvalidArgument("Lock request needs a \"path\"");
  }
  std::string path = body["path"].get<std::string>();
  MH_RETURN_IF_ERROR(ValidateFilePath(path));
  LfsLockStore store(RepoDir(repo.rec.id));
  std::optional<LfsLock> existing;
  auto lock = store.Create(path, repo.viewer.user->name, RefName(body), &existing);
  if (!lock.ok()) {
    if (lock.status().code() == Code::kConflict && existing) {
      WriteLfsJson(resp, 409, json{{"lock", LockJson(*existing)}, {"message", "already created lock"}});
      return Status::Ok();
    }
    return lock.status();
  }
  LogInfo("lfs lock {} on {}:{} by {}", lock->id, repo.rec.FullId(), path, lock->owner);
  WriteLfsJson(resp, 201, json{{"lock", LockJson(*lock)}});
  return Status::Ok();
}

Status Hub::HandleLfsLockList(Request& req, Response& resp, RepoRef& repo) {
  LfsLockStore store(RepoDir(repo.rec.id));
  MH_ASSIGN_OR_RETURN(auto all, store.List());
  auto path = req.Query("path");
  auto id = req.Query("id");
  std::vector<LfsLock> matching;
  for (auto& l : all) {
    if (path && !path->empty() && l.path != *path) continue;
    if (id && !id->empty() && l.id != *id) continue;
    matching.push_back(std::move(l));
  }
  int64_t limit = kDefaultLimit;
  if (auto ls = req.Query("limit"); ls && !ls->empty()) {
    auto v = ParseInt64(*ls);
    if (!v) return Status::InvalidArgument("Invalid limit");
    limit = *v;
  }
  std::string next;
  MH_ASSIGN_OR_RETURN(auto page, Page(std::move(matching), req.Query("cursor").value_or(""), limit, &next));
  json locks = json::array();
  for (const auto& l : page) locks.push_back(LockJson(l));
  json out = {{"locks", locks}};
  if (!next.empty()) out["next_cursor"] = next;
  WriteLfsJson(resp, 200, out);
  return Status::Ok();
}

Status Hub::HandleLfsLockVerify(Request& req, Response& resp, RepoRef& repo) {
  MH_RETURN_IF_ERROR(NeedPush(auth_, repo, resp, "verify locks"));
  MH_ASSIGN_OR_RETURN(json body, ReadJsonBody(req, config_.max_json_body));
  std::string cursor;
  int64_t limit = kDefaultLimit;
  if (body.is_object()) {
    if (body.contains("cursor") && body["cursor"].is_string()) cursor = body["cursor"].get<std::string>();
    if (body.contains("limit") && body["limit"].is_number_integer()) limit = body["limit"].get<int64_t>();
  }
  LfsLockStore store(RepoDir(repo.rec.id));
  MH_ASSIGN_OR_RETURN(auto all, store.List());
  std::string next;
  MH_ASSIGN_OR_RETURN(auto page, Page(std::move(all), cursor, limit, &next));
  json ours = json::array();
  json theirs = json::array();
  for (const auto& l : page) (l.owner == repo.viewer.user->name ? ours : theirs).push_back(LockJson(l));
  json out = {{"ours", ours}, {"theirs", theirs}};
  if (!next.empty()) out["next_cursor"] = next;
  WriteLfsJson(resp, 200, out);
  return Status::Ok();
}

Status Hub::HandleLfsUnlock(Request& req, Response& resp, RepoRef& repo, const std::string& id) {
  MH_RETURN_IF_ERROR(NeedPush(auth_, repo, resp, "delete locks"));
  MH_ASSIGN_OR_RETURN(json body, ReadJsonBody(req, config_.max_json_body));
  bool force = body.is_object() && body.contains("force") && body["force"].is_boolean() && body["force"].get<bool>();
  LfsLockStore store(RepoDir(repo.rec.id));
  MH_ASSIGN_OR_RETURN(LfsLock lock, store.Get(id));
  if (lock.owner != repo.viewer.user->name && !force) {
    return Status::Forbidden(fmt::format("{} is locked by {}; unlock it with --force to break their lock", lock.path,
                                         lock.owner));
  }
  MH_RETURN_IF_ERROR(store.Delete(lock));
  LogInfo("lfs unlock {} on {}:{} by {}{}", lock.id, repo.rec.FullId(), lock.path, repo.viewer.user->name,
          force ? " (forced)" : "");
  WriteLfsJson(resp, 200, json{{"lock", LockJson(lock)}});
  return Status::Ok();
}

}  // namespace modelhub
