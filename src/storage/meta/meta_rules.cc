#include "storage/meta/meta_rules.h"

#include <algorithm>

#include "common/strings.h"

namespace modelhub {

// ---- Enumerations as stored text ----

const char* AccountKindName(AccountKind k) { return k == AccountKind::kOrg ? "org" : "user"; }

Result<AccountKind> ParseAccountKind(const std::string& s) {
  if (s == "user") return AccountKind::kUser;
  if (s == "org") return AccountKind::kOrg;
  return Status::Corruption("accounts.kind has unknown value '" + s + "'");
}

Result<TokenRole> ParseTokenRole(const std::string& s) {
  for (TokenRole r : {TokenRole::kRead, TokenRole::kWrite}) {
    if (s == TokenRoleName(r)) return r;
  }
  return Status::Corruption("tokens.role has unknown value '" + s + "'");
}

Result<RepoType> ParseRepoType(const std::string& s) {
  for (RepoType t : {RepoType::kModel, RepoType::kDataset}) {
    if (s == RepoTypeName(t)) return t;
  }
  return Status::Corruption("repos.type has unknown value '" + s + "'");
}

// ---- Names ----

std::string FoldName(const std::string& name) { return ToLower(name); }

std::string NameTakenMessage(const std::string& name, const std::string& existing) {
  if (existing == name) return "the name '" + name + "' is already taken";
  return "the name '" + name + "' is already taken (as '" + existing + "'; names are case-insensitive)";
}

std::string RepoTakenMessage(RepoType type, const std::string& ns, const std::string& name,
                             const std::string& existing) {
  std::string msg = std::string(RepoTypeName(type)) + " repository '" + ns + "/" + name + "' already exists";
  if (existing != name) msg += " (as '" + ns + "/" + existing + "'; names are case-insensitive)";
  return msg;
}

// ---- Input checks (arguments may come straight from requests) ----

Status CheckName(std::string_view what, const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name.find('\0') != std::string::npos) {
    return Status::InvalidArgument(std::string(what) + " must be non-empty without '/' or NUL: '" + name + "'");
  }
  return Status::Ok();
}

bool IsLowerSha256Hex(const std::string& s) {
  return s.size() == 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

Status CheckSha256(std::string_view what, const std::string& hex) {
  if (!IsLowerSha256Hex(hex)) return Status::InvalidArgument(std::string(what) + " must be 64 lowercase hex digits");
  return Status::Ok();
}

bool IsUrlSafe(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' ||
           c == '.' || c == '~';
  });
}

Status Explain(Status s, const std::string& conflict_msg) {
  if (s.code() == Code::kConflict) return Status::Conflict(conflict_msg);
  return s;
}

std::string RepoNotFoundMessage(int64_t id) { return "repository #" + std::to_string(id) + " not found"; }

}  // namespace modelhub
