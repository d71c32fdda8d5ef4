// Validation of repository ids, file paths and LFS pointers, shared by every
// write path (HF API, git push) so that all of them refuse the same things.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace modelhub {

inline constexpr size_t kMaxPathBytes = 1024;

// ns or name: [A-Za-z0-9_.-]{1,96}, no "--" or "..", no leading/trailing '-' or '.', not ending in ".git".
Status ValidateRepoNamePart(std::string_view part, std::string_view what);
// A file path inside a repository: relative, '/'-separated, no empty, "." or
// ".." segments, no ".git" segment, no backslash, no NUL or control chars, at
// most kMaxPathBytes bytes, valid UTF-8.
Status ValidateFilePath(std::string_view path);

// ---- Unicode twins ----
// The NFC form of a UTF-8 name (canonical composition: "e" + U+0301 becomes U+00E9, U+212A
// KELVIN SIGN becomes "K"); the name itself if it is ASCII or not valid UTF-8 (ValidateFilePath
// refuses those).
std::string NfcName(std::string_view name);
// One directory may not hold two names that are the same string after NFC normalization: git
// stores both, but a checkout on macOS and the Hub's tree show one file where there are two.
// `entries`: the directory's names after a change (added ones included); `added`: the names the
// change brings into it. InvalidArgument, naming both spellings, if an added name has an NFC
// twin among the entries; twins already present before the change are left alone. `dir` is the
// directory's path for the message ("" for the root, else ending in '/'). Every write path (the
// HTTP commit through repo/tree_editor, git push through the pre-receive hook) applies it.
Status CheckNfcTwins(std::string_view dir, const std::vector<std::string>& entries,
                     const std::vector<std::string>& added);

// git-lfs pointer files are ~130 bytes; git-lfs reads nothing larger as a pointer. A blob is
// read as a pointer only if it is at most this size and ParseLfsPointer accepts it: every
// reader and every writer (commit, push) uses this same test.
inline constexpr int64_t kMaxLfsPointerBytes = 1024;

struct LfsPointer {
  std::string oid;  // sha256 hex
  int64_t size = 0;
};
std::string FormatLfsPointer(const std::string& oid, int64_t size);
// Parses a git-lfs pointer file; nullopt if content is not one (also if it is larger than
// kMaxLfsPointerBytes).
std::optional<LfsPointer> ParseLfsPointer(std::string_view content);

// ---- .gitattributes / .gitignore ----
//
// A pattern file is parsed once into a PatternRules value, and each path is matched against the
// parsed list (never the text re-read per path). Patterns are the subset HF repos use: '*', '?',
// '[...]' (with [:class:] names), '**', patterns with and without '/', a leading '/' anchors, a
// trailing '/' names a directory. One pattern against one path costs O(|pattern| * |path| / 64)
// word operations (a bit-parallel simulation over the path's positions, no backtracking);
// patterns without wildcards (the lines LfsAttributeLine writes) are looked up by hash.
//
// Limits, enforced wherever a pattern file is read or written (HF commit, preupload, git push),
// each refused with InvalidArgument naming the limit:
inline constexpr size_t kMaxPatternFileBytes = 4 << 20;  // one .gitattributes / .gitignore
// One line. git itself ignores longer .gitattributes lines (attr.c, ATTR_MAX_LINE_LENGTH).
inline constexpr size_t kMaxPatternLineBytes = 2048;
inline constexpr size_t kMaxPatternRules = 100'000;  // pattern lines per file
// The patterns with wildcards ('*', '?', '[') of one file, summed: these are the ones every path
// is matched against one by one.
inline constexpr size_t kMaxWildcardPatternBytes = 64 << 10;
// Matching work one PatternRules value may do in total (word operations; ~0.5 s of CPU), so
// that no request (a commit of many LFS paths, a preupload of 1000 files) runs unbounded.
inline constexpr int64_t kPatternMatchBudget = int64_t(1) << 27;

// The parsed rules of one .gitattributes (the filter=lfs state) or .gitignore (ignored or not).
// A value type; not thread-safe (Matches spends the value's work budget): one per request.
class PatternRules {
 public:
  PatternRules();
  ~PatternRules();
  PatternRules(PatternRules&&) noexcept;
  PatternRules& operator=(PatternRules&&) noexcept;

  // .gitattributes text: a path matches if the last line matching it that sets or unsets the
  // filter attribute says filter=lfs ("-filter", "!filter" and other filters unset it).
  // InvalidArgument if the text exceeds a limit above.
  static Result<PatternRules> ParseGitAttributes(std::string_view text);
  // .gitignore text: last match wins, '!' negates. InvalidArgument if it exceeds a limit.
  static Result<PatternRules> ParseGitIgnore(std::string_view text);

  // Appends the rule LfsAttributeLine(path) writes (same limits as parsing it).
  Status AddLfsPath(std::string_view path);
  // True if the rules mark path (LFS-tracked or ignored). InvalidArgument once this value has
  // spent kPatternMatchBudget; paths longer than 4 * kMaxPathBytes never match.
  Result<bool> Matches(std::string_view path);
  // Work spent so far (word operations), for tests.
  int64_t work() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One pattern against one path (.gitignore syntax, no negation). Patterns longer than
// kMaxPatternLineBytes never match, nor does an empty path.
bool GitPatternMatch(std::string_view pattern, std::string_view path);
// One-off forms: parse the text and match one path (false if the text exceeds a limit).
// For many paths, parse once with PatternRules.
bool IsLfsTracked(std::string_view gitattributes, std::string_view path);
bool IsIgnored(std::string_view gitignore, std::string_view path);
// The line added to .gitattributes for an LFS file no rule covers: the path with its glob
// characters escaped and spaces as "[[:space:]]" (as git-lfs writes them). If that line would be
// longer than kMaxPatternLineBytes, each such character becomes '?' instead (the rule then also
// covers look-alike names, which is harmless: git-lfs passes non-pointer content through).
std::string LfsAttributeLine(std::string_view path);

// The .gitattributes HF seeds new repositories with.
std::string DefaultGitAttributes(bool dataset);

}  // namespace modelhub
