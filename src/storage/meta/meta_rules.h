// Rules both MetadataStore backends apply the same way: how enumerations are
// stored as text, the checks on arguments (which may come straight from
// requests), and the messages callers see. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/meta/metadata_store.h"

namespace modelhub {

// ---- Enumerations as stored text (Corruption for a value no version wrote) ----
const char* AccountKindName(AccountKind k);  // "user" | "org"
Result<AccountKind> ParseAccountKind(const std::string& s);
Result<TokenRole> ParseTokenRole(const std::string& s);
Result<RepoType> ParseRepoType(const std::string& s);

// ---- Names: unique and looked up case-insensitively (as on the Hub) ----
// Account and repository names compare after ASCII lower-casing (the names the API accepts are
// ASCII: repo/path_rules.h ValidateRepoNamePart). The folding is SQLite's built-in lower() and
// PostgreSQL's lower() of COLLATE "C" text, which the unique indexes use; FoldName is the same
// function on this side. Case twins stored before schema version 5 are kept: a lookup prefers
// the row spelled exactly as asked, else the oldest; no new twin can be created.
std::string FoldName(const std::string& name);
// The Conflict messages for a taken name; `existing` is the stored spelling.
std::string NameTakenMessage(const std::string& name, const std::string& existing);
std::string RepoTakenMessage(RepoType type, const std::string& ns, const std::string& name,
                             const std::string& existing);

// ---- Input checks ----
// Account and repository names: non-empty, no '/', no NUL (else InvalidArgument).
Status CheckName(std::string_view what, const std::string& name);
bool IsLowerSha256Hex(const std::string& s);
Status CheckSha256(std::string_view what, const std::string& hex);  // InvalidArgument unless IsLowerSha256Hex
bool IsUrlSafe(const std::string& s);                                // [A-Za-z0-9._~-]+

// ---- Messages ----
// Replaces the message of a Conflict (the database's "unique constraint ..." text)
// with one a caller can show; other statuses pass through.
Status Explain(Status s, const std::string& conflict_msg);
std::string RepoNotFoundMessage(int64_t id);

}  // namespace modelhub
