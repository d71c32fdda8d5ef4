// The Xet protocol (docs/protocols/xet.md): the Hub side (token endpoints, the headers and fields that
// point clients at Xet) and the CAS routes under {public_url}/api/cas, backed by XetCas.
#include <fmt/format.h>

#include "api/hub_internal.h"
#include "auth/xet_token.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/time_util.h"
#include "crypto/sha256.h"

namespace modelhub {

namespace {

Result<xet::XetHash> HashSegment(const std::string& seg, const char* what) {
  auto h = xet::XetHash::FromHex(seg);
  if (!h.ok()) return Status::InvalidArgument(fmt::format("Invalid {} hash '{}': expected 64 hex digits", what, seg));
  return *h;
}

// "bytes=a-b" (inclusive, one range) or "bytes=a-".
std::optional<std::pair<uint64_t, uint64_t>> ParseSingleRange(std::string_view h) {
  if (h.substr(0, 6) != "bytes=") return std::nullopt;
  h.remove_prefix(6);
  if (h.find(',') != std::string_view::npos) return std::nullopt;
  size_t dash = h.find('-');
  if (dash == std::string_view::npos || dash == 0) return std::nullopt;
  auto a = ParseInt64(Trim(h.substr(0, dash)));
  std::string tail = Trim(h.substr(dash + 1));  // owned: a view of Trim's result would dangle
  auto b = tail.empty() ? std::optional<int64_t>(INT64_MAX) : ParseInt64(tail);
  if (!a || !b || *a < 0 || *b < *a) return std::nullopt;
  return std::make_pair(uint64_t(*a), uint64_t(*b));
}

// What the holder of a Xet token may read, for the CAS answers that name stored content (dedup,
// xorb existence, skipping the re-hash of a known file; docs/protocols/xet.md "What CAS answers
// reveal"): files linked to the token's repository, or to any repository the token's user may read
// now (public ones, their own, their orgs'). Anonymous read tokens: public repositories only.
Result<XetCas::FileFilter> ReadableBy(MetadataStore* meta, const XetTokenClaims& c) {
  std::optional<int64_t> viewer;
  bool admin = false;
  if (c.user_id > 0) {
    auto acc = meta->GetAccountById(c.user_id);
    if (acc.ok()) {
      viewer = acc->id;
      admin = acc->is_admin;
    } else if (!acc.status().IsNotFound()) {
      return acc.status();
    }
  }
  const int64_t repo_id = c.repo_id;
  return XetCas::FileFilter([meta, repo_id, viewer, admin](const FileRecord& f) -> Result<bool> {
    MH_ASSIGN_OR_RETURN(bool linked, meta->IsLfsObjectLinked(repo_id, f.sha256));
    if (linked) return true;
    return meta->IsLfsObjectReadable(f.sha256, viewer, admin);
  });
}

}  // namespace

std::string Hub::CasUrl() const { return config_.public_url + "/api/cas"; }

std::string Hub::XetTokenUrl(const RepoRecord& rec, bool write, const std::string& rev) const {
  return fmt::format("{}/api/{}/{}/xet-{}-token/{}", config_.public_url, RepoTypePlural(rec.type), rec.FullId(),
                     write ? "write" : "read", UrlEncode(rev));
}

void Hub::AddXetFileHeaders(Response& resp, const RepoRecord& rec, const std::string& commit,
                            const std::string& xet_hash) {
  if (!xet_ || xet_hash.empty()) return;
  resp.SetHeader("X-Xet-Hash", xet_hash);
  resp.AddHeader("Link", fmt::format("<{}>; rel=\"xet-auth\", <{}/v1/reconstructions/{}>; rel=\"xet-reconstruction-info\"",
                                     XetTokenUrl(rec, false, commit), CasUrl(), xet_hash));
}

std::string Hub::XetHashOf(int64_t repo_id, const LfsPointer& ptr) {
  if (!xet_) return "";
  auto own = CheckObjectOwnership(*meta_, repo_id, ptr.oid, ptr.size);
  return own.ok() && own->verdict == Ownership::kOwned ? own->file.xet_hash : "";
}

bool Hub::WantsXetFileInfo(const Request& req) {
  auto accept = req.Header("accept");
  return accept && accept->find("application/vnd.xet-fileinfo+json") != std::string_view::npos;
}

Status Hub::ServeXetFileInfo(Response& resp, const std::string& oid, int64_t size, const std::string& xet_hash) {
  resp.SetHeader("ETag", "\"" + oid + "\"");
  resp.SetHeader("X-Linked-Etag", "\"" + oid + "\"");
  resp.SetHeader("X-Linked-Size", std::to_string(size));
  resp.SetHeader("Vary", "Accept");
  WriteJson(resp, 200, json{{"hash", xet_hash}, {"size", size}, {"sha256", oid}, {"casUrl", CasUrl()}});
  resp.SetHeader("Content-Type", "application/vnd.xet-fileinfo+json");
  return Status::Ok();
}

// ---- Hub side: tokens ------------------------------------------------------------------------

Status Hub::HandleXetToken(Request& req, Response& resp, RepoRef& repo, bool write) {
  (void)req;
  if (!xet_) return Status::NotImplemented("Xet storage is disabled on this hub");
  if (write) MH_RETURN_IF_ERROR(auth_.CheckWrite(repo.viewer, repo.rec));
  XetTokenClaims c = GrantOf(repo, write, config_.xet_token_ttl_s);
  std::string token = IssueXetToken(config_.signing_key, c);
  resp.SetHeader("X-Xet-Cas-Url", CasUrl());
  resp.SetHeader("X-Xet-Access-Token", token);
  resp.SetHeader("X-Xet-Token-Expiration", std::to_string(c.exp_s));
  WriteJson(resp, 200, json{{"accessToken", token}, {"exp", c.exp_s}, {"casUrl", CasUrl()}});
  return Status::Ok();
}

json Hub::XetUploadAction(const RepoRecord& rec, const Viewer& viewer, const std::string& rev) {
  XetTokenClaims c = Authenticator::GrantFor(viewer, rec, true, NowS() + config_.xet_token_ttl_s);
  return {{"href", XetTokenUrl(rec, true, rev)},
          {"header",
           {{"X-Xet-Cas-Url", CasUrl()},
            {"X-Xet-Access-Token", IssueXetToken(config_.signing_key, c)},
            {"X-Xet-Token-Expiration", std::to_string(c.exp_s)},
            {"X-Xet-Session-Id", RandomHex(16)}}},
          {"expires_in", config_.xet_token_ttl_s}};
}

// ---- CAS side --------------------------------------------------------------------------------

Result<XetTokenClaims> Hub::XetAuth(const Request& req, bool write) {
  auto h = req.Header("authorization");
  if (!h || h->substr(0, 7) != "Bearer ") {
    return Status(Code::kUnauthorized, "The CAS needs a Xet access token (Authorization: Bearer ...)", "InvalidXetToken");
  }
  MH_ASSIGN_OR_RETURN(XetTokenClaims c, VerifyXetToken(config_.signing_key, Trim(h->substr(7)), NowS()));
  if (write && !c.write) return Status::Forbidden("This Xet token is read-only; ask for a xet-write-token");
  // A token outlives nothing it was issued for: re-check its grant (for what this request does) now.
  AccessGrant use = c;
  use.write = write;
  auto rec = auth_.CheckGrant(use);
  if (!rec.ok()) {
    const Status& s = rec.status();
    if (s.code() == Code::kUnauthorized) return Status(Code::kUnauthorized, s.message(), "InvalidXetToken");
    // Deleted, or no longer readable by the viewer it was issued to: the same answer for both.
    if (s.code() == Code::kNotFound) {
      return Status(Code::kUnauthorized, "This Xet token no longer grants access to its repository", "InvalidXetToken");
    }
    return s;
  }
  return c;
}

std::string Hub::SignedFetchUrl(const XetTokenClaims& c, const xet::XetHash& xorb, uint64_t first,
                                uint64_t last) const {
  // Bound to the token's repository and hub token, re-checked at each fetch (HandleXetFetch).
  AccessGrant g = c;
  g.write = false;
  g.exp_s = NowS() + config_.xet_token_ttl_s;
  return SignedUrl("GET", "/api/cas/fetch/" + xorb.ToHex(), g, fmt::format("r={}-{}", first, last));
}

Status Hub::RouteCas(Request& req, Response& resp, const std::vector<std::string>& segs) {
  if (!xet_) return Status::NotImplemented("Xet storage is disabled on this hub");
  // segs: api, cas, ...
  const std::string& m = req.method;
  const size_t n = segs.size();
  if (n >= 4 && segs[2] == "fetch" && (m == "GET" || m == "HEAD")) {
    resp.route = "xet_fetch";
    return HandleXetFetch(req, resp, segs[3]);
  }
  // Current clients put the API version first ("/v1/xorbs/…"); hf_xet up to 1.1.7 used unversioned
  // singular names ("/xorb/…", "/shard/{prefix}/{hash}" with POST or PUT, "/reconstruction/…",
  // "/chunk/…"), up to 1.2.x unversioned plural ones. All map onto the v1 handlers.
  bool v2 = false;
  size_t at = 2;  // index of the resource name
  if (n >= 3 && (segs[2] == "v1" || segs[2] == "v2")) {
    v2 = segs[2] == "v2";
    at = 3;
  }
  if (n <= at) return Status::NotFound("Not found");
  std::string what = segs[at];
  if (at == 2 && (what == "xorb" || what == "shard" || what == "chunk" || what == "reconstruction")) what += "s";
  const size_t args = n - at - 1;  // segments after the resource name
  if (what == "xorbs" && args == 2 && !v2) {
    resp.route = "xet_xorb";
    MH_ASSIGN_OR_RETURN(xet::XetHash hash, HashSegment(segs[at + 2], "xorb"));
    if (m == "HEAD" || m == "GET") {
      // A xorb no file the caller may read names looks like a missing one.
      MH_ASSIGN_OR_RETURN(XetTokenClaims c, XetAuth(req, false));
      MH_ASSIGN_OR_RETURN(auto readable, ReadableBy(meta_, c));
      MH_ASSIGN_OR_RETURN(bool visible, xet_->XorbReadable(hash, readable));
      if (!visible) return Status::NotFound("xorb " + hash.ToHex() + " not found");
      WriteJson(resp, 200, json::object());
      return Status::Ok();
    }
    if (m != "POST") return Status::NotFound("Not found");
    MH_ASSIGN_OR_RETURN(XetTokenClaims c, XetAuth(req, true));
    BodyReader* body = req.body;
    auto read = [body](char* buf, size_t len) -> Result<size_t> {
      if (body == nullptr) return size_t(0);
      return body->Read(buf, len);
    };
    MH_ASSIGN_OR_RETURN(bool inserted, xet_->PutXorb(hash, read, req.content_length));
    if (!inserted) {
      // "Already stored" only for a xorb the caller could see anyway (the HEAD rule above).
      MH_ASSIGN_OR_RETURN(auto readable, ReadableBy(meta_, c));
      MH_ASSIGN_OR_RETURN(bool visible, xet_->XorbReadable(hash, readable));
      inserted = !visible;
    }
    WriteJson(resp, 200, json{{"was_inserted", inserted}});
    return Status::Ok();
  }
  if (what == "shards" && (args == 0 || (args == 2 && at == 2)) && (m == "POST" || m == "PUT")) {
    resp.route = "xet_shard";
    MH_ASSIGN_OR_RETURN(XetTokenClaims c, XetAuth(req, true));
    MH_ASSIGN_OR_RETURN(std::string body, req.ReadBody(XetCas::kMaxShardBytes));
    XetCas::ShardHooks hooks;
    hooks.cancelled = [&req] { return req.ClientGone(); };
    MH_ASSIGN_OR_RETURN(hooks.may_reuse, ReadableBy(meta_, c));
    auto files = xet_->PutShard(body, hooks);
    if (!files.ok() && files.status().hub_code() == "ClientClosedRequest") {
      LogInfo("xet shard from {}: the client closed the connection, check stopped", req.remote_addr);
    }
    if (!files.ok()) {
      if (v2 && files.status().code() == Code::kInvalidArgument) {
        // v2 answers errors as a final NDJSON line the client shows.
        resp.SetHeader("Content-Type", "application/x-ndjson");
        resp.body = json{{"type", "error"}, {"message", files.status().message()}, {"retryable", false}}.dump() + "\n";
        resp.status = 400;
        resp.SetHeader("X-Error-Code", files.status().hub_code());
        resp.SetHeader("X-Error-Message", files.status().message().substr(0, 400));
        return Status::Ok();
      }
      return files.status();
    }
    // The uploading repository has proven possession of these files (the LFS registry).
    bool any_new = false;
    for (const auto& f : *files) {
      MH_RETURN_IF_ERROR(meta_->PutLfsObject(LfsObject{f.sha256, f.size, NowMs()}));
      MH_ASSIGN_OR_RETURN(bool linked, meta_->IsLfsObjectLinked(c.repo_id, f.sha256));
      if (!linked) {
        any_new = true;
        MH_RETURN_IF_ERROR(meta_->LinkLfsObject(c.repo_id, f.sha256));
      }
    }
    if (files->empty()) any_new = true;
    if (v2) {
      resp.SetHeader("Content-Type", "application/x-ndjson");
      resp.body = json{{"type", "validating"}, {"verified", files->size()}, {"total", files->size()}}.dump() + "\n" +
                  json{{"type", "result"}}.dump() + "\n";
      return Status::Ok();
    }
    WriteJson(resp, 200, json{{"result", any_new ? 1 : 0}});
    return Status::Ok();
  }
  if (what == "reconstructions" && args == 1 && m == "GET") {
    resp.route = "xet_reconstruction";
    MH_ASSIGN_OR_RETURN(XetTokenClaims c, XetAuth(req, false));
    MH_ASSIGN_OR_RETURN(xet::XetHash file_hash, HashSegment(segs[at + 1], "file"));
    auto file = meta_->GetFileByXetHash(file_hash.ToHex());
    // Only files the token's repository holds; others look the same as unknown ones.
    bool visible = false;
    if (file.ok()) {
      MH_ASSIGN_OR_RETURN(visible, meta_->IsLfsObjectLinked(c.repo_id, file->sha256));
    }
    if (!visible) return Status::NotFound("File " + file_hash.ToHex() + " not found", "EntryNotFound");
    std::optional<std::pair<uint64_t, uint64_t>> range;
    if (auto rh = req.Header("range")) {
      range = ParseSingleRange(*rh);
      if (!range) return Status::InvalidArgument("Range must be a single 'bytes=a-b' range");
    }
    MH_ASSIGN_OR_RETURN(XetReconstruction r, xet_->Reconstruct(*file, range));
    json terms = json::array();
    for (const auto& t : r.terms) {
      terms.push_back({{"hash", t.xorb.ToHex()},
                       {"unpacked_length", t.unpacked},
                       {"range", {{"start", t.chunk_start}, {"end", t.chunk_end}}}});
    }
    // One signed URL per merged range: V1 "fetch_info", or V2 "xorbs" entries of a single range each
    // (a client sends an entry's ranges in one Range header; one range needs no multipart answer).
    json fetch = json::object();
    for (const auto& f : r.fetch) {
      json chunks = {{"start", f.chunk_start}, {"end", f.chunk_end}};
      json bytes = {{"start", f.byte_first}, {"end", f.byte_last}};
      std::string url = SignedFetchUrl(c, f.xorb, f.byte_first, f.byte_last);
      if (v2) {
        fetch[f.xorb.ToHex()].push_back({{"url", url}, {"ranges", json::array({{{"chunks", chunks}, {"bytes", bytes}}})}});
      } else {
        fetch[f.xorb.ToHex()].push_back({{"range", chunks}, {"url", url}, {"url_range", bytes}});
      }
    }
    WriteJson(resp, 200,
              json{{"offset_into_first_range", r.offset_into_first_range}, {"terms", terms}, {v2 ? "xorbs" : "fetch_info", fetch}});
    return Status::Ok();
  }
  if (what == "chunks" && args == 2 && m == "GET" && !v2) {
    resp.route = "xet_dedup";
    // Uploaders only (as on the Hub), and only content the caller may read anyway.
    MH_ASSIGN_OR_RETURN(XetTokenClaims c, XetAuth(req, true));
    MH_ASSIGN_OR_RETURN(xet::XetHash chunk, HashSegment(segs[at + 2], "chunk"));
    MH_ASSIGN_OR_RETURN(auto readable, ReadableBy(meta_, c));
    // A fresh key per answer: chunk hashes are only matchable by a client that holds the chunk.
    std::string key_bytes = HmacSha256(config_.signing_key, "xet-dedup-key:" + RandomHex(16));
    xet::XetHash key = xet::XetHash::FromRaw(key_bytes.data());
    MH_ASSIGN_OR_RETURN(std::string shard,
                        xet_->DedupShard(chunk, key, uint64_t(NowS() + config_.xet_dedup_ttl_s), readable));
    resp.SetHeader("Content-Type", "application/octet-stream");
    resp.body = std::move(shard);
    return Status::Ok();
  }
  if (what == "xorb-grants") {
    // Direct-to-object-store xorb uploads (newer hf_xet asks first); 404 makes it use POST /v1/xorbs.
    resp.route = "xet_xorb";
    return Status::NotFound("Upload grants are not offered by this CAS; upload xorbs with POST /v1/xorbs");
  }
  if (what == "telemetry" && m == "POST") {
    resp.route = "xet_telemetry";
    WriteJson(resp, 200, json::object());
    return Status::Ok();
  }
  return Status::NotFound("Not found");
}

Status Hub::HandleXetFetch(Request& req, Response& resp, const std::string& xorb_seg) {
  // Signed URL, no bearer token: the signature covers the xorb, the byte range, the expiry and the grant
  // of the Xet token it was issued under, re-checked here (revoked token, deleted or now private repo).
  auto r = req.Query("r");
  if (!r) return Status::Forbidden("This URL must be signed (r, repo, user, tok, exp and sig query parameters)");
  MH_RETURN_IF_ERROR(VerifySigned(req, "GET", /*write=*/false, "r=" + *r).status());
  auto signed_range = ParseSingleRange("bytes=" + *r);
  MH_ASSIGN_OR_RETURN(xet::XetHash xorb, HashSegment(xorb_seg, "xorb"));
  if (!signed_range) return Status::Forbidden("Invalid signature");
  auto [first, last] = *signed_range;
  if (auto rh = req.Header("range")) {
    auto want = ParseSingleRange(*rh);
    if (!want || want->first < first || want->first > last) {
      return Status::RangeNotSatisfiable(fmt::format("Range must lie within bytes {}-{} of this URL", first, last));
    }
    first = want->first;
    last = std::min(last, want->second);
    resp.status = 206;
  }
  MH_ASSIGN_OR_RETURN(auto reader, xet_->OpenXorbBytes(xorb, first, last));
  if (resp.status == 206) {
    MH_ASSIGN_OR_RETURN(int64_t total, content_->blobs()->Size(ChunkStore::XorbKey(xorb)));
    resp.SetHeader("Content-Range", fmt::format("bytes {}-{}/{}", first, last, total));
  }
  resp.SetHeader("Content-Type", "application/octet-stream");
  resp.stream_length = int64_t(last - first + 1);
  resp.stream = std::make_unique<ReaderSource>(req.method == "HEAD" ? nullptr : std::move(reader));
  return Status::Ok();
}

}  // namespace modelhub
