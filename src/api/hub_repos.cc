// Accounts and repository management: whoami, create/delete/move, settings,
// repo info and listings, validate-yaml.
#include <fmt/format.h>

#include "api/hub_internal.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/time_util.h"
#include "repo/path_rules.h"
#include "storage/gc/storage_stats.h"

namespace modelhub {

namespace {

// Splits "ns/name" (or "name" + organization) into parts.
Result<std::pair<std::string, std::string>> RepoIdFromBody(const json& body, const Viewer& viewer,
                                                            const char* id_key) {
  if (!body.is_object()) return Status::InvalidArgument("Request body must be a JSON object");
  std::string id;
  if (body.contains(id_key) && body[id_key].is_string()) id = body[id_key].get<std::string>();
  if (id.empty()) return Status::InvalidArgument(fmt::format("Missing '{}'", id_key));
  std::string ns, name;
  auto slash = id.find('/');
  if (slash != std::string::npos) {
    ns = id.substr(0, slash);
    name = id.substr(slash + 1);
  } else {
    name = id;
    if (body.contains("organization") && body["organization"].is_string()) {
      ns = body["organization"].get<std::string>();
    } else if (viewer.user) {
      ns = viewer.user->name;
    } else {
      return Status::Unauthorized("You must be authenticated to use a repo name without namespace");
    }
  }
  MH_RETURN_IF_ERROR(ValidateRepoNamePart(ns, "namespace"));
  MH_RETURN_IF_ERROR(ValidateRepoNamePart(name, "name"));
  return std::make_pair(ns, name);
}

Result<RepoType> RepoTypeFromBody(const json& body) {
  if (!body.contains("type") || body["type"].is_null()) return RepoType::kModel;
  if (!body["type"].is_string()) return Status::InvalidArgument("'type' must be a string");
  std::string t = body["type"].get<std::string>();
  if (t == "model") return RepoType::kModel;
  if (t == "dataset") return RepoType::kDataset;
  if (t == "space" || t == "kernel") {
    return Status::NotImplemented("Spaces and kernels are not supported by modelhub; only models and datasets");
  }
  return Status::InvalidArgument("Invalid repo type '" + t + "'");
}

Result<bool> PrivateFromBody(const json& body, bool dflt) {
  if (body.contains("visibility") && !body["visibility"].is_null()) {
    if (!body["visibility"].is_string()) return Status::InvalidArgument("'visibility' must be a string");
    std::string v = body["visibility"].get<std::string>();
    if (v == "private") return true;
    if (v == "public") return false;
    return Status::InvalidArgument("'visibility' must be 'public' or 'private'");
  }
  if (body.contains("private") && !body["private"].is_null()) {
    if (!body["private"].is_boolean()) return Status::InvalidArgument("'private' must be a boolean");
    return body["private"].get<bool>();
  }
  return dflt;
}

}  // namespace

Status Hub::HandleWhoami(Request& req, Response& resp) {
  MH_ASSIGN_OR_RETURN(Viewer v, Auth(req));
  if (v.anonymous()) return Status::Unauthorized("Invalid credentials in Authorization header");
  json orgs = json::array();
  MH_ASSIGN_OR_RETURN(auto memberships, meta_->ListMembershipsOfUser(v.user->id));
  for (const auto& mem : memberships) {
    auto org = meta_->GetAccount(mem.org);
    orgs.push_back({{"type", "org"},
                    {"id", org.ok() ? std::to_string(org->id) : ""},
                    {"name", mem.org},
                    {"fullname", org.ok() ? org->fullname : mem.org},
                    {"roleInOrg", OrgRoleName(mem.role)},
                    {"isEnterprise", false}});
  }
  json j = {{"type", "user"},
            {"id", std::to_string(v.user->id)},
            {"name", v.user->name},
            {"fullname", v.user->fullname.empty() ? v.user->name : v.user->fullname},
            {"email", nullptr},
            {"emailVerified", false},
            {"isPro", false},
            {"canPay", false},
            {"avatarUrl", ""},
            {"periodEnd", nullptr},
            {"isAdmin", v.user->is_admin},
            {"orgs", orgs},
            {"auth",
             {{"type", "access_token"},
              {"accessToken",
               {{"displayName", v.token->display_name},
                {"role", TokenRoleName(v.token->role)},
                {"createdAt", IsoTimeMs(v.token->created_ms)}}}}}};
  WriteJson(resp, 200, j);
  return Status::Ok();
}

Status Hub::HandleCreateRepo(Request& req, Response& resp) {
  MH_ASSIGN_OR_RETURN(Viewer viewer, Auth(req));
  if (viewer.anonymous()) return Status::Unauthorized("You must be authenticated to create a repository");
  MH_ASSIGN_OR_RETURN(json body, ReadJsonBody(req, config_.max_json_body));
  MH_ASSIGN_OR_RETURN(RepoType type, RepoTypeFromBody(body));
  MH_ASSIGN_OR_RETURN(auto id, RepoIdFromBody(body, viewer, "name"));
  MH_ASSIGN_OR_RETURN(bool is_private, PrivateFromBody(body, false));
  auto existing = meta_->GetRepo(type, id.first, id.second);
  if (existing.ok()) {
    // Clients (exist_ok=True) read "url" from the 409 body; only say so to those who may see it.
    if (auth_.CheckRead(viewer, *existing).ok()) {
      WriteJson(resp, 409, json{{"error", "You already created this " + std::string(RepoTypeName(type)) + " repo"},
                                {"url", RepoUrl(*existing)}});
      resp.SetHeader("X-Error-Code", "RepoExists");
      resp.SetHeader("X-Error-Message", "You already created this repo");
      return Status::Ok();
    }
  }
  MH_RETURN_IF_ERROR(auth_.CheckCanCreateIn(viewer, id.first));
  auto ns_account = meta_->GetAccount(id.first);
  if (!ns_account.ok()) return Status::NotFound("Namespace '" + id.first + "' does not exist");
  auto rec = CreateRepo(type, id.first, id.second, is_private, viewer.user->name);
  if (!rec.ok()) {
    if (rec.status().code() == Code::kConflict) {
      auto again = meta_->GetRepo(type, id.first, id.second);
      WriteJson(resp, 409, json{{"error", "You already created this repo"},
                                {"url", again.ok() ? RepoUrl(*again) : ""}});
      resp.SetHeader("X-Error-Code", "RepoExists");
      return Status::Ok();
    }
    return rec.status();
  }
  LogInfo("repo created: {} {} by {}", RepoTypeName(type), rec->FullId(), viewer.user->name);
  WriteJson(resp, 200, json{{"url", RepoUrl(*rec)}, {"id", std::to_string(rec->id)}, {"name", rec->FullId()}});
  return Status::Ok();
}

Status Hub::HandleDeleteRepo(Request& req, Response& resp) {
  MH_ASSIGN_OR_RETURN(Viewer viewer, Auth(req));
  MH_ASSIGN_OR_RETURN(json body, ReadJsonBody(req, config_.max_json_body));
  MH_ASSIGN_OR_RETURN(RepoType type, RepoTypeFromBody(body));
  MH_ASSIGN_OR_RETURN(auto id, RepoIdFromBody(body, viewer, "name"));
  auto rec = meta_->GetRepo(type, id.first, id.second);
  if (!rec.ok()) return rec.status().IsNotFound() ? RepoNotFoundStatus() : rec.status();
  MH_RETURN_IF_ERROR(auth_.CheckAdmin(viewer, *rec));
  MH_RETURN_IF_ERROR(meta_->DeleteRepo(rec->id));
  ForgetGit(rec->id);
  Status rm = RemoveAll(RepoDir(rec->id));
  GitRepo::RefsChangedOutside(RepoDir(rec->id));
  if (!rm.ok()) LogWarn("repo {} deleted but its directory could not be removed: {}", rec->FullId(), rm.message());
  LogInfo("repo deleted: {} {} by {}", RepoTypeName(type), rec->FullId(), viewer.user->name);
  WriteJson(resp, 200, json::object());
  return Status::Ok();
}

Status Hub::HandleMoveRepo(Request& req, Response& resp) {
  MH_ASSIGN_OR_RETURN(Viewer viewer, Auth(req));
  MH_ASSIGN_OR_RETURN(json body, ReadJsonBody(req, config_.max_json_body));
  MH_ASSIGN_OR_RETURN(RepoType type, RepoTypeFromBody(body));
  MH_ASSIGN_OR_RETURN(auto from, RepoIdFromBody(body, viewer, "fromRepo"));
  MH_ASSIGN_OR_RETURN(auto to, RepoIdFromBody(body, viewer, "toRepo"));
  auto rec = meta_->GetRepo(type, from.first, from.second);
  if (!rec.ok()) return rec.status().IsNotFound() ? RepoNotFoundStatus() : rec.status();
  MH_RETURN_IF_ERROR(auth_.CheckAdmin(viewer, *rec));
  if (to.first != from.first) MH_RETURN_IF_ERROR(auth_.CheckCanCreateIn(viewer, to.first));
  if (!meta_->GetAccount(to.first).ok()) return Status::NotFound("Namespace '" + to.first + "' does not exist");
  Status s = meta_->MoveRepo(rec->id, to.first, to.second);
  if (s.code() == Code::kConflict) return Status::Conflict("A repository named " + to.first + "/" + to.second + " already exists");
  MH_RETURN_IF_ERROR(s);
  WriteJson(resp, 200, json::object());
  return Status::Ok();
}

Status Hub::HandleSettings(Request& req, Response& resp, RepoRef& repo) {
  MH_RETURN_IF_ERROR(auth_.CheckAdmin(repo.viewer, repo.rec));
  MH_ASSIGN_OR_RETURN(json body, ReadJsonBody(req, config_.max_json_body));
  if (!body.is_object()) return Status::InvalidArgument("Request body must be a JSON object");
  if (body.contains("gated") && !(body["gated"].is_boolean() && !body["gated"].get<bool>())) {
    return Status::NotImplemented("Gated repositories are not supported yet");
  }
  MH_ASSIGN_OR_RETURN(bool is_private, PrivateFromBody(body, repo.rec.is_private));
  if (is_private != repo.rec.is_private) MH_RETURN_IF_ERROR(meta_->SetRepoPrivate(repo.rec.id, is_private));
  WriteJson(resp, 200, json{{"private", is_private}});
  return Status::Ok();
}

namespace {

json RepoSummaryJson(const RepoRecord& rec) {
  json j = {{"_id", std::to_string(rec.id)},
            {"id", rec.FullId()},
            {"author", rec.ns},
            {"private", rec.is_private},
            {"gated", false},
            {"disabled", false},
            {"downloads", 0},
            {"likes", 0},
            {"tags", json::array()},
            {"createdAt", IsoTimeMs(rec.created_ms)},
            {"lastModified", IsoTimeMs(rec.last_modified_ms)}};
  if (rec.type == RepoType::kModel) j["modelId"] = rec.FullId();
  return j;
}

}  // namespace

Status Hub::HandleRepoInfo(Request& req, Response& resp, RepoRef& repo, const std::string& rev_in) {
  MH_ASSIGN_OR_RETURN(auto git, OpenGit(repo.rec));
  std::string rev = rev_in.empty() ? git->DefaultBranch() : rev_in;
  auto commit = git->ResolveRevision(rev);
  if (!commit.ok()) return RevisionNotFoundStatus(rev);
  bool blobs = QueryBool(req, "blobs", false);
  json j = RepoSummaryJson(repo.rec);
  j["sha"] = *commit;
  MH_ASSIGN_OR_RETURN(auto entries, git->ListTree(*commit, "", true));
  json siblings = json::array();
  int64_t used = 0;
  std::vector<LfsPointer> pointers;
  for (const auto& e : entries) {
    if (e.type != TreeEntry::Type::kFile) continue;
    json s = {{"rfilename", e.path}};
    std::optional<LfsPointer> ptr;
    if (e.size <= kMaxLfsPointerBytes) {
      auto content = git->ReadBlob(e.oid);
      if (content.ok()) ptr = ParseLfsPointer(*content);
    }
    // Storage is counted for objects this repository owns only: a junk pointer must not tell
    // whether another repository's object exists.
    if (ptr) {
      MH_ASSIGN_OR_RETURN(OwnershipCheck own, CheckObjectOwnership(*meta_, repo.rec.id, ptr->oid, ptr->size));
      if (own.verdict == Ownership::kOwned) pointers.push_back(*ptr);
    }
    int64_t size = ptr ? ptr->size : e.size;
    used += size;
    if (blobs) {
      s["size"] = size;
      s["blobId"] = e.oid;
      if (ptr) s["lfs"] = {{"sha256", ptr->oid}, {"size", ptr->size}, {"pointerSize", e.size}};
    }
    siblings.push_back(std::move(s));
  }
  j["siblings"] = std::move(siblings);
  j["usedStorage"] = used;
  // This revision's LFS files: their sizes, and what their chunks take in the chunk store
  // (shared chunks counted once; footers are cached, so this reads no content). docs/gc-fsck.md.
  auto storage = ComputeRevisionStorage(content_, pointers);
  if (storage.ok()) {
    j["storage"] = {{"logicalBytes", storage->logical_bytes}, {"storedBytes", storage->stored_bytes}};
  } else {
    LogWarn("repo info {}: storage of {}: {}", repo.rec.FullId(), *commit, storage.status().message());
  }
  auto last = git->GetCommit(*commit);
  if (last.ok()) j["lastModified"] = IsoTimeMs(last->time_s * 1000);
  auto expand = req.QueryAll("expand");
  if (!expand.empty()) {
    json filtered = {{"_id", j["_id"]}, {"id", j["id"]}};
    for (const auto& k : expand)
      if (j.contains(k)) filtered[k] = j[k];
    j = std::move(filtered);
  }
  WriteJson(resp, 200, j);
  return Status::Ok();
}

Status Hub::HandleListRepos(Request& req, Response& resp, RepoType type) {
  MH_ASSIGN_OR_RETURN(Viewer viewer, Auth(req));
  RepoQuery q;
  q.type = type;
  if (auto s = req.Query("search")) q.search = *s;
  if (auto a = req.Query("author")) q.author = *a;
  std::string sort = req.Query("sort").value_or("");
  bool desc = true;
  if (sort == "lastModified" || sort == "last_modified") {
    q.sort = RepoSort::kLastModified;
  } else if (sort == "createdAt" || sort == "created_at") {
    q.sort = RepoSort::kCreatedAt;
  } else {
    q.sort = RepoSort::kId;
    desc = false;
  }
  if (auto d = req.Query("direction")) {
    if (*d == "-1") desc = true;
    else if (*d == "1") desc = false;
    else return Status::InvalidArgument("'direction' must be 1 or -1");
  }
  q.descending = desc;
  int64_t limit = 100;
  if (auto l = req.Query("limit")) {
    auto n = ParseInt64(*l);
    if (!n || *n <= 0) return Status::InvalidArgument("'limit' must be a positive integer");
    limit = std::min<int64_t>(*n, 1000);
  }
  int64_t offset = 0;
  if (auto c = req.Query("cursor")) {
    auto n = ParseInt64(*c);
    if (!n || *n < 0) return Status::InvalidArgument("Invalid cursor");
    offset = *n;
  }
  if (viewer.user) q.viewer_user_id = viewer.user->id;
  q.viewer_is_admin = viewer.is_admin();
  q.offset = offset;
  q.limit = limit + 1;  // one more tells whether a next page exists
  MH_ASSIGN_OR_RETURN(auto rows, meta_->ListRepos(q));
  bool more = int64_t(rows.size()) > limit;
  if (more) rows.pop_back();
  bool full = QueryBool(req, "full", false);
  json arr = json::array();
  for (const auto& rec : rows) {
    json j = RepoSummaryJson(rec);
    if (full) {
      auto git = OpenGit(rec);
      if (git.ok()) {
        auto commit = (*git)->ResolveRevision((*git)->DefaultBranch());
        if (commit.ok()) {
          j["sha"] = *commit;
          json sib = json::array();
          auto entries = (*git)->ListTree(*commit, "", true);
          if (entries.ok())
            for (const auto& e : *entries)
              if (e.type == TreeEntry::Type::kFile) sib.push_back({{"rfilename", e.path}});
          j["siblings"] = sib;
        }
      }
    }
    arr.push_back(std::move(j));
  }
  if (more) {
    // more: a row exists past offset + limit, so that sum is below the row count (no overflow).
    resp.SetHeader("Link", fmt::format("<{}>; rel=\"next\"", NextPageUrl(req, "cursor", offset + limit)));
  }
  WriteJson(resp, 200, arr);
  return Status::Ok();
}

Status Hub::HandleValidateYaml(Request& req, Response& resp) {
  // Model-card metadata is free-form for now: accept any content, but the body itself must be JSON.
  auto body = ReadJsonBody(req, config_.max_json_body);
  if (!body.ok()) {
    WriteJson(resp, 400, json{{"errors", json::array({json{{"message", body.status().message()}}})},
                              {"warnings", json::array()}, {"error", body.status().message()}});
    return Status::Ok();
  }
  WriteJson(resp, 200, json{{"errors", json::array()}, {"warnings", json::array()}});
  return Status::Ok();
}

}  // namespace modelhub
