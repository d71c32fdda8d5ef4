// Validation of repository ids, file paths and LFS pointers, shared by every
// write path (HF API, git push) so that all of them refuse the same things.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
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

// .gitattributes / .gitignore pattern matching (the subset HF repos use:
// '*', '?', '[...]', '**', patterns with and without '/').
bool GitPatternMatch(std::string_view pattern, std::string_view path);
// True if a .gitattributes text marks path with filter=lfs (last match wins,
// "-filter" / "!filter" unset it).
bool IsLfsTracked(std::string_view gitattributes, std::string_view path);
// True if a .gitignore text ignores path (last match wins; '!' negates).
bool IsIgnored(std::string_view gitignore, std::string_view path);
// The line added to .gitattributes for an LFS file no rule covers.
std::string LfsAttributeLine(std::string_view path);

// The .gitattributes HF seeds new repositories with.
std::string DefaultGitAttributes(bool dataset);

}  // namespace modelhub
