// MetadataStore conformance suite: the behaviour every backend must show.
// Backends instantiate it (see metadata_store_test.h); this file names none.
#include "storage/meta/metadata_store_test.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "common/time_util.h"
#include "storage/meta/object_ownership.h"

namespace modelhub {
namespace test {
namespace {

// A well-formed sha256 hex string, distinct for distinct n.
std::string Hex64(int n) { return fmt::format("{:064x}", n); }

std::vector<std::string> FullIds(const std::vector<RepoRecord>& repos) {
  std::vector<std::string> out;
  for (const RepoRecord& r : repos) out.push_back(r.FullId());
  return out;
}

std::set<std::string> FullIdSet(const std::vector<RepoRecord>& repos) {
  auto v = FullIds(repos);
  return {v.begin(), v.end()};
}

std::vector<int64_t> RepoIds(const std::vector<RepoRecord>& repos) {
  std::vector<int64_t> out;
  for (const RepoRecord& r : repos) out.push_back(r.id);
  return out;
}

void ExpectSameRepo(const RepoRecord& a, const RepoRecord& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.ns, b.ns);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.is_private, b.is_private);
  EXPECT_EQ(a.created_ms, b.created_ms);
  EXPECT_EQ(a.last_modified_ms, b.last_modified_ms);
}

}  // namespace

void CheckCaseTwinsAfterMigration(MetadataStore& store) {
  // Nothing is lost: every twin stays reachable by its exact spelling.
  MH_ASSERT_OK_AND_ASSIGN(Account bob, store.GetAccount("bob"));
  MH_ASSERT_OK_AND_ASSIGN(Account bob2, store.GetAccount("Bob"));
  MH_ASSERT_OK_AND_ASSIGN(Account bob3, store.GetAccount("BOB"));
  EXPECT_EQ(bob.name, "bob");
  EXPECT_EQ(bob2.name, "Bob");
  EXPECT_EQ(bob3.name, "BOB");
  EXPECT_EQ(bob3.kind, AccountKind::kOrg);
  EXPECT_LT(bob.id, bob2.id);
  EXPECT_LT(bob2.id, bob3.id);
  // Another spelling finds the oldest.
  MH_ASSERT_OK_AND_ASSIGN(Account other, store.GetAccount("bOB"));
  EXPECT_EQ(other.id, bob.id);
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord x, store.GetRepo(RepoType::kModel, "bob", "x"));
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord big_x, store.GetRepo(RepoType::kModel, "bob", "X"));
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord data, store.GetRepo(RepoType::kDataset, "BoB", "X"));
  EXPECT_EQ(x.name, "x");
  EXPECT_EQ(big_x.name, "X");
  EXPECT_NE(x.id, big_x.id);
  EXPECT_EQ(data.FullId(), "bob/x");
  MH_ASSERT_OK_AND_ASSIGN(auto all, store.ListAllRepos());
  EXPECT_EQ(all.size(), 3u);
  // The namespace resolves first (exactly "Bob"), then the name within it: Bob has no repos.
  MH_EXPECT_CODE(store.GetRepo(RepoType::kModel, "Bob", "x"), kNotFound);

  // No new twin, in any casing, also after the oldest of a group is gone.
  MH_EXPECT_CODE(store.CreateUser("boB", false), kConflict);
  MH_EXPECT_CODE(store.CreateOrg("BOb", "bob"), kConflict);
  MH_EXPECT_CODE(store.CreateRepo(RepoType::kModel, "bob", "x", false), kConflict);
  MH_ASSERT_OK(store.DeleteRepo(x.id));
  MH_EXPECT_CODE(store.CreateRepo(RepoType::kModel, "bob", "x", false), kConflict);
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord found, store.GetRepo(RepoType::kModel, "bob", "x"));
  EXPECT_EQ(found.id, big_x.id);
  // Renamed, a twin frees its old name and owns its new one.
  MH_ASSERT_OK(store.MoveRepo(big_x.id, "bob", "y"));
  MH_ASSERT_OK(store.CreateRepo(RepoType::kModel, "bob", "X", false));
  MH_EXPECT_CODE(store.CreateRepo(RepoType::kModel, "bob", "Y", false), kConflict);
}

namespace {

TEST(MetadataStoreEnums, NamesAndParse) {
  EXPECT_STREQ(TokenRoleName(TokenRole::kRead), "read");
  EXPECT_STREQ(TokenRoleName(TokenRole::kWrite), "write");
  EXPECT_STREQ(OrgRoleName(OrgRole::kRead), "read");
  EXPECT_STREQ(OrgRoleName(OrgRole::kWrite), "write");
  EXPECT_STREQ(OrgRoleName(OrgRole::kAdmin), "admin");
  EXPECT_STREQ(RepoTypeName(RepoType::kModel), "model");
  EXPECT_STREQ(RepoTypeName(RepoType::kDataset), "dataset");
  for (OrgRole r : {OrgRole::kRead, OrgRole::kWrite, OrgRole::kAdmin}) {
    auto parsed = ParseOrgRole(OrgRoleName(r));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, r);
  }
  MH_EXPECT_CODE(ParseOrgRole("owner"), kInvalidArgument);
  MH_EXPECT_CODE(ParseOrgRole(""), kInvalidArgument);
}

// ---- Accounts ----

TEST_P(MetadataStoreConformance, CreateAndGetUser) {
  int64_t before = NowMs();
  MH_ASSERT_OK_AND_ASSIGN(Account alice, store().CreateUser("alice", false));
  EXPECT_GT(alice.id, 0);
  EXPECT_EQ(alice.name, "alice");
  EXPECT_EQ(alice.kind, AccountKind::kUser);
  EXPECT_FALSE(alice.is_admin);
  EXPECT_GE(alice.created_ms, before);
  EXPECT_LE(alice.created_ms, NowMs());

  MH_ASSERT_OK_AND_ASSIGN(Account root, store().CreateUser("root", true));
  EXPECT_TRUE(root.is_admin);
  EXPECT_NE(root.id, alice.id);

  for (auto got : {store().GetAccount("alice"), store().GetAccountById(alice.id)}) {
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->id, alice.id);
    EXPECT_EQ(got->name, "alice");
    EXPECT_EQ(got->kind, AccountKind::kUser);
    EXPECT_FALSE(got->is_admin);
    EXPECT_EQ(got->created_ms, alice.created_ms);
  }
  MH_ASSERT_OK_AND_ASSIGN(Account root2, store().GetAccount("root"));
  EXPECT_TRUE(root2.is_admin);

  MH_EXPECT_CODE(store().GetAccount("bob"), kNotFound);
  MH_ASSERT_OK_AND_ASSIGN(Account folded, store().GetAccount("ALICE"));  // names compare case-insensitively
  EXPECT_EQ(folded.id, alice.id);
  EXPECT_EQ(folded.name, "alice");  // the stored spelling
  MH_EXPECT_CODE(store().GetAccountById(alice.id + root.id + 1000), kNotFound);
}

TEST_P(MetadataStoreConformance, UsersAndOrgsShareOneNamespace) {
  MH_ASSERT_OK(store().CreateUser("alice", false));
  MH_EXPECT_CODE(store().CreateUser("alice", true), kConflict);
  MH_EXPECT_CODE(store().CreateOrg("alice", "alice"), kConflict);

  MH_ASSERT_OK_AND_ASSIGN(Account acme, store().CreateOrg("acme", "alice"));
  EXPECT_EQ(acme.kind, AccountKind::kOrg);
  EXPECT_FALSE(acme.is_admin);
  MH_EXPECT_CODE(store().CreateUser("acme", false), kConflict);
  MH_EXPECT_CODE(store().CreateOrg("acme", "alice"), kConflict);

  MH_ASSERT_OK_AND_ASSIGN(Account got, store().GetAccount("acme"));
  EXPECT_EQ(got.id, acme.id);
  EXPECT_EQ(got.kind, AccountKind::kOrg);
}

// As on the Hub: one account or repository per name in any letter case, found by any casing,
// answered with the spelling it was created with.
TEST_P(MetadataStoreConformance, AccountNamesAreCaseInsensitive) {
  MH_ASSERT_OK_AND_ASSIGN(Account bob, store().CreateUser("bob", false));
  for (const char* twin : {"Bob", "BOB", "bOb"}) {
    MH_EXPECT_CODE(store().CreateUser(twin, false), kConflict);
    MH_EXPECT_CODE(store().CreateOrg(twin, "bob"), kConflict);
  }
  MH_ASSERT_OK_AND_ASSIGN(Account acme, store().CreateOrg("AcMe", "BOB"));  // the owner found by any casing
  MH_EXPECT_CODE(store().CreateUser("acme", false), kConflict);
  MH_EXPECT_CODE(store().CreateOrg("ACME", "bob"), kConflict);
  MH_ASSERT_OK_AND_ASSIGN(Account got, store().GetAccount("acme"));
  EXPECT_EQ(got.id, acme.id);
  EXPECT_EQ(got.name, "AcMe");
  MH_ASSERT_OK_AND_ASSIGN(got, store().GetAccount("BoB"));
  EXPECT_EQ(got.id, bob.id);
  EXPECT_EQ(got.name, "bob");
  MH_ASSERT_OK_AND_ASSIGN(auto role, store().GetMemberRole(acme.id, bob.id));
  EXPECT_EQ(role, std::optional<OrgRole>(OrgRole::kAdmin));

  MH_ASSERT_OK_AND_ASSIGN(Account carol, store().CreateUser("Carol", false));
  MH_ASSERT_OK(store().AddMember("ACME", "carol", OrgRole::kWrite));
  MH_ASSERT_OK_AND_ASSIGN(auto ms, store().ListMembershipsOfUser(carol.id));
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0].org, "AcMe");
  EXPECT_EQ(ms[0].user, "Carol");
  MH_ASSERT_OK(store().RemoveMember("acme", "CAROL"));
  MH_EXPECT_CODE(store().GetAccount("bobb"), kNotFound);
  MH_EXPECT_CODE(store().GetAccount("bo"), kNotFound);
}

TEST_P(MetadataStoreConformance, RepoNamesAreCaseInsensitive) {
  MH_ASSERT_OK(store().CreateUser("alice", false));
  MH_ASSERT_OK(store().CreateUser("bob", false));
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord r, store().CreateRepo(RepoType::kModel, "ALICE", "Repo-Name", true));
  EXPECT_EQ(r.ns, "alice");  // the owner's stored spelling
  EXPECT_EQ(r.name, "Repo-Name");
  for (const char* twin : {"repo-name", "REPO-NAME", "Repo-Name"}) {
    MH_EXPECT_CODE(store().CreateRepo(RepoType::kModel, "alice", twin, false), kConflict);
    MH_EXPECT_CODE(store().CreateRepo(RepoType::kModel, "Alice", twin, false), kConflict);
  }
  // Other types and other owners are other namespaces.
  MH_ASSERT_OK(store().CreateRepo(RepoType::kDataset, "alice", "repo-name", false));
  MH_ASSERT_OK(store().CreateRepo(RepoType::kModel, "bob", "REPO-NAME", false));

  for (auto [ns, name] : {std::pair{"alice", "Repo-Name"}, std::pair{"Alice", "repo-name"},
                          std::pair{"ALICE", "REPO-NAME"}}) {
    MH_ASSERT_OK_AND_ASSIGN(RepoRecord got, store().GetRepo(RepoType::kModel, ns, name));
    ExpectSameRepo(got, r);
  }
  MH_EXPECT_CODE(store().GetRepo(RepoType::kModel, "alice", "repo-nam"), kNotFound);
  MH_EXPECT_CODE(store().GetRepo(RepoType::kModel, "alic", "repo-name"), kNotFound);

  // Renaming: a repository may change its own casing, never take another's name in any casing.
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord other, store().CreateRepo(RepoType::kModel, "alice", "other", false));
  MH_EXPECT_CODE(store().MoveRepo(other.id, "alice", "REPO-name"), kConflict);
  MH_EXPECT_CODE(store().MoveRepo(other.id, "BOB", "repo-name"), kConflict);
  MH_ASSERT_OK(store().MoveRepo(r.id, "alice", "repo-NAME"));
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord moved, store().GetRepo(RepoType::kModel, "alice", "Repo-Name"));
  EXPECT_EQ(moved.id, r.id);
  EXPECT_EQ(moved.name, "repo-NAME");
  MH_ASSERT_OK(store().MoveRepo(other.id, "Bob", "Other"));
  MH_ASSERT_OK_AND_ASSIGN(moved, store().GetRepoById(other.id));
  EXPECT_EQ(moved.ns, "bob");
  EXPECT_EQ(moved.name, "Other");
  // A deleted repository's name is free again, in any casing.
  MH_ASSERT_OK(store().DeleteRepo(r.id));
  MH_EXPECT_CODE(store().GetRepo(RepoType::kModel, "alice", "repo-name"), kNotFound);
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord again, store().CreateRepo(RepoType::kModel, "alice", "REPO-NAME", false));
  EXPECT_NE(again.id, r.id);
}

TEST_P(MetadataStoreConformance, RejectsMalformedNames) {
  MH_EXPECT_CODE(store().CreateUser("", false), kInvalidArgument);
  MH_EXPECT_CODE(store().CreateUser("a/b", false), kInvalidArgument);
  MH_ASSERT_OK(store().CreateUser("alice", false));
  MH_EXPECT_CODE(store().CreateOrg("", "alice"), kInvalidArgument);
  MH_EXPECT_CODE(store().CreateOrg("x/y", "alice"), kInvalidArgument);
  MH_EXPECT_CODE(store().CreateRepo(RepoType::kModel, "alice", "", false), kInvalidArgument);
  MH_EXPECT_CODE(store().CreateRepo(RepoType::kModel, "alice", "a/b", false), kInvalidArgument);
}

TEST_P(MetadataStoreConformance, CreateOrgMakesOwnerAdmin) {
  MH_ASSERT_OK_AND_ASSIGN(Account alice, store().CreateUser("alice", false));
  MH_ASSERT_OK_AND_ASSIGN(Account acme, store().CreateOrg("acme", "alice"));
  MH_ASSERT_OK_AND_ASSIGN(std::optional<OrgRole> role, store().GetMemberRole(acme.id, alice.id));
  ASSERT_TRUE(role.has_value());
  EXPECT_EQ(*role, OrgRole::kAdmin);
  MH_ASSERT_OK_AND_ASSIGN(auto memberships, store().ListMembershipsOfUser(alice.id));
  ASSERT_EQ(memberships.size(), 1u);
  EXPECT_EQ(memberships[0].org, "acme");
  EXPECT_EQ(memberships[0].user, "alice");
  EXPECT_EQ(memberships[0].role, OrgRole::kAdmin);

  // The owner must be an existing user; a failure creates nothing.
  MH_EXPECT_CODE(store().CreateOrg("ghost-org", "nobody"), kNotFound);
  MH_EXPECT_CODE(store().GetAccount("ghost-org"), kNotFound);
  MH_EXPECT_CODE(store().CreateOrg("org-of-org", "acme"), kNotFound);
  MH_EXPECT_CODE(store().GetAccount("org-of-org"), kNotFound);
}

// ---- Memberships ----

TEST_P(MetadataStoreConformance, Memberships) {
  MH_ASSERT_OK_AND_ASSIGN(Account alice, store().CreateUser("alice", false));
  MH_ASSERT_OK_AND_ASSIGN(Account bob, store().CreateUser("bob", false));
  MH_ASSERT_OK_AND_ASSIGN(Account carol, store().CreateUser("carol", false));
  MH_ASSERT_OK_AND_ASSIGN(Account acme, store().CreateOrg("acme", "alice"));
  MH_ASSERT_OK_AND_ASSIGN(Account beta, store().CreateOrg("beta", "carol"));

  MH_ASSERT_OK(store().AddMember("acme", "bob", OrgRole::kWrite));
  MH_ASSERT_OK_AND_ASSIGN(std::optional<OrgRole> role, store().GetMemberRole(acme.id, bob.id));
  EXPECT_EQ(role, OrgRole::kWrite);
  MH_ASSERT_OK(store().AddMember("acme", "bob", OrgRole::kRead));  // replaces the role
  MH_ASSERT_OK_AND_ASSIGN(role, store().GetMemberRole(acme.id, bob.id));
  EXPECT_EQ(role, OrgRole::kRead);
  MH_ASSERT_OK(store().AddMember("beta", "bob", OrgRole::kAdmin));

  MH_ASSERT_OK_AND_ASSIGN(auto ms, store().ListMembershipsOfUser(bob.id));
  std::sort(ms.begin(), ms.end(), [](const Membership& a, const Membership& b) { return a.org < b.org; });
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(ms[0].org, "acme");
  EXPECT_EQ(ms[0].user, "bob");
  EXPECT_EQ(ms[0].role, OrgRole::kRead);
  EXPECT_EQ(ms[1].org, "beta");
  EXPECT_EQ(ms[1].role, OrgRole::kAdmin);

  MH_ASSERT_OK_AND_ASSIGN(role, store().GetMemberRole(acme.id, carol.id));
  EXPECT_FALSE(role.has_value());
  MH_ASSERT_OK_AND_ASSIGN(role, store().GetMemberRole(beta.id + acme.id + 1000, bob.id));
  EXPECT_FALSE(role.has_value());

  // Missing org or user, or an account of the wrong kind: NotFound.
  MH_EXPECT_CODE(store().AddMember("nope", "bob", OrgRole::kRead), kNotFound);
  MH_EXPECT_CODE(store().AddMember("acme", "nope", OrgRole::kRead), kNotFound);
  MH_EXPECT_CODE(store().AddMember("alice", "bob", OrgRole::kRead), kNotFound);
  MH_EXPECT_CODE(store().AddMember("acme", "beta", OrgRole::kRead), kNotFound);

  MH_ASSERT_OK(store().RemoveMember("acme", "bob"));
  MH_ASSERT_OK_AND_ASSIGN(role, store().GetMemberRole(acme.id, bob.id));
  EXPECT_FALSE(role.has_value());
  MH_EXPECT_CODE(store().RemoveMember("acme", "bob"), kNotFound);
  MH_EXPECT_CODE(store().RemoveMember("nope", "bob"), kNotFound);
  MH_EXPECT_CODE(store().RemoveMember("acme", "nope"), kNotFound);
  MH_ASSERT_OK_AND_ASSIGN(ms, store().ListMembershipsOfUser(bob.id));
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0].org, "beta");

  MH_ASSERT_OK_AND_ASSIGN(ms, store().ListMembershipsOfUser(alice.id + bob.id + carol.id + 1000));
  EXPECT_TRUE(ms.empty());
}

// ---- Tokens ----

TEST_P(MetadataStoreConformance, TokensCreateFindRevoke) {
  MH_ASSERT_OK_AND_ASSIGN(Account alice, store().CreateUser("alice", false));
  MH_ASSERT_OK_AND_ASSIGN(Account bob, store().CreateUser("bob", false));

  MH_ASSERT_OK_AND_ASSIGN(Token t1, store().CreateToken(alice.id, "laptop", TokenRole::kWrite, Hex64(1)));
  EXPECT_GT(t1.id, 0);
  EXPECT_EQ(t1.user_id, alice.id);
  EXPECT_EQ(t1.display_name, "laptop");
  EXPECT_EQ(t1.role, TokenRole::kWrite);
  EXPECT_GT(t1.created_ms, 0);
  EXPECT_FALSE(t1.revoked);

  MH_ASSERT_OK_AND_ASSIGN(Token found, store().FindTokenBySecretHash(Hex64(1)));
  EXPECT_EQ(found.id, t1.id);
  EXPECT_EQ(found.user_id, alice.id);
  EXPECT_EQ(found.display_name, "laptop");
  EXPECT_EQ(found.role, TokenRole::kWrite);
  EXPECT_EQ(found.created_ms, t1.created_ms);
  EXPECT_FALSE(found.revoked);
  MH_EXPECT_CODE(store().FindTokenBySecretHash(Hex64(99)), kNotFound);

  MH_EXPECT_CODE(store().CreateToken(alice.id, "other", TokenRole::kRead, Hex64(1)), kConflict);
  MH_EXPECT_CODE(store().CreateToken(bob.id, "other", TokenRole::kRead, Hex64(1)), kConflict);
  MH_EXPECT_CODE(store().CreateToken(alice.id + bob.id + 1000, "x", TokenRole::kRead, Hex64(50)), kNotFound);

  // Display names need not be unique; revocation takes every valid token of that name.
  MH_ASSERT_OK_AND_ASSIGN(Token t2, store().CreateToken(alice.id, "laptop", TokenRole::kRead, Hex64(2)));
  MH_ASSERT_OK_AND_ASSIGN(Token t3, store().CreateToken(alice.id, "ci", TokenRole::kRead, Hex64(3)));
  MH_ASSERT_OK(store().CreateToken(bob.id, "laptop", TokenRole::kRead, Hex64(4)));

  MH_ASSERT_OK(store().RevokeToken(alice.id, "laptop"));
  MH_EXPECT_CODE(store().FindTokenBySecretHash(Hex64(1)), kNotFound);
  MH_EXPECT_CODE(store().FindTokenBySecretHash(Hex64(2)), kNotFound);
  MH_EXPECT_OK(store().FindTokenBySecretHash(Hex64(3)));
  MH_EXPECT_OK(store().FindTokenBySecretHash(Hex64(4)));  // bob's "laptop" untouched
  MH_EXPECT_CODE(store().RevokeToken(alice.id, "laptop"), kNotFound);
  MH_EXPECT_CODE(store().RevokeToken(alice.id, "nothing"), kNotFound);

  MH_ASSERT_OK_AND_ASSIGN(auto tokens, store().ListTokens(alice.id));
  std::sort(tokens.begin(), tokens.end(), [](const Token& a, const Token& b) { return a.id < b.id; });
  ASSERT_EQ(tokens.size(), 3u);
  EXPECT_EQ(tokens[0].id, t1.id);
  EXPECT_TRUE(tokens[0].revoked);
  EXPECT_EQ(tokens[1].id, t2.id);
  EXPECT_TRUE(tokens[1].revoked);
  EXPECT_EQ(tokens[1].role, TokenRole::kRead);
  EXPECT_EQ(tokens[2].id, t3.id);
  EXPECT_FALSE(tokens[2].revoked);
  EXPECT_EQ(tokens[2].display_name, "ci");

  // The name can be reused after revocation; the revoked secret stays dead.
  MH_ASSERT_OK(store().CreateToken(alice.id, "laptop", TokenRole::kWrite, Hex64(5)));
  MH_EXPECT_OK(store().FindTokenBySecretHash(Hex64(5)));
  MH_EXPECT_CODE(store().FindTokenBySecretHash(Hex64(1)), kNotFound);

  MH_ASSERT_OK_AND_ASSIGN(tokens, store().ListTokens(bob.id));
  EXPECT_EQ(tokens.size(), 1u);
  MH_ASSERT_OK_AND_ASSIGN(tokens, store().ListTokens(alice.id + bob.id + 1000));
  EXPECT_TRUE(tokens.empty());
}

TEST_P(MetadataStoreConformance, TokenById) {
  MH_ASSERT_OK_AND_ASSIGN(Account alice, store().CreateUser("alice", false));
  MH_ASSERT_OK_AND_ASSIGN(Account bob, store().CreateUser("bob", false));
  MH_ASSERT_OK_AND_ASSIGN(Token t1, store().CreateToken(alice.id, "laptop", TokenRole::kWrite, Hex64(1)));
  MH_ASSERT_OK_AND_ASSIGN(Token t2, store().CreateToken(bob.id, "ci", TokenRole::kRead, Hex64(2)));

  MH_ASSERT_OK_AND_ASSIGN(Token got, store().GetTokenById(t1.id));
  EXPECT_EQ(got.id, t1.id);
  EXPECT_EQ(got.user_id, alice.id);
  EXPECT_EQ(got.display_name, "laptop");
  EXPECT_EQ(got.role, TokenRole::kWrite);
  EXPECT_EQ(got.created_ms, t1.created_ms);
  EXPECT_FALSE(got.revoked);
  MH_ASSERT_OK_AND_ASSIGN(got, store().GetTokenById(t2.id));
  EXPECT_EQ(got.user_id, bob.id);
  EXPECT_EQ(got.role, TokenRole::kRead);

  // Revoked tokens are still found, and say so (FindTokenBySecretHash no longer finds them).
  MH_ASSERT_OK(store().RevokeToken(alice.id, "laptop"));
  MH_ASSERT_OK_AND_ASSIGN(got, store().GetTokenById(t1.id));
  EXPECT_TRUE(got.revoked);
  EXPECT_EQ(got.user_id, alice.id);
  MH_ASSERT_OK_AND_ASSIGN(got, store().GetTokenById(t2.id));
  EXPECT_FALSE(got.revoked);

  MH_EXPECT_CODE(store().GetTokenById(t1.id + t2.id + 1000), kNotFound);
  MH_EXPECT_CODE(store().GetTokenById(0), kNotFound);
  MH_EXPECT_CODE(store().GetTokenById(-1), kNotFound);
}

TEST_P(MetadataStoreConformance, TokensRejectBadInput) {
  MH_ASSERT_OK_AND_ASSIGN(Account alice, store().CreateUser("alice", false));
  MH_ASSERT_OK_AND_ASSIGN(Account acme, store().CreateOrg("acme", "alice"));
  MH_EXPECT_CODE(store().CreateToken(alice.id, "t", TokenRole::kRead, "abc"), kInvalidArgument);
  std::string upper(64, 'A');
  MH_EXPECT_CODE(store().CreateToken(alice.id, "t", TokenRole::kRead, upper), kInvalidArgument);
  MH_EXPECT_CODE(store().CreateToken(alice.id, "", TokenRole::kRead, Hex64(1)), kInvalidArgument);
  MH_EXPECT_CODE(store().CreateToken(acme.id, "t", TokenRole::kRead, Hex64(1)), kInvalidArgument);
  MH_EXPECT_CODE(store().FindTokenBySecretHash(Hex64(1)), kNotFound);
}

// ---- Repositories ----

TEST_P(MetadataStoreConformance, RepoCreateGetUpdate) {
  MH_ASSERT_OK(store().CreateUser("alice", false));
  MH_ASSERT_OK(store().CreateOrg("acme", "alice"));
  int64_t before = NowMs();
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord r, store().CreateRepo(RepoType::kModel, "alice", "bert", false));
  EXPECT_GT(r.id, 0);
  EXPECT_EQ(r.type, RepoType::kModel);
  EXPECT_EQ(r.ns, "alice");
  EXPECT_EQ(r.name, "bert");
  EXPECT_EQ(r.FullId(), "alice/bert");
  EXPECT_FALSE(r.is_private);
  EXPECT_GE(r.created_ms, before);
  EXPECT_EQ(r.last_modified_ms, r.created_ms);

  MH_ASSERT_OK_AND_ASSIGN(RepoRecord got, store().GetRepo(RepoType::kModel, "alice", "bert"));
  ExpectSameRepo(got, r);
  MH_ASSERT_OK_AND_ASSIGN(got, store().GetRepoById(r.id));
  ExpectSameRepo(got, r);

  MH_EXPECT_CODE(store().CreateRepo(RepoType::kModel, "alice", "bert", true), kConflict);
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord ds, store().CreateRepo(RepoType::kDataset, "alice", "bert", true));
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord org_repo, store().CreateRepo(RepoType::kModel, "acme", "bert", false));
  EXPECT_NE(ds.id, r.id);
  EXPECT_NE(org_repo.id, r.id);
  EXPECT_EQ(ds.type, RepoType::kDataset);
  EXPECT_TRUE(ds.is_private);
  MH_ASSERT_OK_AND_ASSIGN(got, store().GetRepo(RepoType::kDataset, "alice", "bert"));
  EXPECT_EQ(got.id, ds.id);

  MH_EXPECT_CODE(store().CreateRepo(RepoType::kModel, "nobody", "x", false), kNotFound);
  MH_EXPECT_CODE(store().GetRepo(RepoType::kDataset, "alice", "nope"), kNotFound);
  MH_EXPECT_CODE(store().GetRepo(RepoType::kModel, "nobody", "bert"), kNotFound);
  MH_ASSERT_OK_AND_ASSIGN(got, store().GetRepo(RepoType::kModel, "alice", "BERT"));  // case-insensitive
  ExpectSameRepo(got, r);
  const int64_t missing = r.id + ds.id + org_repo.id + 1000;
  MH_EXPECT_CODE(store().GetRepoById(missing), kNotFound);

  MH_ASSERT_OK(store().SetRepoPrivate(r.id, true));
  MH_ASSERT_OK_AND_ASSIGN(got, store().GetRepoById(r.id));
  EXPECT_TRUE(got.is_private);
  MH_ASSERT_OK(store().SetRepoPrivate(r.id, true));  // no change is still Ok
  MH_ASSERT_OK(store().SetRepoPrivate(r.id, false));
  MH_ASSERT_OK_AND_ASSIGN(got, store().GetRepoById(r.id));
  EXPECT_FALSE(got.is_private);
  MH_EXPECT_CODE(store().SetRepoPrivate(missing, true), kNotFound);

  MH_ASSERT_OK(store().TouchRepo(r.id, r.created_ms + 12345));
  MH_ASSERT_OK_AND_ASSIGN(got, store().GetRepoById(r.id));
  EXPECT_EQ(got.last_modified_ms, r.created_ms + 12345);
  EXPECT_EQ(got.created_ms, r.created_ms);
  MH_EXPECT_CODE(store().TouchRepo(missing, 1), kNotFound);
}

TEST_P(MetadataStoreConformance, MoveRepo) {
  MH_ASSERT_OK(store().CreateUser("alice", false));
  MH_ASSERT_OK(store().CreateUser("bob", false));
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord a, store().CreateRepo(RepoType::kModel, "alice", "a", true));
  MH_ASSERT_OK(store().CreateRepo(RepoType::kModel, "alice", "b", false));
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord bob_a, store().CreateRepo(RepoType::kModel, "bob", "a", false));
  MH_ASSERT_OK(store().CreateRepo(RepoType::kDataset, "bob", "data", false));

  MH_EXPECT_CODE(store().MoveRepo(a.id, "bob", "a"), kConflict);
  MH_EXPECT_CODE(store().MoveRepo(a.id, "alice", "b"), kConflict);
  MH_EXPECT_CODE(store().MoveRepo(a.id, "nobody", "x"), kNotFound);
  MH_EXPECT_CODE(store().MoveRepo(a.id, "bob", ""), kInvalidArgument);
  MH_EXPECT_CODE(store().MoveRepo(a.id + bob_a.id + 1000, "alice", "z"), kNotFound);
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord got, store().GetRepoById(a.id));
  ExpectSameRepo(got, a);  // failed moves changed nothing

  MH_ASSERT_OK(store().MoveRepo(a.id, "alice", "a"));  // onto itself: a no-op
  MH_ASSERT_OK(store().MoveRepo(a.id, "bob", "renamed"));
  MH_ASSERT_OK_AND_ASSIGN(got, store().GetRepo(RepoType::kModel, "bob", "renamed"));
  EXPECT_EQ(got.id, a.id);
  EXPECT_EQ(got.ns, "bob");
  EXPECT_EQ(got.name, "renamed");
  EXPECT_TRUE(got.is_private);
  EXPECT_EQ(got.created_ms, a.created_ms);
  MH_EXPECT_CODE(store().GetRepo(RepoType::kModel, "alice", "a"), kNotFound);

  // The old name is free again; a model may take a name a dataset already has.
  MH_EXPECT_OK(store().CreateRepo(RepoType::kModel, "alice", "a", false));
  MH_EXPECT_OK(store().MoveRepo(a.id, "bob", "data"));
}

TEST_P(MetadataStoreConformance, DeleteRepoTakesLinksAndSessions) {
  MH_ASSERT_OK(store().CreateUser("alice", false));
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord r, store().CreateRepo(RepoType::kModel, "alice", "m", false));
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord other, store().CreateRepo(RepoType::kModel, "alice", "other", false));
  MH_ASSERT_OK(store().PutLfsObject(LfsObject{Hex64(7), 10, 0}));
  MH_ASSERT_OK(store().LinkLfsObject(r.id, Hex64(7)));
  MH_ASSERT_OK(store().LinkLfsObject(other.id, Hex64(7)));
  MH_ASSERT_OK(store().PutUploadSession(UploadSession{"s1", r.id, Hex64(8), 100, 50, 2, 0}));

  MH_ASSERT_OK(store().DeleteRepo(r.id));
  MH_EXPECT_CODE(store().GetRepoById(r.id), kNotFound);
  MH_EXPECT_CODE(store().GetRepo(RepoType::kModel, "alice", "m"), kNotFound);
  MH_EXPECT_CODE(store().DeleteRepo(r.id), kNotFound);
  MH_ASSERT_OK_AND_ASSIGN(bool linked, store().IsLfsObjectLinked(r.id, Hex64(7)));
  EXPECT_FALSE(linked);
  MH_EXPECT_CODE(store().GetUploadSession("s1"), kNotFound);
  // The object and other repos' links survive.
  MH_EXPECT_OK(store().GetLfsObject(Hex64(7)));
  MH_ASSERT_OK_AND_ASSIGN(linked, store().IsLfsObjectLinked(other.id, Hex64(7)));
  EXPECT_TRUE(linked);

  // A repo created under the same name is a different repo: ids are never reused.
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord again, store().CreateRepo(RepoType::kModel, "alice", "m", false));
  EXPECT_NE(again.id, r.id);
  MH_ASSERT_OK_AND_ASSIGN(linked, store().IsLfsObjectLinked(again.id, Hex64(7)));
  EXPECT_FALSE(linked);
}

TEST_P(MetadataStoreConformance, LfsObjectReadableFollowsRepoVisibility) {
  MH_ASSERT_OK_AND_ASSIGN(Account alice, store().CreateUser("alice", false));
  MH_ASSERT_OK_AND_ASSIGN(Account bob, store().CreateUser("bob", false));
  MH_ASSERT_OK_AND_ASSIGN(Account carol, store().CreateUser("carol", false));
  MH_ASSERT_OK_AND_ASSIGN(Account root, store().CreateUser("root", true));
  MH_ASSERT_OK(store().CreateOrg("lab", "alice"));
  MH_ASSERT_OK(store().AddMember("lab", "carol", OrgRole::kRead));
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord priv, store().CreateRepo(RepoType::kModel, "lab", "secret", true));
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord pub, store().CreateRepo(RepoType::kDataset, "alice", "open", false));
  MH_ASSERT_OK(store().PutLfsObject(LfsObject{Hex64(1), 10, 0}));
  MH_ASSERT_OK(store().PutLfsObject(LfsObject{Hex64(2), 10, 0}));
  MH_ASSERT_OK(store().PutLfsObject(LfsObject{Hex64(3), 10, 0}));
  MH_ASSERT_OK(store().LinkLfsObject(priv.id, Hex64(1)));
  MH_ASSERT_OK(store().LinkLfsObject(pub.id, Hex64(2)));
  auto readable = [&](int oid, std::optional<int64_t> viewer, bool admin = false) {
    auto r = store().IsLfsObjectReadable(Hex64(oid), viewer, admin);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && *r;
  };
  EXPECT_FALSE(readable(1, std::nullopt));
  EXPECT_FALSE(readable(1, bob.id));
  EXPECT_TRUE(readable(1, carol.id));  // any member of the org reads its private repos
  EXPECT_TRUE(readable(1, alice.id));
  EXPECT_TRUE(readable(1, root.id, true));
  EXPECT_TRUE(readable(2, std::nullopt));  // public
  EXPECT_TRUE(readable(2, bob.id));
  EXPECT_FALSE(readable(3, alice.id));     // linked nowhere
  EXPECT_FALSE(readable(3, root.id, true));
  MH_ASSERT_OK(store().SetRepoPrivate(pub.id, true));
  EXPECT_FALSE(readable(2, bob.id));
  EXPECT_TRUE(readable(2, alice.id));
  MH_ASSERT_OK(store().DeleteRepo(priv.id));
  EXPECT_FALSE(readable(1, carol.id));
}

// ---- ListRepos ----

TEST_P(MetadataStoreConformance, ListReposVisibility) {
  MH_ASSERT_OK_AND_ASSIGN(Account alice, store().CreateUser("alice", false));
  MH_ASSERT_OK_AND_ASSIGN(Account bob, store().CreateUser("bob", false));
  MH_ASSERT_OK_AND_ASSIGN(Account carol, store().CreateUser("carol", false));
  MH_ASSERT_OK_AND_ASSIGN(Account root, store().CreateUser("root", true));
  MH_ASSERT_OK(store().CreateOrg("acme", "alice"));
  MH_ASSERT_OK(store().AddMember("acme", "bob", OrgRole::kRead));
  MH_ASSERT_OK(store().CreateRepo(RepoType::kModel, "alice", "pub", false));
  MH_ASSERT_OK(store().CreateRepo(RepoType::kModel, "alice", "priv", true));
  MH_ASSERT_OK(store().CreateRepo(RepoType::kModel, "acme", "opub", false));
  MH_ASSERT_OK(store().CreateRepo(RepoType::kModel, "acme", "opriv", true));
  MH_ASSERT_OK(store().CreateRepo(RepoType::kModel, "carol", "cpriv", true));
  MH_ASSERT_OK(store().CreateRepo(RepoType::kDataset, "alice", "dpriv", true));

  auto list = [&](std::optional<int64_t> viewer, bool admin, RepoType type = RepoType::kModel) {
    RepoQuery q;
    q.type = type;
    q.viewer_user_id = viewer;
    q.viewer_is_admin = admin;
    auto r = store().ListRepos(q);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? FullIdSet(*r) : std::set<std::string>{};
  };
  using Set = std::set<std::string>;
  EXPECT_EQ(list(std::nullopt, false), (Set{"alice/pub", "acme/opub"}));
  EXPECT_EQ(list(alice.id, false), (Set{"alice/pub", "alice/priv", "acme/opub", "acme/opriv"}));
  EXPECT_EQ(list(bob.id, false), (Set{"alice/pub", "acme/opub", "acme/opriv"}));
  EXPECT_EQ(list(carol.id, false), (Set{"alice/pub", "acme/opub", "carol/cpriv"}));
  const Set all = {"alice/pub", "alice/priv", "acme/opub", "acme/opriv", "carol/cpriv"};
  EXPECT_EQ(list(root.id, true), all);
  EXPECT_EQ(list(std::nullopt, true), all);
  EXPECT_EQ(list(root.id, false), (Set{"alice/pub", "acme/opub"}));  // admin only when the caller says so

  EXPECT_EQ(list(alice.id, false, RepoType::kDataset), (Set{"alice/dpriv"}));
  EXPECT_EQ(list(std::nullopt, false, RepoType::kDataset), Set{});

  MH_ASSERT_OK(store().RemoveMember("acme", "bob"));
  EXPECT_EQ(list(bob.id, false), (Set{"alice/pub", "acme/opub"}));
}

TEST_P(MetadataStoreConformance, ListReposSearchAndAuthor) {
  MH_ASSERT_OK(store().CreateUser("alice", false));
  MH_ASSERT_OK(store().CreateUser("bob", false));
  for (const char* n : {"BERT-base", "gpt2"}) MH_ASSERT_OK(store().CreateRepo(RepoType::kModel, "alice", n, false));
  for (const char* n : {"bert-large", "tiny_llama", "x%y"}) {
    MH_ASSERT_OK(store().CreateRepo(RepoType::kModel, "bob", n, false));
  }
  MH_ASSERT_OK(store().CreateRepo(RepoType::kDataset, "bob", "bert-data", false));

  auto list = [&](const std::string& search, const std::string& author) {
    RepoQuery q;
    q.search = search;
    q.author = author;
    auto r = store().ListRepos(q);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? FullIdSet(*r) : std::set<std::string>{};
  };
  using Set = std::set<std::string>;
  EXPECT_EQ(list("", ""), (Set{"alice/BERT-base", "alice/gpt2", "bob/bert-large", "bob/tiny_llama", "bob/x%y"}));
  EXPECT_EQ(list("bert", ""), (Set{"alice/BERT-base", "bob/bert-large"}));
  EXPECT_EQ(list("BeRt", ""), (Set{"alice/BERT-base", "bob/bert-large"}));
  EXPECT_EQ(list("ce/g", ""), (Set{"alice/gpt2"}));  // the match may span the '/'
  EXPECT_EQ(list("ALICE", ""), (Set{"alice/BERT-base", "alice/gpt2"}));
  EXPECT_EQ(list("_", ""), (Set{"bob/tiny_llama"}));  // no wildcards
  EXPECT_EQ(list("%", ""), (Set{"bob/x%y"}));
  EXPECT_EQ(list("zzz", ""), Set{});
  EXPECT_EQ(list("", "bob"), (Set{"bob/bert-large", "bob/tiny_llama", "bob/x%y"}));
  EXPECT_EQ(list("", "bo"), Set{});   // author is exact
  EXPECT_EQ(list("", "BOB"), (Set{"bob/bert-large", "bob/tiny_llama", "bob/x%y"}));  // but case-insensitive
  EXPECT_EQ(list("", "nobody"), Set{});
  EXPECT_EQ(list("bert", "bob"), (Set{"bob/bert-large"}));
}

TEST_P(MetadataStoreConformance, ListReposSorting) {
  MH_ASSERT_OK(store().CreateUser("alice", false));
  std::vector<RepoRecord> r;
  for (const char* n : {"r1", "r2", "r3"}) {
    // created_ms is the store's clock in ms; keep creations in distinct milliseconds.
    int64_t t = NowMs();
    while (NowMs() == t) std::this_thread::sleep_for(std::chrono::microseconds(200));
    MH_ASSERT_OK_AND_ASSIGN(RepoRecord rec, store().CreateRepo(RepoType::kModel, "alice", n, false));
    r.push_back(rec);
  }
  ASSERT_LT(r[0].created_ms, r[1].created_ms);
  ASSERT_LT(r[1].created_ms, r[2].created_ms);
  MH_ASSERT_OK(store().TouchRepo(r[0].id, 3000));
  MH_ASSERT_OK(store().TouchRepo(r[1].id, 1000));
  MH_ASSERT_OK(store().TouchRepo(r[2].id, 2000));

  auto names = [&](RepoSort sort, bool desc) {
    RepoQuery q;
    q.sort = sort;
    q.descending = desc;
    auto res = store().ListRepos(q);
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    std::vector<std::string> out;
    if (res.ok()) {
      for (const RepoRecord& rec : *res) out.push_back(rec.name);
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names(RepoSort::kId, false), (V{"r1", "r2", "r3"}));
  EXPECT_EQ(names(RepoSort::kId, true), (V{"r3", "r2", "r1"}));
  EXPECT_EQ(names(RepoSort::kCreatedAt, false), (V{"r1", "r2", "r3"}));
  EXPECT_EQ(names(RepoSort::kCreatedAt, true), (V{"r3", "r2", "r1"}));
  EXPECT_EQ(names(RepoSort::kLastModified, false), (V{"r2", "r3", "r1"}));
  EXPECT_EQ(names(RepoSort::kLastModified, true), (V{"r1", "r3", "r2"}));
}

TEST_P(MetadataStoreConformance, ListReposPagination) {
  MH_ASSERT_OK(store().CreateUser("alice", false));
  constexpr int kRepos = 25;
  std::set<int64_t> created;
  for (int i = 0; i < kRepos; ++i) {
    MH_ASSERT_OK_AND_ASSIGN(RepoRecord rec,
                            store().CreateRepo(RepoType::kModel, "alice", fmt::format("r{}", i), false));
    MH_ASSERT_OK(store().TouchRepo(rec.id, 1000 + i % 3));  // many ties
    created.insert(rec.id);
  }
  for (RepoSort sort : {RepoSort::kId, RepoSort::kCreatedAt, RepoSort::kLastModified}) {
    for (bool desc : {false, true}) {
      SCOPED_TRACE(fmt::format("sort={} desc={}", int(sort), desc));
      RepoQuery q;
      q.sort = sort;
      q.descending = desc;
      q.limit = 1000;
      MH_ASSERT_OK_AND_ASSIGN(auto full, store().ListRepos(q));
      std::vector<int64_t> full_ids = RepoIds(full);
      ASSERT_EQ(full_ids.size(), size_t(kRepos));
      EXPECT_EQ(std::set<int64_t>(full_ids.begin(), full_ids.end()), created);

      std::vector<int64_t> paged;
      q.limit = 7;
      for (q.offset = 0; q.offset < kRepos + 7; q.offset += 7) {
        MH_ASSERT_OK_AND_ASSIGN(auto page, store().ListRepos(q));
        EXPECT_EQ(page.size(), size_t(std::clamp<int64_t>(kRepos - q.offset, 0, 7)));
        for (int64_t id : RepoIds(page)) paged.push_back(id);
      }
      EXPECT_EQ(paged, full_ids);  // same order, nothing repeated or skipped
    }
  }
  RepoQuery q;
  MH_ASSERT_OK_AND_ASSIGN(auto def, store().ListRepos(q));  // default limit (100) covers all 25
  EXPECT_EQ(def.size(), size_t(kRepos));
  q.limit = 0;
  MH_ASSERT_OK_AND_ASSIGN(auto none, store().ListRepos(q));
  EXPECT_TRUE(none.empty());
  q.limit = -1;
  MH_EXPECT_CODE(store().ListRepos(q), kInvalidArgument);
  q.limit = 10;
  q.offset = -1;
  MH_EXPECT_CODE(store().ListRepos(q), kInvalidArgument);
}

// ---- LFS objects ----

TEST_P(MetadataStoreConformance, LfsObjects) {
  const std::string a = Hex64(0xa), b = Hex64(0xb);
  MH_ASSERT_OK(store().PutLfsObject(LfsObject{a, 100, 0}));
  MH_ASSERT_OK_AND_ASSIGN(LfsObject got, store().GetLfsObject(a));
  EXPECT_EQ(got.oid, a);
  EXPECT_EQ(got.size, 100);
  EXPECT_GT(got.created_ms, 0);
  MH_ASSERT_OK(store().PutLfsObject(LfsObject{a, 100, 0}));  // idempotent
  MH_ASSERT_OK_AND_ASSIGN(LfsObject again, store().GetLfsObject(a));
  EXPECT_EQ(again.created_ms, got.created_ms);
  MH_EXPECT_CODE(store().PutLfsObject(LfsObject{a, 101, 0}), kConflict);
  MH_EXPECT_CODE(store().GetLfsObject(b), kNotFound);

  MH_ASSERT_OK(store().PutLfsObject(LfsObject{b, 0, 1234}));  // empty file, caller's timestamp
  MH_ASSERT_OK_AND_ASSIGN(got, store().GetLfsObject(b));
  EXPECT_EQ(got.size, 0);
  EXPECT_EQ(got.created_ms, 1234);

  MH_EXPECT_CODE(store().PutLfsObject(LfsObject{"abc", 1, 0}), kInvalidArgument);
  MH_EXPECT_CODE(store().PutLfsObject(LfsObject{std::string(64, 'F'), 1, 0}), kInvalidArgument);
  MH_EXPECT_CODE(store().PutLfsObject(LfsObject{Hex64(0xc), -1, 0}), kInvalidArgument);
}

TEST_P(MetadataStoreConformance, LfsLinks) {
  MH_ASSERT_OK(store().CreateUser("alice", false));
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord r1, store().CreateRepo(RepoType::kModel, "alice", "one", false));
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord r2, store().CreateRepo(RepoType::kDataset, "alice", "two", false));
  const std::string a = Hex64(0xa);
  MH_ASSERT_OK(store().PutLfsObject(LfsObject{a, 5, 0}));

  MH_ASSERT_OK_AND_ASSIGN(bool linked, store().IsLfsObjectLinked(r1.id, a));
  EXPECT_FALSE(linked);
  MH_ASSERT_OK(store().LinkLfsObject(r1.id, a));
  MH_ASSERT_OK(store().LinkLfsObject(r1.id, a));  // idempotent
  MH_ASSERT_OK_AND_ASSIGN(linked, store().IsLfsObjectLinked(r1.id, a));
  EXPECT_TRUE(linked);
  MH_ASSERT_OK_AND_ASSIGN(linked, store().IsLfsObjectLinked(r2.id, a));
  EXPECT_FALSE(linked);  // possession is per repo
  MH_ASSERT_OK_AND_ASSIGN(linked, store().IsLfsObjectLinked(r1.id, Hex64(0xb)));
  EXPECT_FALSE(linked);

  MH_EXPECT_CODE(store().LinkLfsObject(r1.id, Hex64(0xb)), kNotFound);  // unknown object
  MH_EXPECT_CODE(store().LinkLfsObject(r1.id + r2.id + 1000, a), kNotFound);
}

// The one rule for pointers (object_ownership.h): linked + stored + same size.
TEST_P(MetadataStoreConformance, ObjectOwnership) {
  MH_ASSERT_OK(store().CreateUser("alice", false));
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord mine, store().CreateRepo(RepoType::kModel, "alice", "mine", true));
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord other, store().CreateRepo(RepoType::kModel, "alice", "other", false));
  const std::string a = Hex64(0xa), gone = Hex64(0xb);
  MH_ASSERT_OK(store().PutFile(FileRecord{a, Hex64(0x1a), 500, "terms", 0}));
  MH_ASSERT_OK(store().PutLfsObject(LfsObject{a, 500, 0}));
  MH_ASSERT_OK(store().PutLfsObject(LfsObject{gone, 7, 0}));
  MH_ASSERT_OK(store().LinkLfsObject(mine.id, a));
  MH_ASSERT_OK(store().LinkLfsObject(mine.id, gone));  // linked, but its file record is gone

  auto verdict = [&](int64_t repo, const std::string& oid, int64_t size) {
    auto c = CheckObjectOwnership(store(), repo, oid, size);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? c->verdict : Ownership::kNotOwned;
  };
  EXPECT_EQ(verdict(mine.id, a, 500), Ownership::kOwned);
  EXPECT_EQ(verdict(mine.id, a, -1), Ownership::kOwned);
  EXPECT_EQ(verdict(mine.id, a, 100), Ownership::kWrongSize);  // a shorter pointer would leak a prefix
  EXPECT_EQ(verdict(other.id, a, 500), Ownership::kNotOwned);  // stored, but never uploaded there
  EXPECT_EQ(verdict(mine.id, gone, 7), Ownership::kMissing);
  EXPECT_EQ(verdict(mine.id, Hex64(0xc), 1), Ownership::kNotOwned);
  auto c = CheckObjectOwnership(store(), mine.id, a, 500);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->file.xet_hash, Hex64(0x1a));
}

// ---- Upload sessions ----

TEST_P(MetadataStoreConformance, UploadSessions) {
  MH_ASSERT_OK(store().CreateUser("alice", false));
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord r, store().CreateRepo(RepoType::kModel, "alice", "m", false));
  UploadSession s{"sess-1_A", r.id, Hex64(1), int64_t{10} << 20, int64_t{5} << 20, 2, 0};
  MH_ASSERT_OK(store().PutUploadSession(s));
  MH_ASSERT_OK_AND_ASSIGN(UploadSession got, store().GetUploadSession(s.id));
  EXPECT_EQ(got.id, s.id);
  EXPECT_EQ(got.repo_id, r.id);
  EXPECT_EQ(got.oid, s.oid);
  EXPECT_EQ(got.size, s.size);
  EXPECT_EQ(got.part_size, s.part_size);
  EXPECT_EQ(got.part_count, s.part_count);
  EXPECT_GT(got.created_ms, 0);

  MH_ASSERT_OK(store().PutUploadSession(s));  // a retried Put is fine
  UploadSession other = s;
  other.size += 1;
  MH_EXPECT_CODE(store().PutUploadSession(other), kConflict);
  MH_ASSERT_OK_AND_ASSIGN(got, store().GetUploadSession(s.id));
  EXPECT_EQ(got.size, s.size);

  UploadSession stamped{"sess-2", r.id, Hex64(2), 1, 1, 1, 777};
  MH_ASSERT_OK(store().PutUploadSession(stamped));
  MH_ASSERT_OK_AND_ASSIGN(got, store().GetUploadSession("sess-2"));
  EXPECT_EQ(got.created_ms, 777);

  MH_EXPECT_CODE(store().GetUploadSession("nope"), kNotFound);
  MH_EXPECT_CODE(store().PutUploadSession(UploadSession{"s3", r.id + 1000, Hex64(3), 1, 1, 1, 0}), kNotFound);
  MH_EXPECT_CODE(store().PutUploadSession(UploadSession{"", r.id, Hex64(3), 1, 1, 1, 0}), kInvalidArgument);
  MH_EXPECT_CODE(store().PutUploadSession(UploadSession{"a/b", r.id, Hex64(3), 1, 1, 1, 0}), kInvalidArgument);
  MH_EXPECT_CODE(store().PutUploadSession(UploadSession{"s4", r.id, "xyz", 1, 1, 1, 0}), kInvalidArgument);
  MH_EXPECT_CODE(store().PutUploadSession(UploadSession{"s5", r.id, Hex64(3), -1, 1, 1, 0}), kInvalidArgument);

  MH_ASSERT_OK(store().DeleteUploadSession(s.id));
  MH_EXPECT_CODE(store().GetUploadSession(s.id), kNotFound);
  MH_EXPECT_CODE(store().DeleteUploadSession(s.id), kNotFound);
  MH_EXPECT_OK(store().GetUploadSession("sess-2"));
}

// ---- Concurrency ----

constexpr int kThreads = 8;

TEST_P(MetadataStoreConformance, ConcurrentWritersAndReaders) {
  constexpr int kReposPerThread = 10;
  constexpr int kTokensPerThread = 5;
  MH_ASSERT_OK(store().PutLfsObject(LfsObject{Hex64(0xfff), 1, 0}));
  std::vector<std::vector<Status>> failures(kThreads);
  std::vector<int64_t> user_ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto fail = [&](const Status& s) {
        if (!s.ok()) failures[t].push_back(s);
      };
      auto user = store().CreateUser(fmt::format("user{}", t), false);
      fail(user.status());
      if (!user.ok()) return;
      user_ids[t] = user->id;
      for (int i = 0; i < kTokensPerThread; ++i) {
        fail(store().CreateToken(user->id, fmt::format("tok{}", i), TokenRole::kWrite, Hex64(t * 100 + i)).status());
      }
      for (int i = 0; i < kReposPerThread; ++i) {
        auto repo = store().CreateRepo(RepoType::kModel, user->name, fmt::format("repo{}", i), i % 2 == 0);
        fail(repo.status());
        if (!repo.ok()) continue;
        fail(store().TouchRepo(repo->id, NowMs()));
        fail(store().LinkLfsObject(repo->id, Hex64(0xfff)));
        fail(store().GetRepo(RepoType::kModel, user->name, repo->name).status());
        RepoQuery q;
        q.viewer_user_id = user->id;
        fail(store().ListRepos(q).status());
        fail(store().FindTokenBySecretHash(Hex64(t * 100)).status());
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    for (const Status& s : failures[t]) ADD_FAILURE() << "thread " << t << ": " << s.ToString();
  }

  RepoQuery q;
  q.viewer_is_admin = true;
  q.limit = 1000;
  MH_ASSERT_OK_AND_ASSIGN(auto all, store().ListRepos(q));
  EXPECT_EQ(all.size(), size_t(kThreads * kReposPerThread));
  auto ids = RepoIds(all);
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), ids.size());
  q.viewer_is_admin = false;
  MH_ASSERT_OK_AND_ASSIGN(auto pub, store().ListRepos(q));
  EXPECT_EQ(pub.size(), size_t(kThreads * kReposPerThread / 2));
  for (int t = 0; t < kThreads; ++t) {
    MH_ASSERT_OK_AND_ASSIGN(auto tokens, store().ListTokens(user_ids[t]));
    EXPECT_EQ(tokens.size(), size_t(kTokensPerThread));
    for (int i = 0; i < kTokensPerThread; ++i) {
      MH_ASSERT_OK_AND_ASSIGN(Token tok, store().FindTokenBySecretHash(Hex64(t * 100 + i)));
      EXPECT_EQ(tok.user_id, user_ids[t]);
    }
  }
  for (const RepoRecord& r : all) {
    MH_ASSERT_OK_AND_ASSIGN(bool linked, store().IsLfsObjectLinked(r.id, Hex64(0xfff)));
    EXPECT_TRUE(linked);
  }
}

TEST_P(MetadataStoreConformance, ConcurrentClashesHaveOneWinner) {
  MH_ASSERT_OK_AND_ASSIGN(Account alice, store().CreateUser("alice", false));
  std::atomic<int> repo_ok{0}, user_ok{0}, token_ok{0}, other{0};
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto count = [&](const Status& s, std::atomic<int>& ok) {
        if (s.ok()) {
          ++ok;
        } else if (s.code() != Code::kConflict) {
          ++other;
          errors[t] += s.ToString() + "; ";
        }
      };
      // Each thread its own casing: the names clash case-insensitively.
      std::string same = "same", dup = "dup";
      for (size_t i = 0; i < same.size(); ++i) {
        if ((t >> i) & 1) same[i] = char(same[i] - 'a' + 'A');
      }
      for (size_t i = 0; i < dup.size(); ++i) {
        if ((t >> i) & 1) dup[i] = char(dup[i] - 'a' + 'A');
      }
      count(store().CreateRepo(RepoType::kModel, "alice", same, false).status(), repo_ok);
      count(store().CreateUser(dup, false).status(), user_ok);
      count(store().CreateToken(alice.id, fmt::format("t{}", t), TokenRole::kRead, Hex64(42)).status(), token_ok);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(repo_ok.load(), 1);
  EXPECT_EQ(user_ok.load(), 1);
  EXPECT_EQ(token_ok.load(), 1);
  EXPECT_EQ(other.load(), 0);
  for (const std::string& e : errors) EXPECT_TRUE(e.empty()) << e;
}

TEST_P(MetadataStoreConformance, XorbsAndChunkIndex) {
  XorbRecord x{Hex64(1), 1000, 2000, 3, 0};
  ASSERT_TRUE(store().PutXorb(x, {Hex64(11), Hex64(12), Hex64(13)}).ok());
  ASSERT_TRUE(store().PutXorb(x, {Hex64(11), Hex64(12), Hex64(13)}).ok());  // idempotent
  auto got = store().GetXorb(Hex64(1));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->raw_bytes, 2000);
  EXPECT_EQ(got->num_chunks, 3);
  EXPECT_TRUE(store().GetXorb(Hex64(2)).status().IsNotFound());
  // A second xorb holding chunk 12 again: the first location wins.
  ASSERT_TRUE(store().PutXorb(XorbRecord{Hex64(2), 10, 20, 2, 0}, {Hex64(12), Hex64(14)}).ok());
  auto locs = store().FindChunks({Hex64(12), Hex64(14), Hex64(99)});
  ASSERT_TRUE(locs.ok());
  ASSERT_EQ(locs->size(), 3u);
  ASSERT_TRUE((*locs)[0].has_value());
  EXPECT_EQ((*locs)[0]->xorb_hash, Hex64(1));
  EXPECT_EQ((*locs)[0]->chunk_index, 1);
  EXPECT_EQ((*locs)[1]->xorb_hash, Hex64(2));
  EXPECT_FALSE((*locs)[2].has_value());
  int n = 0;
  ASSERT_TRUE(store().ListXorbs([&](const XorbRecord&) { ++n; }).ok());
  EXPECT_EQ(n, 2);
  ASSERT_TRUE(store().DeleteXorb(Hex64(1)).ok());
  locs = store().FindChunks({Hex64(11), Hex64(14)});
  EXPECT_FALSE((*locs)[0].has_value());
  EXPECT_TRUE((*locs)[1].has_value());
  EXPECT_EQ(store().PutXorb(XorbRecord{"xyz", 1, 1, 1, 0}, {}).code(), Code::kInvalidArgument);
}

TEST_P(MetadataStoreConformance, FilesAndAllRepos) {
  std::string terms("\x01\x00binary\xff", 9);
  FileRecord f{Hex64(5), Hex64(6), 12345, terms, 0};
  ASSERT_TRUE(store().PutFile(f).ok());
  ASSERT_TRUE(store().PutFile(FileRecord{Hex64(5), Hex64(7), 1, "other", 0}).ok());  // first writer wins
  auto got = store().GetFile(Hex64(5));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->xet_hash, Hex64(6));
  EXPECT_EQ(got->terms, terms);
  EXPECT_EQ(got->size, 12345);
  auto by_xet = store().GetFileByXetHash(Hex64(6));
  ASSERT_TRUE(by_xet.ok());
  EXPECT_EQ(by_xet->sha256, Hex64(5));
  EXPECT_TRUE(store().GetFile(Hex64(8)).status().IsNotFound());
  int n = 0;
  ASSERT_TRUE(store().ListFiles([&](const FileRecord&) { ++n; }).ok());
  EXPECT_EQ(n, 1);
  ASSERT_TRUE(store().DeleteFile(Hex64(5)).ok());
  EXPECT_TRUE(store().GetFile(Hex64(5)).status().IsNotFound());

  ASSERT_TRUE(store().CreateUser("carol", false).ok());
  ASSERT_TRUE(store().CreateRepo(RepoType::kModel, "carol", "a", true).ok());
  ASSERT_TRUE(store().CreateRepo(RepoType::kDataset, "carol", "b", false).ok());
  auto all = store().ListAllRepos();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
  auto sessions = store().ListUploadSessions();
  ASSERT_TRUE(sessions.ok());
  EXPECT_TRUE(sessions->empty());
}

TEST_P(MetadataStoreConformance, PutFileCheckedNeedsEveryXorb) {
  FileRecord f{Hex64(5), Hex64(6), 10, "terms", 1000};
  Status s = store().PutFileChecked(f, {Hex64(1)});
  MH_EXPECT_CODE(s, kUnavailable);
  EXPECT_TRUE(s.retryable());
  EXPECT_TRUE(store().GetFile(Hex64(5)).status().IsNotFound());
  MH_ASSERT_OK(store().PutXorb(XorbRecord{Hex64(1), 10, 10, 1, 0}, {Hex64(11)}));
  MH_EXPECT_CODE(store().PutFileChecked(f, {Hex64(1), Hex64(2)}), kUnavailable);
  MH_ASSERT_OK(store().PutFileChecked(f, {Hex64(1)}));
  // Again: terms stay (first writer wins), created_ms only moves forward.
  MH_ASSERT_OK(store().PutFileChecked(FileRecord{Hex64(5), Hex64(7), 10, "other", 3000}, {Hex64(1)}));
  MH_ASSERT_OK(store().PutFileChecked(FileRecord{Hex64(5), Hex64(7), 10, "other", 2000}, {Hex64(1)}));
  MH_ASSERT_OK_AND_ASSIGN(FileRecord got, store().GetFile(Hex64(5)));
  EXPECT_EQ(got.terms, "terms");
  EXPECT_EQ(got.xet_hash, Hex64(6));
  EXPECT_EQ(got.created_ms, 3000);
  MH_EXPECT_CODE(store().PutFileChecked(FileRecord{"nothex", Hex64(6), 1, "", 0}, {}), kInvalidArgument);
}

TEST_P(MetadataStoreConformance, DeleteFilesOlderThanTakesTheLfsRegistry) {
  MH_ASSERT_OK(store().CreateUser("dora", false));
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord repo, store().CreateRepo(RepoType::kModel, "dora", "m", false));
  for (int i : {1, 2}) {
    MH_ASSERT_OK(store().PutFile(FileRecord{Hex64(i), Hex64(i + 10), 5, "t", 1000 * i}));
    MH_ASSERT_OK(store().PutLfsObject(LfsObject{Hex64(i), 5, 0}));
    MH_ASSERT_OK(store().LinkLfsObject(repo.id, Hex64(i)));
  }
  // Only files older than the cutoff go; an unknown oid is skipped.
  MH_ASSERT_OK_AND_ASSIGN(auto deleted, store().DeleteFilesOlderThan({Hex64(1), Hex64(2), Hex64(3)}, 1500));
  EXPECT_EQ(deleted, std::vector<std::string>{Hex64(1)});
  EXPECT_TRUE(store().GetFile(Hex64(1)).status().IsNotFound());
  EXPECT_TRUE(store().GetLfsObject(Hex64(1)).status().IsNotFound());
  MH_ASSERT_OK_AND_ASSIGN(bool linked, store().IsLfsObjectLinked(repo.id, Hex64(1)));
  EXPECT_FALSE(linked);
  MH_EXPECT_OK(store().GetFile(Hex64(2)));
  MH_ASSERT_OK_AND_ASSIGN(linked, store().IsLfsObjectLinked(repo.id, Hex64(2)));
  EXPECT_TRUE(linked);
}

TEST_P(MetadataStoreConformance, MarkXorbsDeletingLeavesTombstones) {
  MH_ASSERT_OK(store().PutXorb(XorbRecord{Hex64(1), 10, 10, 2, 1000}, {Hex64(11), Hex64(12)}));
  MH_ASSERT_OK(store().PutXorb(XorbRecord{Hex64(2), 10, 10, 1, 1000}, {Hex64(21)}));
  MH_ASSERT_OK(store().PutXorb(XorbRecord{Hex64(3), 10, 10, 1, 9000}, {Hex64(31)}));  // young
  // A file recorded at 5000 names xorb 2 (its "terms" are the xorb hash here).
  MH_ASSERT_OK(store().PutFile(FileRecord{Hex64(50), Hex64(51), 1, Hex64(2), 5000}));
  int calls = 0;
  auto xorbs_of = [&](const FileRecord& f) -> Result<std::vector<std::string>> {
    ++calls;
    return std::vector<std::string>{f.terms};
  };
  MH_ASSERT_OK_AND_ASSIGN(
      auto marked, store().MarkXorbsDeleting({Hex64(1), Hex64(2), Hex64(3), Hex64(4)}, 8000, 4000, xorbs_of));
  EXPECT_EQ(calls, 1);
  // 1: old and unnamed; 4: no row at all (an unrecorded object) gets a tombstone too.
  EXPECT_EQ(marked, (std::vector<std::string>{Hex64(1), Hex64(4)}));
  EXPECT_TRUE(store().GetXorb(Hex64(1)).status().IsNotFound());
  MH_EXPECT_OK(store().GetXorb(Hex64(2)));
  MH_EXPECT_OK(store().GetXorb(Hex64(3)));
  MH_ASSERT_OK_AND_ASSIGN(auto locs, store().FindChunks({Hex64(11), Hex64(21)}));
  EXPECT_FALSE(locs[0].has_value());
  EXPECT_TRUE(locs[1].has_value());
  std::vector<std::string> listed;
  MH_ASSERT_OK(store().ListXorbs([&](const XorbRecord& x) { listed.push_back(x.hash); }));
  EXPECT_EQ(listed, (std::vector<std::string>{Hex64(2), Hex64(3)}));
  std::vector<std::string> deleting;
  MH_ASSERT_OK(store().ListDeletingXorbs([&](const std::string& h) { deleting.push_back(h); }));
  EXPECT_EQ(deleting, (std::vector<std::string>{Hex64(1), Hex64(4)}));
  // While being deleted: no new record of the same xorb, no file naming it.
  Status s = store().PutXorb(XorbRecord{Hex64(1), 10, 10, 2, 0}, {Hex64(11), Hex64(12)});
  MH_EXPECT_CODE(s, kUnavailable);
  EXPECT_TRUE(s.retryable());
  MH_EXPECT_CODE(store().PutFileChecked(FileRecord{Hex64(60), Hex64(61), 1, "", 0}, {Hex64(1)}), kUnavailable);
  // DeleteXorb ends it; the hash can be recorded again.
  MH_ASSERT_OK(store().DeleteXorb(Hex64(1)));
  MH_ASSERT_OK(store().DeleteXorb(Hex64(4)));
  deleting.clear();
  MH_ASSERT_OK(store().ListDeletingXorbs([&](const std::string& h) { deleting.push_back(h); }));
  EXPECT_TRUE(deleting.empty());
  MH_ASSERT_OK(store().PutXorb(XorbRecord{Hex64(1), 10, 10, 2, 0}, {Hex64(11), Hex64(12)}));
  MH_ASSERT_OK_AND_ASSIGN(locs, store().FindChunks({Hex64(11)}));
  EXPECT_TRUE(locs[0].has_value());
}

TEST_P(MetadataStoreConformance, FilesWithXorbIndexesRecordedFiles) {
  MH_ASSERT_OK(store().PutXorb(XorbRecord{Hex64(1), 10, 10, 1, 0}, {Hex64(11)}));
  MH_ASSERT_OK(store().PutXorb(XorbRecord{Hex64(2), 10, 10, 1, 0}, {Hex64(12)}));
  MH_ASSERT_OK(store().PutFileChecked(FileRecord{Hex64(5), Hex64(6), 10, "t", 0}, {Hex64(1), Hex64(2)}));
  MH_ASSERT_OK(store().PutFileChecked(FileRecord{Hex64(7), Hex64(8), 10, "t", 0}, {Hex64(2)}));
  // A second recording of a known file keeps its terms, so it does not index other xorbs.
  MH_ASSERT_OK(store().PutFileChecked(FileRecord{Hex64(7), Hex64(8), 10, "u", 0}, {Hex64(1)}));
  MH_ASSERT_OK_AND_ASSIGN(auto files, store().FilesWithXorb(Hex64(1), 10));
  EXPECT_EQ(files, (std::vector<std::string>{Hex64(5)}));
  MH_ASSERT_OK_AND_ASSIGN(files, store().FilesWithXorb(Hex64(2), 10));
  EXPECT_EQ(files, (std::vector<std::string>{Hex64(5), Hex64(7)}));
  MH_ASSERT_OK_AND_ASSIGN(files, store().FilesWithXorb(Hex64(2), 1));
  EXPECT_EQ(files, (std::vector<std::string>{Hex64(5)}));
  MH_ASSERT_OK(store().DeleteFile(Hex64(5)));
  MH_ASSERT_OK_AND_ASSIGN(files, store().FilesWithXorb(Hex64(2), 10));
  EXPECT_EQ(files, (std::vector<std::string>{Hex64(7)}));
  MH_ASSERT_OK_AND_ASSIGN(auto gone, store().DeleteFilesOlderThan({Hex64(7)}, NowMs() + 1000));
  EXPECT_EQ(gone.size(), 1u);
  MH_ASSERT_OK_AND_ASSIGN(files, store().FilesWithXorb(Hex64(2), 10));
  EXPECT_TRUE(files.empty());
  MH_ASSERT_OK_AND_ASSIGN(files, store().FilesWithXorb(Hex64(9), 10));
  EXPECT_TRUE(files.empty());
}

TEST_P(MetadataStoreConformance, OrphanXorbsAgeBeforeTheyGo) {
  MH_ASSERT_OK_AND_ASSIGN(auto old, store().NoteOrphanXorbs({Hex64(1), Hex64(2)}, 1000, 5000, true));
  EXPECT_TRUE(old.empty());  // first seen now
  MH_ASSERT_OK_AND_ASSIGN(old, store().NoteOrphanXorbs({Hex64(1), Hex64(2), Hex64(3)}, 3000, 2000, false));
  EXPECT_EQ(old, (std::vector<std::string>{Hex64(1), Hex64(2)}));
  // 2 is no longer an orphan: forgotten; 3 was not noted (update = false) and is noted now.
  MH_ASSERT_OK_AND_ASSIGN(old, store().NoteOrphanXorbs({Hex64(1), Hex64(3)}, 4000, 2000, true));
  EXPECT_EQ(old, (std::vector<std::string>{Hex64(1)}));
  MH_ASSERT_OK_AND_ASSIGN(old, store().NoteOrphanXorbs({Hex64(1), Hex64(2), Hex64(3)}, 9000, 5000, true));
  EXPECT_EQ(old, (std::vector<std::string>{Hex64(1), Hex64(3)}));
  MH_EXPECT_CODE(store().NoteOrphanXorbs({"x"}, 1, 1, true), kInvalidArgument);
}

// GC marking racing uploads, in rounds, from two threads: whichever commits first, the
// outcome must be one a serial order could give. A file recorded Ok keeps every xorb it
// names alive, and a xorb marked for deletion indexes no chunk, not even one a racing
// PutXorb added.
TEST_P(MetadataStoreConformance, ConcurrentGcAndUploadsStayConsistent) {
  constexpr int kRounds = 30;
  auto xorbs_of = [](const FileRecord& f) -> Result<std::vector<std::string>> {
    return std::vector<std::string>{f.terms};  // here a file's "terms" are the one xorb it names
  };
  int file_wins = 0, gc_wins = 0;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(fmt::format("round {}", round));
    const std::string xorb = Hex64(1000 + round), file = Hex64(2000 + round);
    const std::string old_chunk = Hex64(3000 + round), new_chunk = Hex64(4000 + round);
    MH_ASSERT_OK(store().PutXorb(XorbRecord{xorb, 10, 10, 1, 1000}, {old_chunk}));
    const int64_t mark_start = NowMs();
    Status put_file, put_xorb;
    Result<std::vector<std::string>> marked = std::vector<std::string>();
    std::thread uploader([&] {
      put_file = store().PutFileChecked(FileRecord{file, Hex64(5000 + round), 1, xorb, 0}, {xorb});
      put_xorb = store().PutXorb(XorbRecord{xorb, 10, 10, 2, 0}, {old_chunk, new_chunk});
    });
    std::thread gc([&] { marked = store().MarkXorbsDeleting({xorb}, mark_start, mark_start, xorbs_of); });
    uploader.join();
    gc.join();
    ASSERT_TRUE(marked.ok()) << marked.status().ToString();
    const bool deleting = !marked->empty();
    for (const Status& s : {put_file, put_xorb}) {
      if (!s.ok()) {
        MH_EXPECT_CODE(s, kUnavailable);  // only "being garbage-collected, retry"
      }
    }
    if (put_file.ok()) {
      EXPECT_FALSE(deleting) << "a file was recorded naming a xorb that GC then marked";
      ++file_wins;
    } else {
      EXPECT_TRUE(deleting);
      ++gc_wins;
    }
    MH_ASSERT_OK_AND_ASSIGN(auto locs, store().FindChunks({old_chunk, new_chunk}));
    if (deleting) {
      EXPECT_FALSE(locs[0].has_value());
      EXPECT_FALSE(locs[1].has_value()) << "PutXorb indexed a chunk of a xorb being deleted";
      MH_EXPECT_CODE(store().GetXorb(xorb), kNotFound);
    } else {
      MH_EXPECT_OK(put_xorb);
      EXPECT_TRUE(locs[0].has_value());
      EXPECT_TRUE(locs[1].has_value());
    }
  }
  RecordProperty("file_wins", file_wins);
  RecordProperty("gc_wins", gc_wins);
}

}  // namespace
}  // namespace test
}  // namespace modelhub
