// fuzz_path_rules: repo/path_rules.h — file path and repo name validation, NFC
// twins, LFS pointer parsing, and the .gitattributes / .gitignore glob matcher. Paths and
// names come from every write route; pointers from repository blobs; pattern
// text from committed .gitattributes/.gitignore files and from the
// "gitAttributes"/"gitIgnore" fields of a preupload body.
//
// Input: "<path>\n<pattern text>" — the first line is the path, the rest is
// used as .gitattributes text, as .gitignore text, as one pattern (its first
// line) and as an LFS pointer file.
//
// Checks: accepted paths/names really follow the documented rules; a parsed
// LFS pointer round-trips through FormatLfsPointer; a path without glob
// characters matches itself as a pattern; the .gitattributes line written for
// an LFS file no rule covers (LfsAttributeLine) does cover it; NfcName is
// idempotent and CheckNfcTwins flags a valid path beside its NFC form exactly
// when the two differ; the parsed rules (PatternRules) agree with the
// one-pattern matcher; and the matching work is linear in the pattern text
// (bit-parallel: at most a constant times the pattern bytes times the path's
// 64-bit words), never |pattern| x |path| backtracking.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/strings.h"
#include "fuzz_util.h"
#include "repo/path_rules.h"

namespace modelhub {
namespace {

using fuzz::Quote;

void CheckFilePath(std::string_view path) {
  Status s = ValidateFilePath(path);
  if (!s.ok()) {
    FUZZ_CHECK(s.code() == Code::kInvalidArgument, "ValidateFilePath({}): {}", Quote(path), s.ToString());
    return;
  }
  FUZZ_CHECK(!path.empty() && path.size() <= kMaxPathBytes && path.front() != '/', "accepted path {}", Quote(path));
  for (char c : path) {
    unsigned char u = static_cast<unsigned char>(c);
    FUZZ_CHECK(c != '\\' && u >= 0x20 && u != 0x7f, "accepted path {} has a forbidden byte", Quote(path));
  }
  for (const auto& seg : Split(path, '/')) {
    FUZZ_CHECK(!seg.empty() && seg != "." && seg != ".." && ToLower(seg) != ".git",
               "accepted path {} has segment {}", Quote(path), Quote(seg));
  }
}

void CheckRepoName(std::string_view part) {
  Status s = ValidateRepoNamePart(part, "name");
  if (!s.ok()) return;
  FUZZ_CHECK(!part.empty() && part.size() <= 96, "accepted name {}", Quote(part));
  for (char c : part) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.';
    FUZZ_CHECK(ok, "accepted name {} has a forbidden character", Quote(part));
  }
  FUZZ_CHECK(part.find("--") == std::string_view::npos && part.find("..") == std::string_view::npos &&
                 part.front() != '-' && part.front() != '.' && part.back() != '-' && part.back() != '.' &&
                 !(part.size() >= 4 && ToLower(part.substr(part.size() - 4)) == ".git"),
             "accepted name {}", Quote(part));
}

void CheckLfsPointer(std::string_view content) {
  auto p = ParseLfsPointer(content);
  if (!p) return;
  FUZZ_CHECK(p->oid.size() == 64 && p->size >= 0, "pointer {} parsed to oid {} size {}", Quote(content),
             Quote(p->oid), p->size);
  for (char c : p->oid) FUZZ_CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'), "oid {}", Quote(p->oid));
  std::string text = FormatLfsPointer(p->oid, p->size);
  auto q = ParseLfsPointer(text);
  FUZZ_CHECK(q && q->oid == p->oid && q->size == p->size, "pointer {} does not round-trip (formatted {})",
             Quote(content), Quote(text));
}

}  // namespace
}  // namespace modelhub

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t len) {
  using namespace modelhub;
  std::string_view in(reinterpret_cast<const char*>(data), len);
  auto nl = in.find('\n');
  std::string_view path = in.substr(0, nl);
  std::string_view text = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  std::string_view pattern = text.substr(0, text.find('\n'));

  CheckFilePath(path);
  CheckRepoName(path);
  CheckLfsPointer(text);
  CheckLfsPointer(in);

  bool one = GitPatternMatch(pattern, path);
  (void)IsLfsTracked(text, path);
  (void)IsIgnored(text, path);

  // The parsed .gitignore rules of the single pattern agree with GitPatternMatch, and the work of
  // matching all of text's rules is bounded by the pattern text's size times the path's words.
  if (!pattern.empty() && pattern[0] != '!' && pattern[0] != '#' && Trim(pattern) == pattern) {
    auto single = PatternRules::ParseGitIgnore(pattern);
    if (single.ok()) {
      auto m = single->Matches(path);
      FUZZ_CHECK(m.ok() && *m == one, "PatternRules({}) and GitPatternMatch disagree on {}", fuzz::Quote(pattern),
                 fuzz::Quote(path));
    }
  }
  for (bool attributes : {true, false}) {
    auto rules = attributes ? PatternRules::ParseGitAttributes(text) : PatternRules::ParseGitIgnore(text);
    if (!rules.ok()) continue;
    auto m = rules->Matches(path);
    FUZZ_CHECK(m.ok(), "Matches: {}", m.status().ToString());
    int64_t words = int64_t(path.size() + 1 + 63) / 64;
    // Per token one pass over the words; a bracket also ORs one mask per distinct path byte.
    int64_t bound = (int64_t(text.size()) + 2) * words * 257 + int64_t(path.size());
    FUZZ_CHECK(rules->work() <= bound, "matching {} against {} bytes of rules took {} steps (bound {})",
               fuzz::Quote(path), text.size(), rules->work(), bound);
  }

  if (ValidateFilePath(path).ok()) {
    // NFC is idempotent, and a name is an NFC twin of its NFC form exactly when they differ.
    std::string nfc = NfcName(path);
    FUZZ_CHECK(NfcName(nfc) == nfc, "NfcName not idempotent on {}: {}", fuzz::Quote(path), fuzz::Quote(nfc));
    std::string name(path);
    Status twins = CheckNfcTwins("", {name, nfc}, {name});
    FUZZ_CHECK(twins.ok() == (nfc == name), "CheckNfcTwins({}, NFC {}): {}", fuzz::Quote(path), fuzz::Quote(nfc),
               twins.ToString());
    if (path.find_first_of("*?[\\") == std::string_view::npos) {
      FUZZ_CHECK(GitPatternMatch(path, path), "path {} does not match itself as a pattern", fuzz::Quote(path));
    }
    std::string line = LfsAttributeLine(path);
    FUZZ_CHECK(IsLfsTracked(line, path), "LfsAttributeLine({}) = {} does not track it", fuzz::Quote(path),
               fuzz::Quote(line));
  }
  return 0;
}
