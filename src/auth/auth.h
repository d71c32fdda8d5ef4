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

#include "auth/access_grant.h"
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

  // The grant a signed URL or Xet token carries for what v may do on repo now (write: CheckWrite
  // passed), expiring at exp_s (auth/access_grant.h).
  static AccessGrant GrantFor(const Viewer& v, const RepoRecord& repo, bool write, int64_t exp_s);
  // Re-checks a verified grant at use, with the rules above: its token still exists, is not revoked
  // and belongs to its user (else Unauthorized), its repository still exists (else NotFound
  // RepoNotFound), and that viewer may still read it (write grants: write it) — else what
  // CheckRead/CheckWrite answer. Returns the repository. Costs one primary-key lookup for an
  // anonymous grant, three for a token's (two more for an org's private repository); nothing is
  // cached, so a revocation or a privacy change made by any process holds at the next use.
  Result<RepoRecord> CheckGrant(const AccessGrant& g);

  static std::string NewTokenSecret();
  static std::string HashToken(std::string_view secret);

 private:
  // The viewer a grant was issued to, as it stands now (Unauthorized if its token was revoked).
  Result<Viewer> ViewerOfGrant(const AccessGrant& g);
  // Role of the viewer in namespace ns: nullopt (none), read, write or admin.
  Result<std::optional<OrgRole>> RoleIn(const Viewer& v, const std::string& ns);
  MetadataStore* meta_;
};

}  // namespace modelhub
