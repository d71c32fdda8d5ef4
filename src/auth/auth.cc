#include "auth/auth.h"

#include "common/fs.h"
#include "common/strings.h"
#include "crypto/sha256.h"

namespace modelhub {

namespace {
const char kInvalidCredentials[] = "Invalid credentials in Authorization header";
}

std::string Authenticator::NewTokenSecret() {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string raw = RandomBytes(34);
  std::string out = "hf_";
  for (unsigned char c : raw) out += kAlphabet[c % 62];  // 256 % 62 bias is negligible for 34 chars of entropy
  return out;
}

std::string Authenticator::HashToken(std::string_view secret) { return Sha256Hex(secret); }

Result<Viewer> Authenticator::Authenticate(std::optional<std::string_view> authorization) {
  Viewer v;
  if (!authorization || Trim(*authorization).empty()) return v;
  std::string h = Trim(*authorization);
  std::string secret;
  std::string lower = ToLower(h.substr(0, 7));
  if (lower.rfind("bearer ", 0) == 0) {
    secret = Trim(std::string_view(h).substr(7));
  } else if (lower.rfind("basic ", 0) == 0) {
    auto decoded = Base64Decode(Trim(std::string_view(h).substr(6)));
    if (!decoded) return Status::Unauthorized(kInvalidCredentials);
    auto colon = decoded->find(':');
    if (colon == std::string::npos) return Status::Unauthorized(kInvalidCredentials);
    secret = decoded->substr(colon + 1);
  } else {
    return Status::Unauthorized(kInvalidCredentials);
  }
  if (secret.empty() || secret.size() > 256) return Status::Unauthorized(kInvalidCredentials);
  auto token = meta_->FindTokenBySecretHash(HashToken(secret));
  if (!token.ok()) {
    if (token.status().IsNotFound()) return Status::Unauthorized(kInvalidCredentials);
    return token.status();
  }
  MH_ASSIGN_OR_RETURN(Account user, meta_->GetAccountById(token->user_id));
  v.user = std::move(user);
  v.token = std::move(token).value();
  return v;
}

Result<std::optional<OrgRole>> Authenticator::RoleIn(const Viewer& v, const std::string& ns) {
  if (!v.user) return std::optional<OrgRole>();
  if (v.user->is_admin || v.user->name == ns) return std::optional<OrgRole>(OrgRole::kAdmin);
  auto owner = meta_->GetAccount(ns);
  if (!owner.ok()) {
    if (owner.status().IsNotFound()) return std::optional<OrgRole>();
    return owner.status();
  }
  // Names are case-insensitive: "Alice" is alice's own namespace.
  if (owner->id == v.user->id) return std::optional<OrgRole>(OrgRole::kAdmin);
  if (owner->kind != AccountKind::kOrg) return std::optional<OrgRole>();
  return meta_->GetMemberRole(owner->id, v.user->id);
}

static Status RepoNotFound() {
  return Status::NotFound(
      "Repository not found. Check the repo id and type, and that you are authenticated with a token that may read it.",
      "RepoNotFound");
}

Status Authenticator::CheckRead(const Viewer& v, const RepoRecord& repo) {
  if (!repo.is_private) return Status::Ok();
  MH_ASSIGN_OR_RETURN(auto role, RoleIn(v, repo.ns));
  if (role) return Status::Ok();
  return RepoNotFound();
}

Status Authenticator::CheckWrite(const Viewer& v, const RepoRecord& repo) {
  MH_RETURN_IF_ERROR(CheckRead(v, repo));
  if (v.anonymous()) return Status::Unauthorized("You must be authenticated with a write token to modify this repository");
  MH_ASSIGN_OR_RETURN(auto role, RoleIn(v, repo.ns));
  if (!role || *role == OrgRole::kRead) {
    return Status::Forbidden("You don't have write access to " + repo.FullId());
  }
  if (!v.can_write()) return Status::Forbidden("This token has the read role; a write token is needed to modify " + repo.FullId());
  return Status::Ok();
}

Status Authenticator::CheckAdmin(const Viewer& v, const RepoRecord& repo) {
  MH_RETURN_IF_ERROR(CheckWrite(v, repo));
  MH_ASSIGN_OR_RETURN(auto role, RoleIn(v, repo.ns));
  if (!role || *role != OrgRole::kAdmin) {
    return Status::Forbidden("Only the owner or an admin of " + repo.ns + " may do this");
  }
  return Status::Ok();
}

Status Authenticator::CheckCanCreateIn(const Viewer& v, const std::string& ns) {
  if (v.anonymous()) return Status::Unauthorized("You must be authenticated to create a repository");
  if (!v.can_write()) return Status::Forbidden("This token has the read role; a write token is needed to create repositories");
  MH_ASSIGN_OR_RETURN(auto role, RoleIn(v, ns));
  if (!role || *role == OrgRole::kRead) {
    return Status::Forbidden("You don't have the rights to create a repository under the namespace '" + ns + "'");
  }
  return Status::Ok();
}

AccessGrant Authenticator::GrantFor(const Viewer& v, const RepoRecord& repo, bool write, int64_t exp_s) {
  AccessGrant g;
  g.repo_id = repo.id;
  g.write = write;
  g.exp_s = exp_s;
  g.user_id = v.user ? v.user->id : 0;
  g.token_id = v.token ? v.token->id : 0;
  return g;
}

Result<Viewer> Authenticator::ViewerOfGrant(const AccessGrant& g) {
  Viewer v;
  if (g.user_id == 0 && g.token_id == 0) return v;  // anonymous
  const char kRevoked[] = "The access token this URL or Xet token was issued to has been revoked";
  if (g.token_id != 0) {
    auto token = meta_->GetTokenById(g.token_id);
    if (!token.ok()) {
      if (token.status().IsNotFound()) return Status::Unauthorized(kRevoked);
      return token.status();
    }
    if (token->revoked || token->user_id != g.user_id) return Status::Unauthorized(kRevoked);
    v.token = std::move(token).value();
  }
  auto user = meta_->GetAccountById(g.user_id);
  if (!user.ok()) {
    if (user.status().IsNotFound()) return Status::Unauthorized(kRevoked);
    return user.status();
  }
  v.user = std::move(user).value();
  return v;
}

Result<RepoRecord> Authenticator::CheckGrant(const AccessGrant& g) {
  auto repo = meta_->GetRepoById(g.repo_id);
  if (!repo.ok()) {
    if (repo.status().IsNotFound()) return RepoNotFound();
    return repo.status();
  }
  MH_ASSIGN_OR_RETURN(Viewer v, ViewerOfGrant(g));
  MH_RETURN_IF_ERROR(g.write ? CheckWrite(v, *repo) : CheckRead(v, *repo));
  return repo;
}

}  // namespace modelhub
