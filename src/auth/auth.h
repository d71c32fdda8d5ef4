// Authentication (who is calling) and authorization (what they may do).
//
// Tokens are opaque secrets "hf_<34 base62 chars>"; only their SHA-256 is
// stored. A request carries one as "Authorization: Bearer <token>" (API,
// huggingface_hub, @huggingface/hub) or as the password of HTTP Basic (git,
// git-lfs; any user name).
//
// Rules (docs/architecture.md): a private repo is indistinguishable from a
// missing one to anyone who may not read it (NotFound "RepoNotFound"); a
// reader without write rights gets Forbidden; read-role tokens never write.
// Thread-safety: stateless apart from the store; safe to share.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/meta/metadata_store.h"

namespace modelhub {

struct Viewer {
  std::optional<Account> user;  // nullopt: anonymous
  std::optional<Token> token;
  bool anonymous() const { return !user.has_value(); }
  bool is_admin() const { return user && user->is_admin; }
  bool can_write() const { return token && token->role == TokenRole::kWrite; }
};

class Authenticator {
 public:
  explicit Authenticator(MetadataStore* meta) : meta_(meta) {}

  // Missing header: anonymous. A header with an unknown, revoked or malformed
  // token: Unauthorized("Invalid credentials in Authorization header").
  Result<Viewer> Authenticate(std::optional<std::string_view> authorization);

  // NotFound(RepoNotFound) unless the viewer may read repo.
  Status CheckRead(const Viewer& v, const RepoRecord& repo);
  // As CheckRead, then Unauthorized for anonymous, Forbidden without write rights.
  Status CheckWrite(const Viewer& v, const RepoRecord& repo);
  // Delete, move, settings: the namespace owner, an org admin, or a hub admin.
  Status CheckAdmin(const Viewer& v, const RepoRecord& repo);
  // May the viewer create repositories under ns?
  Status CheckCanCreateIn(const Viewer& v, const std::string& ns);

  static std::string NewTokenSecret();
  static std::string HashToken(std::string_view secret);

 private:
  // Role of the viewer in namespace ns: nullopt (none), read, write or admin.
  Result<std::optional<OrgRole>> RoleIn(const Viewer& v, const std::string& ns);
  MetadataStore* meta_;
};

}  // namespace modelhub
