// .gitmodules checks, shared by every write path (the HTTP commit through
// repo/tree_editor, git push through the pre-receive hook).
//
// A .gitmodules file tells git where to fetch submodules from. Its values reach
// git's command line when someone clones recursively, so git's fsck refuses
// values that would be read as options or commands (CVE-2018-17456 and kin).
// CheckGitmodules applies the same rules as git 2.39's fsck (fsck.c,
// "gitmodules*" checks), to the entries of [submodule "<name>"] sections:
//   - name: not empty, no ".." path component ('/' or '\' separated);
//   - url: not starting with '-', and no newline once percent-decoded (a
//     newline would smuggle a second credential-helper field);
//   - path: not starting with '-';
//   - update: not a "!command".
// Unlike git's fsck, which only notes it, text git's config parser cannot read
// is refused too: such a file is useless to git (every submodule command stops
// on it) and refusing it means no difference between the two parsers can hide
// one of the values above.
//
// Content is untrusted bytes (fuzzed: tests/fuzz/fuzz_gitmodules.cc). Pure
// functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace modelhub {

// True if a file at this repository path is read by git as a .gitmodules: its last
// segment is ".gitmodules" in any letter case, also with what NTFS (trailing dots and
// spaces, the 8.3 name "gitmod~1") and HFS+ (ignorable code points) would drop.
bool IsGitmodulesPath(std::string_view path);

// One "key = value" line of a git config file, as git's parser reads it.
struct GitConfigEntry {
  std::string section;     // lower-cased
  std::string subsection;  // as written (case-sensitive); empty if none
  bool has_subsection = false;
  std::string key;                   // lower-cased
  std::optional<std::string> value;  // nullopt for a bare "key" (boolean true)
  int line = 0;                      // 1-based line of the key
};

// Parses git config text (sections, "subsections", legacy [section.sub], quotes, escapes,
// comments, line continuations, a UTF-8 BOM, CRLF). InvalidArgument naming the line where
// git's parser would stop too. Linear in the input size.
Result<std::vector<GitConfigEntry>> ParseGitConfig(std::string_view text);

// Ok, or InvalidArgument saying which entry git's fsck would refuse (or where the text stops
// parsing). The message names the file as `shown_path`.
Status CheckGitmodules(std::string_view content, std::string_view shown_path = ".gitmodules");

}  // namespace modelhub
