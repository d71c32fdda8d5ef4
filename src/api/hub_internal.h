// Private helpers shared by the hub_*.cc files. Not part of the API surface.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/hub.h"
#include "repo/path_rules.h"
#include "storage/meta/object_ownership.h"

namespace modelhub {

using json = nlohmann::json;

// A response body read from a BlobReader (files, reconstructions, xorb ranges).
class ReaderSource : public BodySource {
 public:
  explicit ReaderSource(std::unique_ptr<BlobReader> r) : r_(std::move(r)) {}
  // r_ is null for HEAD responses, whose body is never read.
  Result<size_t> Read(char* buf, size_t n) override { return r_ ? r_->Read(buf, n) : Result<size_t>(size_t(0)); }
  std::optional<std::pair<int, int64_t>> FileRange() const override {
    return r_ ? r_->FileRange() : std::nullopt;
  }
  bool HasViews() const override { return r_ && r_->HasViews(); }
  Result<std::string_view> ReadView(size_t n) override { return r_->ReadView(n); }

 private:
  std::unique_ptr<BlobReader> r_;
};

struct RepoRef {
  RepoRecord rec;
  Viewer viewer;
};

// The one place Status codes become HTTP statuses.
int HttpStatusFor(const Status& s);
void WriteError(Response& resp, const Status& s);
void WriteJson(Response& resp, int status, const json& j);

// Parses a JSON request body (size-limited). InvalidArgument on malformed JSON.
Result<json> ReadJsonBody(Request& req, int64_t max_bytes);

// Query/body parameter helpers.
bool QueryBool(const Request& req, const std::string& name, bool dflt);
// A non-negative integer query parameter (a page size or an offset cursor): dflt when absent,
// at most max; InvalidArgument when not a non-negative integer.
Result<int64_t> PageParam(const Request& req, const char* name, int64_t dflt, int64_t max);

// One page of an offset-paged listing of `total` items: items [begin, end) from `cursor`, at
// most `limit` of them; `next` is the cursor of the following page, or -1 when this page is the
// last. A cursor at or past the end gives an empty page and no next page. Negative inputs count
// as 0; nothing overflows, whatever the inputs (every listing that pages by offset uses this).
struct PageSpan {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t next = -1;
};
PageSpan PageOf(int64_t total, int64_t cursor, int64_t limit);
std::string JoinDecoded(const std::vector<std::string>& segs, size_t from);
Result<std::string> DecodeSegment(const std::string& raw);

RepoType RepoTypeFromPlural(const std::string& s, bool* ok);
std::string RepoTypePlural(RepoType t);
// URL prefix of a repo's file routes: "" for models, "datasets/" for datasets.
std::string RepoPathPrefix(RepoType t);

// The root .gitattributes (attributes = true) or .gitignore of commit, parsed once for every path
// a request matches (repo/path_rules.h); no rules if the file does not exist. InvalidArgument if
// the file exceeds a pattern file limit (it is then not read at all).
Result<PatternRules> ReadPatternRules(GitRepo& git, const std::string& commit, bool attributes);
// Refuses a .gitattributes / .gitignore that a commit writes if it exceeds a pattern file limit:
// the same check as a git push (server/git_hook.cc), so no write path stores one the others refuse.
Status CheckPatternFile(const std::string& path, std::string_view content);

// The longest NDJSON line a commit accepts (a max_inline_file "file" entry in base64), and the
// smallest commit memory budget with which such a line can be parsed (hub_commit.cc).
int64_t MaxCommitLine(const HubConfig& config);
int64_t MinCommitMemoryBudget(const HubConfig& config);

Status RepoNotFoundStatus();
Status RevisionNotFoundStatus(const std::string& rev);
Status EntryNotFoundStatus(const std::string& path);

}  // namespace modelhub
