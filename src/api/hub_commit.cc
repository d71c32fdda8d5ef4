// POST /api/{type}s/{repo}/commit/{rev}: the NDJSON commit.
//
// The body is parsed line by line as it streams in (it may be hundreds of MB
// of base64). Every operation is validated before anything is written; the
// branch then moves by compare-and-swap, so a commit is all or nothing.
#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "api/hub_internal.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/time_util.h"
#include "repo/path_rules.h"
#include "storage/gc/gc_lock.h"

namespace modelhub {

namespace {

// The read buffer, and pending's capacity for commits whose lines are all short.
constexpr size_t kReadChunk = 256 << 10;
constexpr size_t kSmallLines = 1 << 20;

// What a commit holding `capacity` bytes of unparsed NDJSON is charged against the commit memory
// budget: the read buffer, pending itself, and while a line is handled the JSON parser's token
// buffer, the parsed value's copy of the content and the decoded file (~0.75x): 4x in all.
int64_t CommitMemoryCharge(size_t capacity) { return int64_t(kReadChunk) + 4 * int64_t(capacity); }

}  // namespace

int64_t MaxCommitLine(const HubConfig& config) { return config.max_inline_file / 3 * 4 + 4096; }

int64_t MinCommitMemoryBudget(const HubConfig& config) {
  return CommitMemoryCharge(kSmallLines) + CommitMemoryCharge(size_t(MaxCommitLine(config)) + kReadChunk);
}

namespace {

struct ParsedCommit {
  std::string summary;
  std::string description;
  std::optional<std::string> parent;
  std::vector<FileOp> ops;
  struct LfsRef {
    std::string path;
    std::string oid;
    int64_t size;
  };
  std::vector<LfsRef> lfs;  // also present in ops as pointer upserts
  struct Copy {
    std::string src;
    std::string dst;
    std::string src_rev;
  };
  std::vector<Copy> copies;
  bool saw_header = false;
};

std::string StrField(const json& v, const char* key) {
  if (v.contains(key) && v[key].is_string()) return v[key].get<std::string>();
  return "";
}

}  // namespace

Status Hub::HandleCommit(Request& req, Response& resp, RepoRef& repo, const std::string& rev) {
  if (QueryBool(req, "create_pr", false)) return Status::NotImplemented("Pull requests are not supported yet");
  MH_RETURN_IF_ERROR(auth_.CheckWrite(repo.viewer, repo.rec));
  MH_ASSIGN_OR_RETURN(auto git, OpenGit(repo.rec));
  std::string branch = rev;
  if (branch.rfind("refs/heads/", 0) == 0) branch = branch.substr(11);
  MH_ASSIGN_OR_RETURN(bool is_branch, git->IsBranch(branch));
  if (!is_branch) {
    if (git->ResolveRevision(rev).ok()) {
      return Status::InvalidArgument("Commits can only be made on a branch; '" + rev + "' is not a branch");
    }
    return RevisionNotFoundStatus(rev);
  }
  if (req.content_length > config_.max_commit_body) {
    return Status::TooLarge(fmt::format("Commit body exceeds the limit of {} bytes", config_.max_commit_body));
  }

  // ---- stream-parse the NDJSON body ----
  ParsedCommit pc;
  std::string pending;
  int64_t total = 0;
  int64_t line_no = 0;
  int64_t max_line = MaxCommitLine(config_);
  auto handle_line = [&](std::string_view line) -> Status {
    ++line_no;
    if (Trim(line).empty()) return Status::Ok();
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return Status::InvalidArgument(fmt::format("Malformed NDJSON: line {} is not a JSON object", line_no));
    }
    if (!j.contains("key") || !j["key"].is_string() || !j.contains("value") || !j["value"].is_object()) {
      return Status::InvalidArgument(fmt::format("Line {}: expected {{\"key\": ..., \"value\": {{...}}}}", line_no));
    }
    std::string key = j["key"].get<std::string>();
    const json& v = j["value"];
    if (key == "header") {
      if (pc.saw_header) return Status::InvalidArgument("Duplicate header line");
      pc.saw_header = true;
      pc.summary = StrField(v, "summary");
      pc.description = StrField(v, "description");
      if (v.contains("parentCommit") && !v["parentCommit"].is_null()) {
        std::string p = StrField(v, "parentCommit");
        if (p.size() < 4 || p.size() > 40 || !IsHex(p)) return Status::InvalidArgument("Invalid parentCommit");
        pc.parent = ToLower(p);
      }
      return Status::Ok();
    }
    std::string path = StrField(v, "path");
    if (key == "file") {
      MH_RETURN_IF_ERROR(ValidateFilePath(path));
      std::string encoding = v.contains("encoding") ? StrField(v, "encoding") : "base64";
      if (!v.contains("content") || !v["content"].is_string()) {
        return Status::InvalidArgument("Line " + std::to_string(line_no) + ": file needs \"content\"");
      }
      std::string content;
      if (encoding == "base64") {
        auto d = Base64Decode(v["content"].get_ref<const std::string&>());
        if (!d) return Status::InvalidArgument("Invalid base64 content for " + path);
        content = std::move(*d);
      } else if (encoding == "utf-8" || encoding == "utf8") {
        content = v["content"].get_ref<const std::string&>();
      } else {
        return Status::InvalidArgument("Unknown encoding '" + encoding + "' for " + path);
      }
      if (int64_t(content.size()) > config_.max_inline_file) {
        return Status::TooLarge(fmt::format("{} is larger than {} bytes, the limit for a file stored in git; upload "
                                            "it with LFS (preupload answers \"lfs\" for it)",
                                            path, config_.max_inline_file));
      }
      // A pointer file is an LFS reference whatever operation carries it: it takes the ownership
      // check of `lfsFile` below (storage/meta/object_ownership.h), never a plain blob write.
      if (auto ptr = ParseLfsPointer(content)) {
        pc.lfs.push_back({path, ptr->oid, ptr->size});
        return Status::Ok();
      }
      MH_RETURN_IF_ERROR(CheckPatternFile(path, content));
      if (path == ".gitattributes") {
        // Kept inline: LFS rules may be appended to it below.
        pc.ops.push_back({FileOp::Kind::kUpsert, path, std::move(content), ""});
      } else {
        // Written to the object store now so the commit never holds every file in memory.
        MH_ASSIGN_OR_RETURN(std::string blob, git->WriteBlob(content));
        pc.ops.push_back({FileOp::Kind::kUpsert, path, "", blob});
      }
      return Status::Ok();
    }
    if (key == "lfsFile") {
      MH_RETURN_IF_ERROR(ValidateFilePath(path));
      std::string algo = v.contains("algo") ? StrField(v, "algo") : "sha256";
      if (algo != "sha256") return Status::InvalidArgument("Unsupported LFS algo '" + algo + "'");
      std::string oid = ToLower(StrField(v, "oid"));
      if (!IsSha256Hex(oid)) return Status::InvalidArgument("Invalid LFS oid for " + path);
      int64_t size = -1;
      if (v.contains("size") && !v["size"].is_null()) {
        if (!v["size"].is_number_integer() || v["size"].get<int64_t>() < 0) {
          return Status::InvalidArgument("Invalid LFS size for " + path);
        }
        size = v["size"].get<int64_t>();
      }
      pc.lfs.push_back({path, oid, size});
      return Status::Ok();
    }
    if (key == "deletedFile") {
      MH_RETURN_IF_ERROR(ValidateFilePath(path));
      pc.ops.push_back({FileOp::Kind::kDelete, path, "", ""});
      return Status::Ok();
    }
    if (key == "deletedFolder") {
      std::string p = path;
      while (!p.empty() && p.back() == '/') p.pop_back();
      MH_RETURN_IF_ERROR(ValidateFilePath(p));
      pc.ops.push_back({FileOp::Kind::kDeleteFolder, p, "", ""});
      return Status::Ok();
    }
    if (key == "copyFile") {
      std::string src = StrField(v, "oldPath");
      if (src.empty()) src = StrField(v, "srcPath");
      MH_RETURN_IF_ERROR(ValidateFilePath(path));
      MH_RETURN_IF_ERROR(ValidateFilePath(src));
      pc.copies.push_back({src, path, StrField(v, "srcRevision")});
      return Status::Ok();
    }
    return Status::InvalidArgument(fmt::format("Line {}: unknown operation key '{}'", line_no, key));
  };

  // Memory: the unparsed NDJSON (pending) and, while a line is handled, its JSON value (the
  // parser's token buffer and the value's copy) and the decoded file: CommitMemoryCharge. That is drawn from the server-wide commit budget
  // before pending grows, so all commits in flight together stay within it. pending has two
  // sizes: kSmallLines for lines up to 1 MiB (most commits never leave it), and room for the
  // longest line allowed; a small lease leaves room for one large one (ByteBudget::GrowTo).
  const size_t small_capacity = kSmallLines;
  const size_t large_capacity = size_t(max_line) + kReadChunk;
  const int64_t small_charge = CommitMemoryCharge(small_capacity);
  const int64_t large_charge = CommitMemoryCharge(large_capacity);
  auto wait = std::chrono::milliseconds(config_.commit_memory_wait_ms);
  ByteBudget::Lease lease = commit_memory_.NewLease();
  MH_RETURN_IF_ERROR(lease.GrowTo(small_charge, wait, large_charge - small_charge));
  pending.reserve(small_capacity);
  std::vector<char> buf(kReadChunk);
  while (true) {
    MH_ASSIGN_OR_RETURN(size_t n, req.body->Read(buf.data(), buf.size()));
    if (n == 0) break;
    total += int64_t(n);
    if (total > config_.max_commit_body) {
      return Status::TooLarge(fmt::format("Commit body exceeds the limit of {} bytes", config_.max_commit_body));
    }
    if (pending.size() + n > pending.capacity()) {
      MH_RETURN_IF_ERROR(lease.GrowTo(large_charge, wait));
      pending.reserve(large_capacity);
    }
    pending.append(buf.data(), n);
    size_t start = 0;
    while (true) {
      size_t nl = pending.find('\n', start);
      if (nl == std::string::npos) break;
      MH_RETURN_IF_ERROR(handle_line(std::string_view(pending).substr(start, nl - start)));
      start = nl + 1;
    }
    pending.erase(0, start);
    if (int64_t(pending.size()) > max_line) {
      return Status::TooLarge(fmt::format(
          "NDJSON line {} is longer than {} bytes: a \"file\" entry carries at most {} bytes; upload larger files "
          "with LFS (preupload answers \"lfs\" for them)",
          line_no + 1, max_line, config_.max_inline_file));
    }
    if (pending.capacity() > small_capacity && pending.size() + kReadChunk <= small_capacity) {
      // The large line is done: give its memory back to the other commits.
      std::string small;
      small.reserve(small_capacity);
      small.append(pending);
      pending.swap(small);
      std::string().swap(small);
      lease.ShrinkTo(small_charge);
    }
  }
  if (!pending.empty()) MH_RETURN_IF_ERROR(handle_line(pending));
  std::string().swap(pending);
  lease.ShrinkTo(0);
  if (!pc.saw_header) return Status::InvalidArgument("The commit has no header line");
  if (pc.summary.empty()) pc.summary = "Upload with modelhub";
  if (pc.ops.empty() && pc.lfs.empty() && pc.copies.empty()) {
    return Status::InvalidArgument("The commit has no operations");
  }

  // ---- resolve LFS references and copies against the store / the repo ----
  // From the existence checks until the branch has moved, a GC sweep must wait: it could
  // otherwise delete an object this commit is about to reference (docs/gc-fsck.md).
  MH_ASSIGN_OR_RETURN(GcFence gc_fence, GcFence::Shared(config_.data_dir));
  MH_ASSIGN_OR_RETURN(std::string head, git->ResolveRevision(branch));
  for (auto& l : pc.lfs) {
    MH_ASSIGN_OR_RETURN(OwnershipCheck own, CheckObjectOwnership(*meta_, repo.rec.id, l.oid, l.size));
    if (own.verdict == Ownership::kNotOwned || own.verdict == Ownership::kMissing) {
      return Status::InvalidArgument(fmt::format(
          "LFS object {} for {} was never uploaded to this repository; upload it through the LFS batch API first",
          l.oid, l.path));
    }
    if (own.verdict == Ownership::kWrongSize) {
      return Status::InvalidArgument(
          fmt::format("LFS object {} has size {}, not {} as declared for {}", l.oid, own.file.size, l.size, l.path));
    }
    l.size = own.file.size;
    pc.ops.push_back({FileOp::Kind::kUpsert, l.path, FormatLfsPointer(l.oid, l.size), ""});
  }
  for (const auto& c : pc.copies) {
    std::string src_commit = head;
    if (!c.src_rev.empty()) {
      auto r = git->ResolveRevision(c.src_rev);
      if (!r.ok()) return RevisionNotFoundStatus(c.src_rev);
      src_commit = *r;
    }
    auto st = git->Stat(src_commit, c.src);
    if (!st.ok() || st->type != TreeEntry::Type::kFile) {
      return Status::NotFound("Cannot copy " + c.src + ": no such file", "EntryNotFound");
    }
    // A copied pointer takes the same check as a new one: an old revision may name an object GC
    // has removed since, or a pointer this repository never owned.
    if (st->size <= kMaxLfsPointerBytes) {
      MH_ASSIGN_OR_RETURN(std::string content, git->ReadBlob(st->oid));
      if (auto ptr = ParseLfsPointer(content)) {
        MH_ASSIGN_OR_RETURN(OwnershipCheck own, CheckObjectOwnership(*meta_, repo.rec.id, ptr->oid, ptr->size));
        if (own.verdict != Ownership::kOwned) {
          return Status::InvalidArgument(fmt::format(
              "Cannot copy {}: its LFS object {} is not stored in this repository; upload it again", c.src, ptr->oid));
        }
      }
    }
    if (c.dst == ".gitattributes" || c.dst == ".gitignore") {
      // The same limits as a pattern file written inline (path_rules.h).
      if (st->size > int64_t(kMaxPatternFileBytes)) {
        return Status::InvalidArgument(fmt::format("{} is larger than {} bytes (limit)", c.dst, kMaxPatternFileBytes));
      }
      MH_ASSIGN_OR_RETURN(std::string text, git->ReadBlob(st->oid));
      MH_RETURN_IF_ERROR(CheckPatternFile(c.dst, text));
    }
    pc.ops.push_back({FileOp::Kind::kUpsert, c.dst, "", st->oid});
  }

  // ---- make sure every LFS path is covered by .gitattributes (so git clones smudge) ----
  // The rules are parsed once per base and each LFS path matched against them (path_rules.h);
  // a retry on a new head whose .gitattributes is the same blob reuses the result.
  std::optional<std::string> attrs_source;  // blob id of the base .gitattributes ("" = none, "ops" = in the commit)
  std::optional<FileOp> attrs_op;           // the .gitattributes this commit then writes, if any
  auto ensure_attrs = [&](const std::string& base_commit, std::vector<FileOp>& ops) -> Status {
    if (pc.lfs.empty()) return Status::Ok();
    std::string attrs;
    std::string source;
    for (const auto& op : ops) {
      if (op.path == ".gitattributes" && op.kind == FileOp::Kind::kUpsert) {
        attrs = op.content;
        source = "ops";
      }
    }
    if (source.empty()) {
      auto st = git->Stat(base_commit, ".gitattributes");
      if (st.ok() && st->type == TreeEntry::Type::kFile) source = st->oid;
    }
    if (attrs_source != source) {
      attrs_op.reset();
      PatternRules rules;
      if (source == "ops") {
        MH_ASSIGN_OR_RETURN(rules, PatternRules::ParseGitAttributes(attrs));
      } else {
        MH_ASSIGN_OR_RETURN(rules, ReadPatternRules(*git, base_commit, /*attributes=*/true));
        if (!source.empty()) {
          MH_ASSIGN_OR_RETURN(attrs, git->ReadBlob(source));
        }
      }
      std::string added;
      for (const auto& l : pc.lfs) {
        MH_ASSIGN_OR_RETURN(bool tracked, rules.Matches(l.path));
        if (tracked) continue;
        added += LfsAttributeLine(l.path);
        MH_RETURN_IF_ERROR(rules.AddLfsPath(l.path));
      }
      if (!added.empty()) {
        if (!attrs.empty() && attrs.back() != '\n') attrs += '\n';
        attrs += added;
        if (attrs.size() > kMaxPatternFileBytes) {
          return Status::InvalidArgument(fmt::format(
              ".gitattributes would grow past {} bytes (limit) with a line for each of these LFS files; add a "
              "pattern that covers them (e.g. \"*.ext filter=lfs diff=lfs merge=lfs -text\")",
              kMaxPatternFileBytes));
        }
        attrs_op = FileOp{FileOp::Kind::kUpsert, ".gitattributes", std::move(attrs), ""};
      }
      attrs_source = source;
    }
    if (attrs_op) ops.push_back(*attrs_op);
    return Status::Ok();
  };

  GitSignature sig{repo.viewer.user->name, repo.viewer.user->name + "@users.noreply.modelhub", 0};
  std::string message = pc.summary;
  if (!pc.description.empty()) message += "\n\n" + pc.description;
  std::string new_commit;
  // Without parentCommit the commit applies on the latest head: retry if another writer won the race.
  for (int attempt = 0;; ++attempt) {
    std::vector<FileOp> ops = pc.ops;
    MH_RETURN_IF_ERROR(ensure_attrs(head, ops));
    auto r = git->Commit(branch, pc.parent ? pc.parent : std::optional<std::string>(head), ops, sig, message);
    if (r.ok()) {
      new_commit = *r;
      break;
    }
    if (r.status().code() == Code::kPreconditionFailed && !pc.parent && attempt < 20) {
      MH_ASSIGN_OR_RETURN(head, git->ResolveRevision(branch));
      continue;
    }
    if (r.status().code() == Code::kPreconditionFailed) {
      return Status::PreconditionFailed(
          "The branch was updated since you opened this page: parentCommit " + pc.parent.value_or(head) +
          " is not the head of " + branch);
    }
    return r.status();
  }
  for (const auto& l : pc.lfs) (void)meta_->LinkLfsObject(repo.rec.id, l.oid);
  (void)meta_->TouchRepo(repo.rec.id, NowMs());
  LogInfo("commit {} on {}@{} by {} ({} ops)", new_commit.substr(0, 12), repo.rec.FullId(), branch,
          repo.viewer.user->name, pc.ops.size());
  std::string commit_url = RepoUrl(repo.rec) + "/commit/" + new_commit;
  WriteJson(resp, 200, json{{"commitOid", new_commit}, {"commitUrl", commit_url}, {"pullRequestUrl", nullptr},
                            {"success", true}});
  return Status::Ok();
}

}  // namespace modelhub
