#include "api/hub.h"

#include <fmt/format.h>

#include "api/hub_internal.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/time_util.h"
#include "crypto/sha256.h"
#include "repo/path_rules.h"

namespace modelhub {

// ---- errors and small helpers ------------------------------------------------

int HttpStatusFor(const Status& s) {
  switch (s.code()) {
    case Code::kOk: return 200;
    case Code::kNotFound: return 404;
    case Code::kInvalidArgument: return 400;
    case Code::kConflict: return 409;
    case Code::kPreconditionFailed: return 412;
    case Code::kUnauthorized: return 401;
    case Code::kForbidden: return 403;
    case Code::kTooLarge: return 413;
    case Code::kRangeNotSatisfiable: return 416;
    case Code::kNotImplemented: return 501;
    case Code::kUnavailable: return 503;
    case Code::kNoSpace: return 507;
    case Code::kCorruption:
    case Code::kIOError:
    case Code::kInternal: return 500;
  }
  return 500;
}

namespace {
std::string HeaderSafe(const std::string& s) {
  std::string out;
  out.reserve(std::min<size_t>(s.size(), 500));
  for (char c : s) {
    if (out.size() >= 500) break;
    unsigned char u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u >= 0x7f) ? ' ' : c;
  }
  return out;
}
}  // namespace

void WriteError(Response& resp, const Status& s) {
  int status = HttpStatusFor(s);
  std::string code = s.hub_code();
  if (code.empty()) {
    switch (s.code()) {
      case Code::kInvalidArgument: code = "BadRequest"; break;
      case Code::kTooLarge: code = "PayloadTooLarge"; break;
      case Code::kNoSpace: code = "InsufficientStorage"; break;
      default: code = CodeName(s.code());
    }
  }
  std::string message = s.message();
  if (s.code() == Code::kNoSpace) {
    // The details (which file, which store) are for the operator; the client learns the cause.
    LogError("out of disk space: {}", s.message());
    code = "InsufficientStorage";
    message = "Insufficient storage: the server's disk is full; nothing was stored. Try again after the "
              "operator has freed space.";
  } else if (status >= 500 && s.code() != Code::kNotImplemented && s.code() != Code::kUnavailable) {
    LogError("internal error: {}", s.ToString());
  }
  // Server-side failures may quote files of the data folder: no server path leaves the server.
  if (status >= 500) message = RedactPaths(message);
  // Keep any headers a handler already set (e.g. X-Repo-Commit on EntryNotFound).
  resp.stream.reset();
  // "error" for the HF clients, "message" for git-lfs.
  resp.SetJson(status, json{{"error", message}, {"message", message}}.dump(-1, ' ', false, json::error_handler_t::replace));
  resp.SetHeader("X-Error-Code", code);
  resp.SetHeader("X-Error-Message", HeaderSafe(message));
  if (s.code() == Code::kUnauthorized) resp.SetHeader("WWW-Authenticate", "Bearer realm=\"modelhub\"");
  if (s.code() == Code::kUnavailable) resp.SetHeader("Retry-After", "1");
}

void WriteJson(Response& resp, int status, const json& j) { resp.SetJson(status, j.dump(-1, ' ', false, json::error_handler_t::replace)); }

Result<json> ReadJsonBody(Request& req, int64_t max_bytes) {
  MH_ASSIGN_OR_RETURN(std::string body, req.ReadBody(max_bytes));
  if (Trim(body).empty()) return json::object();
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument("Malformed JSON in request body");
  return j;
}

bool QueryBool(const Request& req, const std::string& name, bool dflt) {
  auto v = req.Query(name);
  if (!v) return dflt;
  if (v->empty()) return true;
  auto b = ParseBool(*v);
  return b ? *b : dflt;
}

Result<int64_t> PageParam(const Request& req, const char* name, int64_t dflt, int64_t max) {
  auto v = req.Query(name);
  if (!v) return dflt;
  auto n = ParseInt64(*v);
  if (!n || *n < 0) return Status::InvalidArgument(fmt::format("'{}' must be a non-negative integer", name));
  return std::min(*n, max);
}

PageSpan PageOf(int64_t total, int64_t cursor, int64_t limit) {
  total = std::max<int64_t>(total, 0);
  PageSpan p;
  p.begin = std::clamp<int64_t>(cursor, 0, total);
  // begin <= total, so total - begin cannot overflow, and neither can begin + min(limit, total - begin).
  p.end = p.begin + std::min(std::max<int64_t>(limit, 0), total - p.begin);
  if (p.end < total && p.end > p.begin) p.next = p.end;
  return p;
}

Result<std::string> DecodeSegment(const std::string& raw) {
  auto d = UrlDecode(raw);
  if (!d) return Status::InvalidArgument("Malformed percent-encoding in URL");
  if (d->find('\0') != std::string::npos) return Status::InvalidArgument("NUL byte in URL");
  return *d;
}

std::string JoinDecoded(const std::vector<std::string>& segs, size_t from) {
  std::string out;
  for (size_t i = from; i < segs.size(); ++i) {
    if (i > from) out += '/';
    auto d = UrlDecode(segs[i]);
    out += d ? *d : segs[i];
  }
  return out;
}

RepoType RepoTypeFromPlural(const std::string& s, bool* ok) {
  *ok = true;
  if (s == "models") return RepoType::kModel;
  if (s == "datasets") return RepoType::kDataset;
  *ok = false;
  return RepoType::kModel;
}

std::string RepoTypePlural(RepoType t) { return t == RepoType::kDataset ? "datasets" : "models"; }
std::string RepoPathPrefix(RepoType t) { return t == RepoType::kDataset ? "datasets/" : ""; }

Status RepoNotFoundStatus() {
  return Status::NotFound(
      "Repository not found. Check the repo id and type, and that you are authenticated with a token that may read it.",
      "RepoNotFound");
}
Status RevisionNotFoundStatus(const std::string& rev) {
  return Status::NotFound("Invalid rev id: " + rev, "RevisionNotFound");
}
Status EntryNotFoundStatus(const std::string& path) {
  return Status::NotFound("Entry not found: " + path, "EntryNotFound");
}

// ---- Hub ------------------------------------------------------------------------

Hub::Hub(HubConfig config, MetadataStore* meta, ChunkStore* content, Metrics* metrics)
    : config_(std::move(config)),
      meta_(meta),
      content_(content),
      metrics_(metrics),
      auth_(meta),
      commit_memory_(std::max(config_.commit_memory_budget, MinCommitMemoryBudget(config_))) {
  if (commit_memory_.capacity() > config_.commit_memory_budget) {
    LogWarn("commit memory budget raised to {} bytes: one commit line of the inline file limit needs that much",
            commit_memory_.capacity());
  }
  // A file preupload calls "regular" must fit in a commit's inline "file" entry.
  config_.regular_file_max = std::min(config_.regular_file_max, config_.max_inline_file + 1);
  while (!config_.public_url.empty() && config_.public_url.back() == '/') config_.public_url.pop_back();
  if (config_.xet_enabled && content_ != nullptr) {
    XetShardLimits limits;
    limits.max_file_bytes = config_.max_lfs_object;  // one size limit for files, whichever way they arrive
    limits.verify_floor_bytes = config_.xet_verify_floor_bytes;
    limits.verify_ratio = config_.xet_verify_ratio;
    xet_ = std::make_unique<XetCas>(content_, limits);
  }
}

void Hub::Handle(Request& req, Response& resp) {
  Status s = Route(req, resp);
  if (!s.ok()) WriteError(resp, s);
  resp.SetHeader("Access-Control-Allow-Origin", "*");
  resp.SetHeader("Access-Control-Expose-Headers",
                 "X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,X-Total-Count,ETag,Link,Accept-Ranges,"
                 "Content-Range,X-Linked-Size,X-Linked-ETag,X-Xet-Hash");
}

Result<Viewer> Hub::Auth(const Request& req) { return auth_.Authenticate(req.Header("authorization")); }

Result<RepoRef> Hub::LoadRepo(const Request& req, RepoType type, const std::string& ns, const std::string& name) {
  MH_ASSIGN_OR_RETURN(Viewer viewer, Auth(req));
  if (!ValidateRepoNamePart(ns, "namespace").ok() || !ValidateRepoNamePart(name, "name").ok()) {
    return RepoNotFoundStatus();
  }
  auto rec = meta_->GetRepo(type, ns, name);
  if (!rec.ok()) {
    if (rec.status().IsNotFound()) return RepoNotFoundStatus();
    return rec.status();
  }
  MH_RETURN_IF_ERROR(auth_.CheckRead(viewer, *rec));
  return RepoRef{std::move(rec).value(), std::move(viewer)};
}

std::string Hub::RepoDir(int64_t id) const { return fmt::format("{}/{}.git", config_.repos_dir, id); }

GitHandle::~GitHandle() {
  if (repo_ && hub_ != nullptr) hub_->ReturnGit(id_, std::move(repo_));
}

Result<GitHandle> Hub::OpenGit(const RepoRecord& rec) {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    auto it = pool_.find(rec.id);
    if (it != pool_.end() && !it->second.empty()) {
      std::unique_ptr<GitRepo> repo = std::move(it->second.back());
      it->second.pop_back();
      --pooled_;
      return GitHandle(this, rec.id, std::move(repo));
    }
  }
  auto g = GitRepo::Open(RepoDir(rec.id));
  if (!g.ok()) {
    if (g.status().IsNotFound()) return Status::Internal("repository storage missing for " + rec.FullId());
    return g.status();
  }
  return GitHandle(this, rec.id, std::move(g).value());
}

void Hub::ReturnGit(int64_t id, std::unique_ptr<GitRepo> repo) {
  constexpr size_t kMaxPerRepo = 16;
  constexpr size_t kMaxTotal = 512;
  std::lock_guard<std::mutex> lock(pool_mu_);
  if (pooled_ >= kMaxTotal) {
    // Full: drop the idle handles of some other repository to make room.
    for (auto it = pool_.begin(); it != pool_.end(); ++it) {
      if (it->first != id && !it->second.empty()) {
        pooled_ -= it->second.size();
        pool_.erase(it);
        break;
      }
    }
    if (pooled_ >= kMaxTotal) return;
  }
  auto& idle = pool_[id];
  if (idle.size() >= kMaxPerRepo) return;
  idle.push_back(std::move(repo));
  ++pooled_;
}

void Hub::ForgetGit(int64_t id) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  auto it = pool_.find(id);
  if (it == pool_.end()) return;
  pooled_ -= it->second.size();
  pool_.erase(it);
}

std::string Hub::RepoUrl(const RepoRecord& rec) const {
  return config_.public_url + "/" + RepoPathPrefix(rec.type) + rec.FullId();
}

Result<RepoRecord> Hub::CreateRepo(RepoType type, const std::string& ns, const std::string& name, bool is_private,
                                   const std::string& author) {
  MH_RETURN_IF_ERROR(ValidateRepoNamePart(ns, "namespace"));
  MH_RETURN_IF_ERROR(ValidateRepoNamePart(name, "name"));
  MH_ASSIGN_OR_RETURN(RepoRecord rec, meta_->CreateRepo(type, ns, name, is_private));
  std::string dir = RepoDir(rec.id);
  (void)RemoveAll(dir);  // leftovers of a crash between DB insert and git init
  GitSignature sig{author, author + "@users.noreply.modelhub", 0};
  auto git = GitRepo::Create(dir, "main", {{".gitattributes", DefaultGitAttributes(type == RepoType::kDataset)}},
                             sig, "initial commit");
  if (!git.ok()) {
    (void)meta_->DeleteRepo(rec.id);
    (void)RemoveAll(dir);
    return git.status();
  }
  return rec;
}

Result<LfsObject> Hub::StoredObject(const std::string& oid) {
  MH_ASSIGN_OR_RETURN(int64_t size, content_->Size(oid));
  return LfsObject{oid, size, 0};
}

// ---- signed URLs -----------------------------------------------------------------

AccessGrant Hub::GrantOf(const RepoRef& repo, bool write, int64_t ttl_s) const {
  return Authenticator::GrantFor(repo.viewer, repo.rec, write, NowS() + ttl_s);
}

std::string Hub::SignedUrl(const std::string& method, const std::string& path, const AccessGrant& g,
                           const std::string& extra_query) const {
  // The signature covers the path relative to the public URL (and extra_query).
  std::string resource = extra_query.empty() ? path : path + "?" + extra_query;
  return fmt::format("{}{}{}{}", config_.public_url, resource, extra_query.empty() ? "?" : "&",
                     SignedUrlQuery(config_.signing_key, method, resource, g));
}

Result<RepoRecord> Hub::VerifySigned(const Request& req, const std::string& method, bool write,
                                     const std::string& extra_query) {
  std::string resource = extra_query.empty() ? req.path : req.path + "?" + extra_query;
  MH_ASSIGN_OR_RETURN(AccessGrant g,
                      VerifySignedUrl(config_.signing_key, method, resource,
                                      [&req](std::string_view name) { return req.Query(name); }, write, NowS()));
  auto rec = auth_.CheckGrant(g);
  if (!rec.ok() && rec.status().code() == Code::kUnauthorized) {
    // No credentials to retry with: a signed URL whose token was revoked is simply refused.
    return Status::Forbidden("This signed URL was issued to an access token that has been revoked");
  }
  return rec;
}

std::string Hub::PublicPrefix() const {
  auto scheme_end = config_.public_url.find("://");
  if (scheme_end == std::string::npos) return "";
  auto slash = config_.public_url.find('/', scheme_end + 3);
  return slash == std::string::npos ? "" : config_.public_url.substr(slash);
}

std::string Hub::NextPageUrl(const Request& req, const std::string& cursor_param, int64_t cursor) const {
  std::string qs;
  for (const auto& [k, v] : req.QueryParams()) {
    if (k == cursor_param) continue;
    qs += UrlEncode(k) + "=" + UrlEncode(v) + "&";
  }
  qs += cursor_param + "=" + std::to_string(cursor);
  return config_.public_url + req.path + "?" + qs;
}

// ---- routing ---------------------------------------------------------------------

Status Hub::Route(Request& req, Response& resp) {
  // A proxy may forward the public URL's path prefix unchanged: route without it.
  std::string prefix = PublicPrefix();
  if (!prefix.empty() && req.path.rfind(prefix + "/", 0) == 0) req.path = req.path.substr(prefix.size());
  std::vector<std::string> segs = Split(req.path, '/');
  if (!segs.empty() && segs[0].empty()) segs.erase(segs.begin());
  if (segs.empty() || (segs.size() == 1 && segs[0].empty())) {
    resp.route = "index";
    resp.SetHeader("Content-Type", "text/plain; charset=utf-8");
    resp.body = "modelhub: a self-hosted hub for models and datasets. Point HF_ENDPOINT here.\n";
    return Status::Ok();
  }
  const std::string& s0 = segs[0];
  const std::string& m = req.method;
  if (s0 == "health" && segs.size() == 1) {
    resp.route = "health";
    WriteJson(resp, 200, json{{"status", "ok"}});
    return Status::Ok();
  }
  if (s0 == "metrics" && segs.size() == 1) {
    resp.route = "metrics";
    // Traffic, repository activity and storage counters are the operator's: an administrator's
    // token unless the operator made them public (a scraper on a private network).
    if (!config_.metrics_public) {
      MH_ASSIGN_OR_RETURN(Viewer viewer, Auth(req));
      if (viewer.anonymous()) {
        return Status::Unauthorized("/metrics needs a hub administrator's token (or serve --metrics-public)");
      }
      if (!viewer.is_admin()) return Status::Forbidden("/metrics is only for hub administrators");
    }
    resp.SetHeader("Content-Type", "text/plain; version=0.0.4");
    resp.body = metrics_->RenderPrometheus();
    if (content_ != nullptr) {
      // Chunk store counters since process start (read amplification = bytes_read / bytes_served).
      const ChunkStoreCounters& c = content_->counters();
      const std::pair<const char*, const std::atomic<int64_t>*> cs[] = {
          {"ingested_bytes", &c.ingested_bytes},         {"new_chunk_bytes", &c.new_chunk_bytes},
          {"xorb_bytes_written", &c.xorb_bytes_written}, {"bytes_read", &c.bytes_read},
          {"bytes_served", &c.bytes_served}};
      for (const auto& [name, v] : cs) {
        resp.body += fmt::format("# TYPE modelhub_chunkstore_{}_total counter\nmodelhub_chunkstore_{}_total {}\n", name,
                                 name, v->load(std::memory_order_relaxed));
      }
    }
    if (xet_) {
      // Xet CAS traffic since process start: what clients sent and fetched.
      const XetCasCounters& x = xet_->counters();
      const std::pair<const char*, const std::atomic<int64_t>*> xc[] = {
          {"xorbs_received", &x.xorbs_received},     {"xorbs_inserted", &x.xorbs_inserted},
          {"xorb_bytes_received", &x.xorb_bytes_received}, {"shards_received", &x.shards_received},
          {"shard_bytes_received", &x.shard_bytes_received}, {"files_registered", &x.files_registered},
          {"files_hashed", &x.files_hashed},         {"shard_verify_bytes", &x.shard_verify_bytes},
          {"shards_over_budget", &x.shards_over_budget}, {"shards_cancelled", &x.shards_cancelled},
          {"dedup_queries", &x.dedup_queries},
          {"dedup_hits", &x.dedup_hits},             {"reconstructions", &x.reconstructions},
          {"xorb_bytes_served", &x.xorb_bytes_served}};
      for (const auto& [name, v] : xc) {
        resp.body += fmt::format("# TYPE modelhub_xet_{}_total counter\nmodelhub_xet_{}_total {}\n", name, name,
                                 v->load(std::memory_order_relaxed));
      }
    }
    return Status::Ok();
  }
  if (s0 == "v1" && segs.size() == 2 && segs[1] == "telemetry" && m == "POST") {
    resp.route = "xet_telemetry";  // hf_xet reports to the hub endpoint too; nothing is kept
    WriteJson(resp, 200, json::object());
    return Status::Ok();
  }
  if (s0 == "api") {
    if (segs.size() < 2) return Status::NotFound("Not found");
    const std::string& s1 = segs[1];
    if (s1 == "whoami-v2" && segs.size() == 2) {
      resp.route = "whoami";
      return HandleWhoami(req, resp);
    }
    if (s1 == "repos" && segs.size() == 3) {
      resp.route = "repos";
      if (segs[2] == "create" && m == "POST") return HandleCreateRepo(req, resp);
      if (segs[2] == "delete" && m == "DELETE") return HandleDeleteRepo(req, resp);
      if (segs[2] == "move" && m == "POST") return HandleMoveRepo(req, resp);
      return Status::NotFound("Not found");
    }
    if (s1 == "validate-yaml" && segs.size() == 2 && m == "POST") {
      resp.route = "validate_yaml";
      return HandleValidateYaml(req, resp);
    }
    if (s1 == "agent-harnesses") {
      WriteJson(resp, 200, json{{"standardEnvVars", json::array()}, {"harnesses", json::object()}});
      return Status::Ok();
    }
    if (s1 == "telemetry") {
      WriteJson(resp, 200, json::object());
      return Status::Ok();
    }
    if (s1 == "cas") return RouteCas(req, resp, segs);
    if (s1 == "lfs-upload" && m == "PUT") return HandleSignedUpload(req, resp, segs);
    if (s1 == "lfs-part" && m == "PUT") return HandleSignedPart(req, resp, segs);
    if (s1 == "lfs-complete" && m == "POST") return HandleSignedComplete(req, resp, segs);
    if (s1 == "lfs-object" && (m == "GET" || m == "HEAD")) return HandleSignedDownload(req, resp, segs);
    if (s1 == "spaces" || s1 == "kernels") {
      return Status::NotImplemented("Spaces and kernels are not supported by modelhub; only models and datasets");
    }
    bool ok = false;
    RepoType type = RepoTypeFromPlural(s1, &ok);
    if (!ok) return Status::NotFound("Not found");
    if (segs.size() == 2) {
      if (m != "GET") return Status::NotFound("Not found");
      resp.route = "list_repos";
      return HandleListRepos(req, resp, type);
    }
    return RouteApiRepo(req, resp, type, segs);
  }
  if (s0 == "spaces" || s0 == "kernels") {
    return Status::NotImplemented("Spaces and kernels are not supported by modelhub; only models and datasets");
  }
  if (s0 == "datasets") {
    return RouteFileRoutes(req, resp, RepoType::kDataset, std::vector<std::string>(segs.begin() + 1, segs.end()));
  }
  return RouteFileRoutes(req, resp, RepoType::kModel, segs);
}

Status Hub::RouteApiRepo(Request& req, Response& resp, RepoType type, const std::vector<std::string>& segs) {
  // segs: api, {type}s, ns, name, sub...
  if (segs.size() < 4) return RepoNotFoundStatus();
  MH_ASSIGN_OR_RETURN(std::string ns, DecodeSegment(segs[2]));
  MH_ASSIGN_OR_RETURN(std::string name, DecodeSegment(segs[3]));
  const std::string& m = req.method;
  std::string sub = segs.size() > 4 ? segs[4] : "";
  MH_ASSIGN_OR_RETURN(RepoRef repo, LoadRepo(req, type, ns, name));
  if (sub.empty() && segs.size() == 4) {
    resp.route = "repo_info";
    if (m != "GET" && m != "HEAD") return Status::NotFound("Not found");
    return HandleRepoInfo(req, resp, repo, "");
  }
  std::string rest_joined = JoinDecoded(segs, 5);
  if (sub == "revision" && (m == "GET" || m == "HEAD")) {
    resp.route = "repo_info";
    if (segs.size() < 6) return RevisionNotFoundStatus("");
    return HandleRepoInfo(req, resp, repo, rest_joined);
  }
  if (sub == "tree" && m == "GET") {
    resp.route = "tree";
    return HandleTree(req, resp, repo, std::vector<std::string>(segs.begin() + 5, segs.end()));
  }
  if (sub == "paths-info" && m == "POST") {
    resp.route = "paths_info";
    return HandlePathsInfo(req, resp, repo, rest_joined);
  }
  if (sub == "preupload" && m == "POST") {
    resp.route = "preupload";
    return HandlePreupload(req, resp, repo, rest_joined);
  }
  if (sub == "commit" && m == "POST") {
    resp.route = "commit";
    return HandleCommit(req, resp, repo, rest_joined);
  }
  if (sub == "commits" && m == "GET") {
    resp.route = "commits";
    return HandleCommits(req, resp, repo, std::vector<std::string>(segs.begin() + 5, segs.end()));
  }
  if (sub == "refs" && m == "GET") {
    resp.route = "refs";
    return HandleRefs(req, resp, repo);
  }
  if (sub == "branch" && (m == "POST" || m == "DELETE")) {
    resp.route = "branch";
    return HandleBranch(req, resp, repo, rest_joined);
  }
  if (sub == "tag" && (m == "POST" || m == "DELETE")) {
    resp.route = "tag";
    return HandleTag(req, resp, repo, rest_joined);
  }
  if (sub == "settings" && m == "PUT") {
    resp.route = "settings";
    return HandleSettings(req, resp, repo);
  }
  if ((sub == "xet-read-token" || sub == "xet-write-token") && m == "GET") {
    resp.route = "xet_token";
    return HandleXetToken(req, resp, repo, sub == "xet-write-token");
  }
  if (sub == "discussions") {
    return Status::NotImplemented("Discussions and pull requests are not supported yet");
  }
  return Status::NotFound("Not found");
}

Status Hub::RouteFileRoutes(Request& req, Response& resp, RepoType type, const std::vector<std::string>& segs) {
  if (segs.size() < 2) return Status::NotFound("Not found");
  MH_ASSIGN_OR_RETURN(std::string ns, DecodeSegment(segs[0]));
  MH_ASSIGN_OR_RETURN(std::string name, DecodeSegment(segs[1]));
  bool dot_git = name.size() > 4 && name.substr(name.size() - 4) == ".git";
  if (dot_git) name = name.substr(0, name.size() - 4);
  std::string sub = segs.size() > 2 ? segs[2] : "";
  const std::string& m = req.method;
  if ((sub == "resolve" || sub == "raw") && !dot_git && (m == "GET" || m == "HEAD")) {
    resp.route = sub;
    MH_ASSIGN_OR_RETURN(RepoRef repo, LoadRepo(req, type, ns, name));
    return HandleResolve(req, resp, repo, std::vector<std::string>(segs.begin() + 3, segs.end()), sub == "raw");
  }
  if (sub == "info" && segs.size() >= 5 && segs[3] == "lfs") {
    resp.route = "lfs";
    // git-lfs authenticates with Basic; answer its prompts in its own dialect.
    auto repo = LoadRepo(req, type, ns, name);
    if (!repo.ok()) {
      // Without credentials, a private repo and a missing one both answer 401 so
      // that git-lfs asks its credential helper (and learns nothing either way).
      bool anonymous = !req.Header("authorization").has_value();
      if (repo.status().code() == Code::kUnauthorized || (anonymous && repo.status().IsNotFound())) {
        resp.SetHeader("LFS-Authenticate", "Basic realm=\"modelhub\"");
        return Status::Unauthorized("Authentication required for " + ns + "/" + name);
      }
      return repo.status();
    }
    if (segs.size() == 6 && segs[4] == "objects" && segs[5] == "batch" && m == "POST") {
      resp.route = "lfs_batch";
      return HandleLfsBatch(req, resp, *repo);
    }
    if (segs.size() == 6 && segs[4] == "objects" && segs[5] == "verify" && m == "POST") {
      resp.route = "lfs_verify";
      return HandleLfsVerify(req, resp, *repo);
    }
    if (segs[4] == "locks") return HandleLfsLocks(req, resp, *repo);
    return Status::NotFound("Not found");
  }
  if ((sub == "info" && segs.size() == 4 && segs[3] == "refs") || sub == "git-upload-pack" ||
      sub == "git-receive-pack") {
    resp.route = "git";
    return HandleGit(req, resp, type, ns, name, std::vector<std::string>(segs.begin() + 2, segs.end()));
  }
  if (sub.empty() && (m == "GET" || m == "HEAD")) {
    MH_ASSIGN_OR_RETURN(RepoRef repo, LoadRepo(req, type, ns, name));
    resp.route = "repo_page";
    resp.SetHeader("Content-Type", "text/plain; charset=utf-8");
    resp.body = repo.rec.FullId() + "\n";
    return Status::Ok();
  }
  return Status::NotFound("Not found");
}

}  // namespace modelhub
