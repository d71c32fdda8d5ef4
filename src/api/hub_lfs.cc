// The git-lfs batch API ({repo}.git/info/lfs/objects/batch) and the signed
// URLs it hands out: basic PUT uploads, multipart part PUTs + completion, and
// downloads. Signed URLs carry their own authorization (an access grant under an
// HMAC: auth/access_grant.h), because huggingface_hub sends no token with these
// requests; each use re-checks the grant (revoked token, deleted or now private repo).
#include <algorithm>

#include <fmt/format.h>

#include "api/hub_internal.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/time_util.h"

namespace modelhub {

namespace {

constexpr char kLfsJson[] = "application/vnd.git-lfs+json";

json ObjectError(const std::string& oid, int64_t size, int code, const std::string& message) {
  return json{{"oid", oid}, {"size", size}, {"error", {{"code", code}, {"message", message}}}};
}

class UploadGauge {
 public:
  explicit UploadGauge(Metrics* m) : m_(m) { m_->uploads_in_flight++; }
  ~UploadGauge() { m_->uploads_in_flight--; }
  UploadGauge(const UploadGauge&) = delete;
  UploadGauge& operator=(const UploadGauge&) = delete;

 private:
  Metrics* m_;
};

}  // namespace

Status Hub::HandleLfsBatch(Request& req, Response& resp, RepoRef& repo) {
  MH_ASSIGN_OR_RETURN(json body, ReadJsonBody(req, config_.max_json_body));
  if (!body.is_object() || !body.contains("operation") || !body["operation"].is_string() ||
      !body.contains("objects") || !body["objects"].is_array()) {
    return Status::InvalidArgument("LFS batch body needs \"operation\" and \"objects\"");
  }
  std::string op = body["operation"].get<std::string>();
  if (op != "upload" && op != "download") return Status::InvalidArgument("Unknown LFS operation '" + op + "'");
  if (op == "upload") {
    Status w = auth_.CheckWrite(repo.viewer, repo.rec);
    if (!w.ok()) {
      if (w.code() == Code::kUnauthorized) resp.SetHeader("LFS-Authenticate", "Basic realm=\"modelhub\"");
      return w;
    }
  }
  if (body["objects"].size() > 10000) return Status::TooLarge("At most 10000 objects per batch");
  bool multipart_ok = false;
  if (body.contains("transfers") && body["transfers"].is_array()) {
    for (const auto& t : body["transfers"])
      if (t.is_string() && t.get<std::string>() == "multipart") multipart_ok = true;
  }
  // huggingface_hub 0.36-1.19 and @huggingface/hub offer "xet": they then upload through the CAS
  // (actions carry the token refresh URL and a first token) and commit the sha256 as usual.
  bool xet_ok = false;
  if (op == "upload" && xet_ && body.contains("transfers") && body["transfers"].is_array()) {
    for (const auto& t : body["transfers"])
      if (t.is_string() && t.get<std::string>() == "xet") xet_ok = true;
  }
  std::string ref = "main";
  if (body.contains("ref") && body["ref"].is_object() && body["ref"].contains("name") && body["ref"]["name"].is_string()) {
    ref = body["ref"]["name"].get<std::string>();
    if (ref.rfind("refs/heads/", 0) == 0) ref = ref.substr(11);
  }
  bool used_multipart = false;
  int64_t part_budget = 20000;  // part URLs in one answer
  json objects = json::array();
  const AccessGrant read_grant = GrantOf(repo, false, config_.signed_url_ttl_s);
  const AccessGrant write_grant = GrantOf(repo, true, config_.signed_url_ttl_s);  // upload: CheckWrite passed
  std::string verify_href = RepoUrl(repo.rec) + ".git/info/lfs/objects/verify";
  for (const auto& o : body["objects"]) {
    std::string oid = o.is_object() && o.contains("oid") && o["oid"].is_string() ? o["oid"].get<std::string>() : "";
    int64_t size = o.is_object() && o.contains("size") && o["size"].is_number_integer() ? o["size"].get<int64_t>() : -1;
    if (!IsSha256Hex(oid)) {
      objects.push_back(ObjectError(oid, size, 422, "Invalid oid: expected 64 lowercase hex characters"));
      continue;
    }
    if (size < 0) {
      objects.push_back(ObjectError(oid, size, 422, "Invalid size"));
      continue;
    }
    auto existing = StoredObject(oid);
    MH_ASSIGN_OR_RETURN(bool linked, meta_->IsLfsObjectLinked(repo.rec.id, oid));
    if (op == "download") {
      if (!existing.ok() || !linked) {
        objects.push_back(ObjectError(oid, size, 404, "Object does not exist"));
        continue;
      }
      objects.push_back({{"oid", oid},
                         {"size", existing->size},
                         {"authenticated", true},
                         {"actions",
                          {{"download",
                            {{"href", SignedUrl("GET", fmt::format("/api/lfs-object/{}/{}", repo.rec.id, oid), read_grant)},
                             {"header", json::object()},
                             {"expires_in", config_.signed_url_ttl_s}}}}}});
      continue;
    }
    if (size > config_.max_lfs_object) {
      objects.push_back(ObjectError(oid, size, 422, fmt::format("Object larger than the limit of {} bytes",
                                                                  config_.max_lfs_object)));
      continue;
    }
    if (existing.ok() && linked && existing->size == size) {
      objects.push_back({{"oid", oid}, {"size", size}});  // already here: nothing to send
      continue;
    }
    if (xet_ok) {
      objects.push_back({{"oid", oid},
                         {"size", size},
                         {"authenticated", true},
                         {"actions", {{"upload", XetUploadAction(repo.rec, repo.viewer, ref)}}}});
      continue;
    }
    json verify = {{"href", verify_href}, {"header", json::object()}, {"expires_in", config_.signed_url_ttl_s}};
    if (auto a = req.Header("authorization")) verify["header"]["Authorization"] = std::string(*a);
    // Parts per object are capped (bigger parts for huge objects), and so are part URLs per
    // answer: past the budget an object gets a plain (streamed) PUT instead.
    constexpr int64_t kMaxPartsPerObject = 10000;
    int64_t part_size = std::max(config_.multipart_part_size, (size + kMaxPartsPerObject - 1) / kMaxPartsPerObject);
    part_size = (part_size + (1 << 20) - 1) / (1 << 20) * (1 << 20);
    int64_t part_count = (size + part_size - 1) / part_size;
    if (multipart_ok && size > config_.multipart_threshold && part_count <= part_budget) {
      used_multipart = true;
      part_budget -= part_count;
      UploadSession s;
      s.id = RandomHex(16);
      s.repo_id = repo.rec.id;
      s.oid = oid;
      s.size = size;
      s.part_size = part_size;
      s.part_count = part_count;
      s.created_ms = NowMs();
      MH_RETURN_IF_ERROR(meta_->PutUploadSession(s));
      json header = {{"chunk_size", std::to_string(s.part_size)}};
      for (int64_t p = 1; p <= s.part_count; ++p) {
        header[std::to_string(p)] = SignedUrl("PUT", fmt::format("/api/lfs-part/{}/{}", s.id, p), write_grant);
      }
      objects.push_back({{"oid", oid},
                         {"size", size},
                         {"authenticated", true},
                         {"actions",
                          {{"upload",
                            {{"href", SignedUrl("POST", fmt::format("/api/lfs-complete/{}", s.id), write_grant)},
                             {"header", header},
                             {"expires_in", config_.signed_url_ttl_s}}},
                           {"verify", verify}}}});
      continue;
    }
    objects.push_back(
        {{"oid", oid},
         {"size", size},
         {"authenticated", true},
         {"actions",
          {{"upload",
            {{"href", SignedUrl("PUT", fmt::format("/api/lfs-upload/{}/{}/{}", repo.rec.id, oid, size), write_grant)},
             {"header", json::object()},
             {"expires_in", config_.signed_url_ttl_s}}},
           {"verify", verify}}}});
  }
  json out = {{"transfer", xet_ok ? "xet" : used_multipart ? "multipart" : "basic"}, {"objects", objects}, {"hash_algo", "sha256"}};
  resp.SetJson(200, out.dump(-1, ' ', false, json::error_handler_t::replace));
  resp.SetHeader("Content-Type", kLfsJson);
  return Status::Ok();
}

Status Hub::HandleLfsVerify(Request& req, Response& resp, RepoRef& repo) {
  MH_RETURN_IF_ERROR(auth_.CheckWrite(repo.viewer, repo.rec));
  MH_ASSIGN_OR_RETURN(json body, ReadJsonBody(req, config_.max_json_body));
  std::string oid = body.is_object() && body.contains("oid") && body["oid"].is_string() ? body["oid"].get<std::string>() : "";
  int64_t size = body.is_object() && body.contains("size") && body["size"].is_number_integer() ? body["size"].get<int64_t>() : -1;
  if (!IsSha256Hex(oid)) return Status::InvalidArgument("Invalid oid");
  auto obj = StoredObject(oid);
  MH_ASSIGN_OR_RETURN(bool linked, meta_->IsLfsObjectLinked(repo.rec.id, oid));
  if (!obj.ok() || !linked) return Status::NotFound("Object " + oid + " was not uploaded");
  if (size >= 0 && obj->size != size) return Status::InvalidArgument(fmt::format("Object {} has size {}", oid, obj->size));
  resp.SetJson(200, json{{"oid", oid}, {"size", obj->size}}.dump(-1, ' ', false, json::error_handler_t::replace));
  resp.SetHeader("Content-Type", kLfsJson);
  return Status::Ok();
}

Status Hub::HandleSignedUpload(Request& req, Response& resp, const std::vector<std::string>& segs) {
  resp.route = "lfs_upload";
  MH_ASSIGN_OR_RETURN(RepoRecord rec, VerifySigned(req, "PUT", /*write=*/true));
  if (segs.size() != 5) return Status::NotFound("Not found");
  auto repo_id = ParseInt64(segs[2]);
  auto size = ParseInt64(segs[4]);
  const std::string& oid = segs[3];
  if (!repo_id || !size || !IsSha256Hex(oid)) return Status::NotFound("Not found");
  if (*repo_id != rec.id) return Status::Forbidden("Invalid signature");
  if (req.content_length >= 0 && req.content_length != *size) {
    return Status::InvalidArgument(fmt::format("Content-Length {} does not match the object size {}",
                                               req.content_length, *size));
  }
  UploadGauge gauge(metrics_);
  MH_ASSIGN_OR_RETURN(auto ingest, content_->BeginIngest(oid, *size));
  std::vector<char> buf(1 << 20);
  while (true) {
    MH_ASSIGN_OR_RETURN(size_t n, req.body->Read(buf.data(), buf.size()));
    if (n == 0) break;
    MH_RETURN_IF_ERROR(ingest->Write(buf.data(), n));
  }
  MH_RETURN_IF_ERROR(ingest->Finish());
  MH_RETURN_IF_ERROR(meta_->PutLfsObject(LfsObject{oid, *size, NowMs()}));
  MH_RETURN_IF_ERROR(meta_->LinkLfsObject(rec.id, oid));
  metrics_->AddCounter("lfs_bytes_stored_total", *size);
  WriteJson(resp, 200, json::object());
  return Status::Ok();
}

Status Hub::HandleSignedPart(Request& req, Response& resp, const std::vector<std::string>& segs) {
  resp.route = "lfs_part";
  MH_ASSIGN_OR_RETURN(RepoRecord rec, VerifySigned(req, "PUT", /*write=*/true));
  if (segs.size() != 4) return Status::NotFound("Not found");
  auto part = ParseInt64(segs[3]);
  auto session = meta_->GetUploadSession(segs[2]);
  if (!session.ok() || session->repo_id != rec.id) return Status::NotFound("Unknown or finished upload session");
  if (!part || *part < 1 || *part > session->part_count) return Status::InvalidArgument("Invalid part number");
  int64_t expected = *part < session->part_count ? session->part_size
                                                 : session->size - session->part_size * (session->part_count - 1);
  if (req.content_length >= 0 && req.content_length != expected) {
    return Status::InvalidArgument(fmt::format("Part {} must be {} bytes, not {}", *part, expected, req.content_length));
  }
  UploadGauge gauge(metrics_);
  MH_ASSIGN_OR_RETURN(auto writer, content_->NewPartWriter(session->id, *part));
  std::vector<char> buf(1 << 20);
  int64_t got = 0;
  while (true) {
    MH_ASSIGN_OR_RETURN(size_t n, req.body->Read(buf.data(), buf.size()));
    if (n == 0) break;
    got += int64_t(n);
    if (got > expected) return Status::InvalidArgument(fmt::format("Part {} is larger than {} bytes", *part, expected));
    MH_RETURN_IF_ERROR(writer->Write(buf.data(), n));
  }
  if (got != expected) return Status::InvalidArgument(fmt::format("Part {} must be {} bytes, got {}", *part, expected, got));
  MH_RETURN_IF_ERROR(writer->Commit());
  resp.SetHeader("ETag", fmt::format("\"{}-{}\"", *part, got));
  WriteJson(resp, 200, json::object());
  return Status::Ok();
}

Status Hub::HandleSignedComplete(Request& req, Response& resp, const std::vector<std::string>& segs) {
  resp.route = "lfs_complete";
  MH_ASSIGN_OR_RETURN(RepoRecord rec, VerifySigned(req, "POST", /*write=*/true));
  if (segs.size() != 3) return Status::NotFound("Not found");
  auto session = meta_->GetUploadSession(segs[2]);
  if (!session.ok() || session->repo_id != rec.id) return Status::NotFound("Unknown or finished upload session");
  MH_ASSIGN_OR_RETURN(json body, ReadJsonBody(req, config_.max_json_body));
  if (!body.is_object() || !body.contains("oid") || !body["oid"].is_string() || !body.contains("parts") ||
      !body["parts"].is_array()) {
    return Status::InvalidArgument("Completion body needs \"oid\" and \"parts\"");
  }
  if (body["oid"].get<std::string>() != session->oid) return Status::InvalidArgument("oid does not match this upload");
  std::vector<bool> seen(size_t(session->part_count) + 1, false);
  for (const auto& p : body["parts"]) {
    if (!p.is_object() || !p.contains("partNumber") || !p["partNumber"].is_number_integer()) {
      return Status::InvalidArgument("Each part needs a partNumber");
    }
    int64_t n = p["partNumber"].get<int64_t>();
    if (n < 1 || n > session->part_count) return Status::InvalidArgument("Invalid partNumber");
    seen[size_t(n)] = true;
  }
  for (int64_t n = 1; n <= session->part_count; ++n) {
    if (!seen[size_t(n)]) return Status::InvalidArgument(fmt::format("Part {} is missing from the completion", n));
  }
  UploadGauge gauge(metrics_);
  MH_RETURN_IF_ERROR(content_->CompleteMultipart(session->id, session->part_count, session->oid, session->size));
  MH_RETURN_IF_ERROR(meta_->PutLfsObject(LfsObject{session->oid, session->size, NowMs()}));
  MH_RETURN_IF_ERROR(meta_->LinkLfsObject(session->repo_id, session->oid));
  (void)meta_->DeleteUploadSession(session->id);
  metrics_->AddCounter("lfs_bytes_stored_total", session->size);
  WriteJson(resp, 200, json::object());
  return Status::Ok();
}

Status Hub::HandleSignedDownload(Request& req, Response& resp, const std::vector<std::string>& segs) {
  resp.route = "lfs_download";
  MH_ASSIGN_OR_RETURN(RepoRecord rec, VerifySigned(req, "GET", /*write=*/false));
  if (segs.size() != 4 || !IsSha256Hex(segs[3])) return Status::NotFound("Not found");
  auto repo_id = ParseInt64(segs[2]);
  if (!repo_id || *repo_id != rec.id) return Status::Forbidden("Invalid signature");
  // Only objects the repository (still) holds: the URL is bound to it.
  MH_ASSIGN_OR_RETURN(bool linked, meta_->IsLfsObjectLinked(rec.id, segs[3]));
  auto obj = StoredObject(segs[3]);
  if (!linked || !obj.ok()) return Status::NotFound("Object does not exist");
  return ServeLfsObject(req, resp, obj->oid, obj->size);
}

}  // namespace modelhub
