// Read side of repositories: tree, paths-info, refs, commits, resolve/raw,
// plus branch/tag management and preupload.
#include <fmt/format.h>

#include "api/hub_internal.h"
#include "common/strings.h"
#include "common/time_util.h"
#include "repo/path_rules.h"

namespace modelhub {

namespace {

std::string StripEtag(std::string_view v) {
  std::string s = Trim(v);
  if (s.rfind("W/", 0) == 0) s = s.substr(2);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

std::string ContentTypeFor(const std::string& path) {
  auto dot = path.rfind('.');
  std::string ext = dot == std::string::npos ? "" : ToLower(path.substr(dot + 1));
  if (ext == "json") return "application/json";
  if (ext == "txt" || ext == "md" || ext == "csv" || ext == "jsonl" || ext == "yaml" || ext == "yml" ||
      ext == "py" || ext == "gitattributes")
    return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

std::string Basename(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}


// xet_of: the Xet file hash of an LFS object ("" if none), for the "xetHash" field.
json EntryJson(GitRepo& git, const std::string& commit, const TreeEntry& e, bool expand,
               const std::function<std::string(const LfsPointer&)>& xet_of) {
  json j;
  if (e.type == TreeEntry::Type::kDirectory) {
    j = {{"type", "directory"}, {"oid", e.oid}, {"size", 0}, {"path", e.path}};
  } else {
    j = {{"type", "file"}, {"oid", e.oid}, {"size", e.size}, {"path", e.path}};
    if (e.size <= kMaxLfsPointerBytes) {
      auto content = git.ReadBlob(e.oid);
      if (content.ok()) {
        if (auto ptr = ParseLfsPointer(*content)) {
          j["size"] = ptr->size;
          j["lfs"] = {{"oid", ptr->oid}, {"size", ptr->size}, {"pointerSize", e.size}};
          if (std::string x = xet_of(*ptr); !x.empty()) j["xetHash"] = x;
        }
      }
    }
  }
  if (expand) {
    auto last = git.LastCommitTouching(commit, e.path, 1000);
    if (last.ok()) {
      j["lastCommit"] = {{"id", last->id}, {"title", last->title}, {"date", IsoTimeMs(last->time_s * 1000)}};
    }
    if (e.type == TreeEntry::Type::kFile) {
      j["securityFileStatus"] = {{"status", "unscanned"}, {"avScan", nullptr}, {"pickleImportScan", nullptr}};
    }
  }
  return j;
}

json CommitJson(const CommitInfo& c, bool formatted) {
  json j = {{"id", c.id},
            {"title", c.title},
            {"message", c.message},
            {"date", IsoTimeMs(c.time_s * 1000)},
            {"authors", json::array({json{{"user", c.author_name}, {"avatar", ""}}})}};
  if (formatted) j["formatted"] = {{"title", HtmlEscape(c.title)}, {"message", HtmlEscape(c.message)}};
  return j;
}

}  // namespace

Result<std::pair<std::string, std::string>> Hub::SplitRevision(GitRepo& git, const std::vector<std::string>& segs,
                                                               size_t from) {
  if (segs.size() <= from) return RevisionNotFoundStatus("");
  MH_ASSIGN_OR_RETURN(std::string first, DecodeSegment(segs[from]));
  auto commit = git.ResolveRevision(first);
  if (commit.ok()) return std::make_pair(*commit, JoinDecoded(segs, from + 1));
  // Unencoded revisions with slashes (refs/pr/1, feature/x): longest prefix that resolves.
  for (size_t k = segs.size(); k > from + 1; --k) {
    std::string rev = JoinDecoded(std::vector<std::string>(segs.begin(), segs.begin() + long(k)), from);
    auto c = git.ResolveRevision(rev);
    if (c.ok()) return std::make_pair(*c, JoinDecoded(segs, k));
  }
  return RevisionNotFoundStatus(first);
}

Status Hub::HandleTree(Request& req, Response& resp, RepoRef& repo, const std::vector<std::string>& rest) {
  auto xet_of = [this, &repo](const LfsPointer& ptr) { return XetHashOf(repo.rec.id, ptr); };
  MH_ASSIGN_OR_RETURN(auto git, OpenGit(repo.rec));
  MH_ASSIGN_OR_RETURN(auto rp, SplitRevision(*git, rest, 0));
  const auto& [commit, raw_path] = rp;
  std::string path = raw_path;
  while (!path.empty() && path.back() == '/') path.pop_back();
  resp.SetHeader("X-Repo-Commit", commit);
  bool recursive = QueryBool(req, "recursive", false);
  bool expand = QueryBool(req, "expand", false);
  auto entries = git->ListTree(commit, path, recursive);
  if (!entries.ok()) {
    if (entries.status().IsNotFound()) return EntryNotFoundStatus(path);
    return entries.status();
  }
  MH_ASSIGN_OR_RETURN(int64_t limit, PageParam(req, "limit", expand ? 100 : 1000, expand ? 1000 : 10000));
  if (limit == 0) limit = 1000;
  MH_ASSIGN_OR_RETURN(int64_t cursor, PageParam(req, "cursor", 0, INT64_MAX));
  json arr = json::array();
  const PageSpan page = PageOf(int64_t(entries->size()), cursor, limit);
  for (int64_t i = page.begin; i < page.end; ++i) {
    arr.push_back(EntryJson(*git, commit, (*entries)[size_t(i)], expand, xet_of));
  }
  if (page.next >= 0) {
    resp.SetHeader("Link", fmt::format("<{}>; rel=\"next\"", NextPageUrl(req, "cursor", page.next)));
  }
  WriteJson(resp, 200, arr);
  return Status::Ok();
}

Status Hub::HandlePathsInfo(Request& req, Response& resp, RepoRef& repo, const std::string& rev) {
  auto xet_of = [this, &repo](const LfsPointer& ptr) { return XetHashOf(repo.rec.id, ptr); };
  MH_ASSIGN_OR_RETURN(auto git, OpenGit(repo.rec));
  auto commit = git->ResolveRevision(rev);
  if (!commit.ok()) return RevisionNotFoundStatus(rev);
  std::vector<std::string> paths;
  bool expand = false;
  std::string ctype = ToLower(req.Header("content-type").value_or(""));
  if (ctype.find("application/x-www-form-urlencoded") != std::string::npos) {
    MH_ASSIGN_OR_RETURN(std::string body, req.ReadBody(config_.max_json_body));
    for (const auto& [k, v] : ParseQueryString(body)) {
      if (k == "paths" || k == "paths[]") paths.push_back(v);
      if (k == "expand") expand = ParseBool(v).value_or(false);
    }
  } else {
    MH_ASSIGN_OR_RETURN(json body, ReadJsonBody(req, config_.max_json_body));
    if (!body.is_object() || !body.contains("paths") || !body["paths"].is_array()) {
      return Status::InvalidArgument("Body must be {\"paths\": [...], \"expand\": bool}");
    }
    for (const auto& p : body["paths"]) {
      if (!p.is_string()) return Status::InvalidArgument("'paths' must be strings");
      paths.push_back(p.get<std::string>());
    }
    if (body.contains("expand") && body["expand"].is_boolean()) expand = body["expand"].get<bool>();
  }
  if (paths.size() > 1000) return Status::TooLarge("At most 1000 paths per request");
  resp.SetHeader("X-Repo-Commit", *commit);
  json arr = json::array();
  for (std::string p : paths) {
    while (!p.empty() && p.back() == '/') p.pop_back();
    if (p.empty()) continue;
    auto st = git->Stat(*commit, p);
    if (!st.ok()) continue;
    arr.push_back(EntryJson(*git, *commit, *st, expand, xet_of));
  }
  WriteJson(resp, 200, arr);
  return Status::Ok();
}

Status Hub::HandleRefs(Request& req, Response& resp, RepoRef& repo) {
  MH_ASSIGN_OR_RETURN(auto git, OpenGit(repo.rec));
  auto to_json = [](const std::vector<RefInfo>& refs) {
    json arr = json::array();
    for (const auto& r : refs) arr.push_back({{"name", r.name}, {"ref", r.ref}, {"targetCommit", r.target}});
    return arr;
  };
  MH_ASSIGN_OR_RETURN(auto branches, git->ListBranches());
  MH_ASSIGN_OR_RETURN(auto tags, git->ListTags());
  json j = {{"branches", to_json(branches)}, {"tags", to_json(tags)}, {"converts", json::array()}};
  if (QueryBool(req, "include_prs", false)) j["pullRequests"] = json::array();
  WriteJson(resp, 200, j);
  return Status::Ok();
}

Status Hub::HandleCommits(Request& req, Response& resp, RepoRef& repo, const std::vector<std::string>& rest) {
  MH_ASSIGN_OR_RETURN(auto git, OpenGit(repo.rec));
  std::string commit;
  if (rest.empty()) {
    auto c = git->ResolveRevision(git->DefaultBranch());
    if (!c.ok()) return c.status();
    commit = *c;
  } else {
    MH_ASSIGN_OR_RETURN(auto rp, SplitRevision(*git, rest, 0));
    commit = rp.first;
  }
  MH_ASSIGN_OR_RETURN(int64_t limit, PageParam(req, "limit", 50, 1000));
  if (limit == 0) limit = 50;
  MH_ASSIGN_OR_RETURN(int64_t page, PageParam(req, "p", 0, INT64_MAX / 2000));
  MH_ASSIGN_OR_RETURN(auto log, git->Log(commit, page * limit, limit + 1));
  bool more = int64_t(log.size()) > limit;
  if (more) log.pop_back();
  bool formatted = false;
  for (const auto& e : req.QueryAll("expand"))
    if (e == "formatted") formatted = true;
  json arr = json::array();
  for (const auto& c : log) arr.push_back(CommitJson(c, formatted));
  MH_ASSIGN_OR_RETURN(int64_t total, git->CountCommits(commit));
  resp.SetHeader("X-Total-Count", std::to_string(total));
  if (more) resp.SetHeader("Link", fmt::format("<{}>; rel=\"next\"", NextPageUrl(req, "p", page + 1)));
  WriteJson(resp, 200, arr);
  return Status::Ok();
}

Status Hub::HandleBranch(Request& req, Response& resp, RepoRef& repo, const std::string& branch) {
  MH_RETURN_IF_ERROR(auth_.CheckWrite(repo.viewer, repo.rec));
  MH_ASSIGN_OR_RETURN(auto git, OpenGit(repo.rec));
  if (req.method == "DELETE") {
    if (branch == git->DefaultBranch()) {
      return Status::Forbidden("Cannot delete refs/heads/" + branch + ": it is the default branch");
    }
    Status s = git->DeleteBranch(branch);
    if (s.IsNotFound()) return RevisionNotFoundStatus(branch);
    MH_RETURN_IF_ERROR(s);
    WriteJson(resp, 200, json::object());
    return Status::Ok();
  }
  if (branch.rfind("refs/", 0) == 0 || !IsValidRefName(branch)) {
    return Status::InvalidArgument("Invalid reference for a branch: " + branch);
  }
  MH_ASSIGN_OR_RETURN(json body, ReadJsonBody(req, config_.max_json_body));
  std::string start = git->DefaultBranch();
  if (body.is_object() && body.contains("startingPoint") && body["startingPoint"].is_string()) {
    start = body["startingPoint"].get<std::string>();
  }
  if (body.is_object() && body.contains("emptyBranch") && body["emptyBranch"].is_boolean() &&
      body["emptyBranch"].get<bool>()) {
    return Status::NotImplemented("Empty branches are not supported yet");
  }
  bool overwrite = body.is_object() && body.contains("overwrite") && body["overwrite"].is_boolean() &&
                   body["overwrite"].get<bool>();
  auto commit = git->ResolveRevision(start);
  if (!commit.ok()) return RevisionNotFoundStatus(start);
  Status s = git->CreateBranch(branch, *commit);
  if (s.code() == Code::kConflict && overwrite) {
    MH_RETURN_IF_ERROR(git->DeleteBranch(branch));
    s = git->CreateBranch(branch, *commit);
  }
  if (s.code() == Code::kConflict) return Status::Conflict("Reference refs/heads/" + branch + " already exists");
  MH_RETURN_IF_ERROR(s);
  (void)meta_->TouchRepo(repo.rec.id, NowMs());
  WriteJson(resp, 200, json::object());
  return Status::Ok();
}

Status Hub::HandleTag(Request& req, Response& resp, RepoRef& repo, const std::string& name) {
  MH_RETURN_IF_ERROR(auth_.CheckWrite(repo.viewer, repo.rec));
  MH_ASSIGN_OR_RETURN(auto git, OpenGit(repo.rec));
  if (req.method == "DELETE") {
    Status s = git->DeleteTag(name);
    if (s.IsNotFound()) return RevisionNotFoundStatus(name);
    MH_RETURN_IF_ERROR(s);
    WriteJson(resp, 200, json::object());
    return Status::Ok();
  }
  // POST /tag/{revision} with {"tag": name, "message": ...}
  MH_ASSIGN_OR_RETURN(json body, ReadJsonBody(req, config_.max_json_body));
  if (!body.is_object() || !body.contains("tag") || !body["tag"].is_string()) {
    return Status::InvalidArgument("Body must contain \"tag\"");
  }
  std::string tag = body["tag"].get<std::string>();
  std::string message;
  if (body.contains("message") && body["message"].is_string()) message = body["message"].get<std::string>();
  if (tag.rfind("refs/", 0) == 0 || !IsValidRefName(tag)) return Status::InvalidArgument("Invalid tag name: " + tag);
  auto commit = git->ResolveRevision(name);
  if (!commit.ok()) return RevisionNotFoundStatus(name);
  GitSignature sig{repo.viewer.user->name, repo.viewer.user->name + "@users.noreply.modelhub", 0};
  Status s = git->CreateTag(tag, *commit, message, sig);
  if (s.code() == Code::kConflict) return Status::Conflict("Tag " + tag + " already exists");
  MH_RETURN_IF_ERROR(s);
  WriteJson(resp, 200, json::object());
  return Status::Ok();
}

Result<PatternRules> ReadPatternRules(GitRepo& git, const std::string& commit, bool attributes) {
  const char* file = attributes ? ".gitattributes" : ".gitignore";
  std::string text;
  auto st = git.Stat(commit, file);
  if (st.ok() && st->type == TreeEntry::Type::kFile) {
    if (st->size > int64_t(kMaxPatternFileBytes)) {
      return Status::InvalidArgument(fmt::format("The repository's {} is larger than {} bytes (limit); replace it "
                                                 "with a smaller one",
                                                 file, kMaxPatternFileBytes));
    }
    MH_ASSIGN_OR_RETURN(text, git.ReadBlob(st->oid));
  }
  return attributes ? PatternRules::ParseGitAttributes(text) : PatternRules::ParseGitIgnore(text);
}

Status CheckPatternFile(const std::string& path, std::string_view content) {
  if (path == ".gitattributes") return PatternRules::ParseGitAttributes(content).status();
  if (path == ".gitignore") return PatternRules::ParseGitIgnore(content).status();
  return Status::Ok();
}

Status Hub::HandlePreupload(Request& req, Response& resp, RepoRef& repo, const std::string& rev) {
  if (QueryBool(req, "create_pr", false)) return Status::NotImplemented("Pull requests are not supported yet");
  MH_RETURN_IF_ERROR(auth_.CheckWrite(repo.viewer, repo.rec));
  MH_ASSIGN_OR_RETURN(auto git, OpenGit(repo.rec));
  auto commit = git->ResolveRevision(rev);
  if (!commit.ok()) return RevisionNotFoundStatus(rev);
  MH_ASSIGN_OR_RETURN(json body, ReadJsonBody(req, config_.max_json_body));
  if (!body.is_object() || !body.contains("files") || !body["files"].is_array()) {
    return Status::InvalidArgument("Body must contain \"files\": [...]");
  }
  if (body["files"].size() > 1000) return Status::TooLarge("At most 1000 files per preupload request");
  // Parsed once; every path below is matched against the parsed rules.
  auto parse = [&](const char* field, bool attributes) -> Result<PatternRules> {
    if (body.contains(field) && body[field].is_string()) {
      const std::string& text = body[field].get_ref<const std::string&>();
      return attributes ? PatternRules::ParseGitAttributes(text) : PatternRules::ParseGitIgnore(text);
    }
    return ReadPatternRules(*git, *commit, attributes);
  };
  MH_ASSIGN_OR_RETURN(PatternRules attrs, parse("gitAttributes", true));
  MH_ASSIGN_OR_RETURN(PatternRules ignore, parse("gitIgnore", false));
  json out = json::array();
  for (const auto& f : body["files"]) {
    if (!f.is_object() || !f.contains("path") || !f["path"].is_string()) {
      return Status::InvalidArgument("Each file needs a \"path\"");
    }
    std::string path = f["path"].get<std::string>();
    MH_RETURN_IF_ERROR(ValidateFilePath(path));
    int64_t size = f.contains("size") && f["size"].is_number_integer() ? f["size"].get<int64_t>() : 0;
    std::string sample;
    if (f.contains("sample") && f["sample"].is_string()) {
      auto decoded = Base64Decode(f["sample"].get<std::string>());
      if (!decoded) return Status::InvalidArgument("\"sample\" of " + path + " is not valid base64");
      sample = *decoded;
    }
    bool binary = sample.find('\0') != std::string::npos;
    MH_ASSIGN_OR_RETURN(bool tracked, attrs.Matches(path));
    MH_ASSIGN_OR_RETURN(bool ignored, ignore.Matches(path));
    bool lfs = size > 0 && (tracked || size >= config_.regular_file_max || binary);
    json entry = {{"path", path}, {"uploadMode", lfs ? "lfs" : "regular"}, {"shouldIgnore", ignored}};
    auto st = git->Stat(*commit, path);
    if (st.ok() && st->type == TreeEntry::Type::kFile) {
      std::string oid = st->oid;
      if (st->size <= kMaxLfsPointerBytes) {
        auto content = git->ReadBlob(st->oid);
        if (content.ok())
          if (auto ptr = ParseLfsPointer(*content)) oid = ptr->oid;
      }
      entry["oid"] = oid;
    }
    out.push_back(std::move(entry));
  }
  WriteJson(resp, 200, json{{"files", out}, {"commitOid", *commit}});
  return Status::Ok();
}

Status Hub::ServeBytes(Request& req, Response& resp, const std::string& bytes, const std::string& etag) {
  resp.SetHeader("ETag", "\"" + etag + "\"");
  resp.SetHeader("Accept-Ranges", "bytes");
  if (auto inm = req.Header("if-none-match"); inm && StripEtag(*inm) == etag) {
    resp.status = 304;
    return Status::Ok();
  }
  int64_t size = int64_t(bytes.size());
  auto range_h = req.Header("range");
  if (range_h && size == 0) {
    resp.SetHeader("Content-Range", "bytes */0");
    return Status::Ok();
  }
  if (range_h) {
    auto r = ParseRange(*range_h, size);
    if (!r.ok()) {
      resp.SetHeader("Content-Range", fmt::format("bytes */{}", size));
      return r.status();
    }
    if (r->has_value()) {
      const ByteRange& br = **r;
      resp.status = 206;
      resp.SetHeader("Content-Range", fmt::format("bytes {}-{}/{}", br.first, br.last, size));
      resp.body = bytes.substr(size_t(br.first), size_t(br.last - br.first + 1));
      return Status::Ok();
    }
  }
  resp.body = bytes;
  return Status::Ok();
}

Status Hub::ServeLfsObject(Request& req, Response& resp, const std::string& oid, int64_t size) {
  resp.SetHeader("ETag", "\"" + oid + "\"");
  resp.SetHeader("X-Linked-Etag", "\"" + oid + "\"");
  resp.SetHeader("X-Linked-Size", std::to_string(size));
  resp.SetHeader("Accept-Ranges", "bytes");
  if (auto inm = req.Header("if-none-match"); inm && StripEtag(*inm) == oid) {
    resp.status = 304;
    return Status::Ok();
  }
  int64_t first = 0, len = size;
  auto range_h = req.Header("range");
  if (range_h && size == 0) {
    resp.SetHeader("Content-Range", "bytes */0");
    return Status::Ok();
  }
  if (range_h) {
    auto r = ParseRange(*range_h, size);
    if (!r.ok()) {
      resp.SetHeader("Content-Range", fmt::format("bytes */{}", size));
      return r.status();
    }
    if (r->has_value()) {
      first = (*r)->first;
      len = (*r)->last - first + 1;
      resp.status = 206;
      resp.SetHeader("Content-Range", fmt::format("bytes {}-{}/{}", first, (*r)->last, size));
    }
  }
  if (req.method == "HEAD") {
    resp.stream_length = len;
    resp.stream = std::make_unique<ReaderSource>(nullptr);
    return Status::Ok();
  }
  auto reader = content_->Open(oid, first, len);
  if (!reader.ok()) {
    if (reader.status().IsNotFound()) return Status::Corruption("LFS object " + oid + " is missing from storage");
    return reader.status();
  }
  if ((*reader)->remaining() != len) return Status::Corruption("LFS object " + oid + " is shorter than its pointer says");
  resp.stream_length = len;
  resp.stream = std::make_unique<ReaderSource>(std::move(reader).value());
  return Status::Ok();
}

Status Hub::HandleResolve(Request& req, Response& resp, RepoRef& repo, const std::vector<std::string>& rest,
                          bool raw) {
  MH_ASSIGN_OR_RETURN(auto git, OpenGit(repo.rec));
  MH_ASSIGN_OR_RETURN(auto rp, SplitRevision(*git, rest, 0));
  const auto& [commit, path] = rp;
  resp.SetHeader("X-Repo-Commit", commit);
  if (path.empty()) return EntryNotFoundStatus(path);
  auto st = git->Stat(commit, path);
  if (!st.ok()) {
    if (st.status().IsNotFound()) return EntryNotFoundStatus(path);
    return st.status();
  }
  if (st->type != TreeEntry::Type::kFile) return EntryNotFoundStatus(path);
  std::string name = Basename(path);
  resp.SetHeader("Content-Disposition",
                 fmt::format("inline; filename*=UTF-8''{}; filename=\"{}\"", UrlEncode(name), HtmlEscape(name)));
  resp.SetHeader("Content-Type", ContentTypeFor(path));
  MH_ASSIGN_OR_RETURN(std::string blob, git->ReadBlob(st->oid));
  if (!raw && st->size <= kMaxLfsPointerBytes) {
    if (auto ptr = ParseLfsPointer(blob)) {
      // Only an object this repository owns, at the pointer's size, is served: a pointer anyone
      // wrote must not read another repository's object (storage/meta/object_ownership.h).
      MH_ASSIGN_OR_RETURN(OwnershipCheck own, CheckObjectOwnership(*meta_, repo.rec.id, ptr->oid, ptr->size));
      if (own.verdict == Ownership::kMissing) {
        return Status::Corruption("LFS object " + ptr->oid + " is missing from storage");
      }
      if (own.verdict != Ownership::kOwned) {
        return Status::NotFound(fmt::format("{}: its LFS object is not stored in this repository", path),
                                "EntryNotFound");
      }
      std::string xet_hash = xet_ ? own.file.xet_hash : "";
      AddXetFileHeaders(resp, repo.rec, commit, xet_hash);
      if (!xet_hash.empty() && WantsXetFileInfo(req)) return ServeXetFileInfo(resp, ptr->oid, ptr->size, xet_hash);
      return ServeLfsObject(req, resp, ptr->oid, ptr->size);
    }
  }
  return ServeBytes(req, resp, blob, st->oid);
}

}  // namespace modelhub
