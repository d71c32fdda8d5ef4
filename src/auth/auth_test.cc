// Authenticator::CheckGrant: a grant (signed URL, Xet token) holds only as long as the token, the
// repository and the viewer's access it was issued for.
#include "auth/auth.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "common/fs.h"

namespace modelhub {
namespace {

class GrantTest : public testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    dir_ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/mh_auth_test." + RandomHex(6);
    ASSERT_TRUE(MakeDirs(dir_).ok());
    auto m = OpenSqliteMetadataStore(dir_ + "/meta.db");
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    meta_ = std::move(m).value();
    auth_ = std::make_unique<Authenticator>(meta_.get());
    alice_ = *meta_->CreateUser("alice", false);
    bob_ = *meta_->CreateUser("bob", false);
    ASSERT_TRUE(meta_->CreateOrg("acme", "alice").ok());
  }
  void TearDown() override { (void)RemoveAll(dir_); }

  // The viewer a request with a new token of user's would authenticate as.
  Viewer Login(const Account& user, const std::string& name, TokenRole role) {
    std::string secret = Authenticator::NewTokenSecret();
    EXPECT_TRUE(meta_->CreateToken(user.id, name, role, Authenticator::HashToken(secret)).ok());
    auto v = auth_->Authenticate("Bearer " + secret);
    EXPECT_TRUE(v.ok());
    return *v;
  }
  AccessGrant Grant(const Viewer& v, const RepoRecord& r, bool write) {
    return Authenticator::GrantFor(v, r, write, 2000000000);
  }

  std::string dir_;
  std::unique_ptr<MetadataStore> meta_;
  std::unique_ptr<Authenticator> auth_;
  Account alice_, bob_;
};

TEST_F(GrantTest, CarriesRepoUserAndToken) {
  RepoRecord r = *meta_->CreateRepo(RepoType::kModel, "alice", "m", false);
  Viewer v = Login(alice_, "laptop", TokenRole::kWrite);
  AccessGrant g = Grant(v, r, true);
  EXPECT_EQ(g.repo_id, r.id);
  EXPECT_EQ(g.user_id, alice_.id);
  EXPECT_EQ(g.token_id, v.token->id);
  EXPECT_TRUE(g.write);
  AccessGrant anon = Grant(Viewer{}, r, false);
  EXPECT_EQ(anon.user_id, 0);
  EXPECT_EQ(anon.token_id, 0);
}

TEST_F(GrantTest, RevokedTokenEndsItsGrants) {
  RepoRecord r = *meta_->CreateRepo(RepoType::kModel, "alice", "m", true);
  Viewer v = Login(alice_, "laptop", TokenRole::kWrite);
  Viewer other = Login(alice_, "ci", TokenRole::kWrite);
  ASSERT_TRUE(auth_->CheckGrant(Grant(v, r, false)).ok());
  ASSERT_TRUE(auth_->CheckGrant(Grant(v, r, true)).ok());
  ASSERT_TRUE(meta_->RevokeToken(alice_.id, "laptop").ok());
  EXPECT_EQ(auth_->CheckGrant(Grant(v, r, false)).status().code(), Code::kUnauthorized);
  EXPECT_EQ(auth_->CheckGrant(Grant(v, r, true)).status().code(), Code::kUnauthorized);
  // Another token of the same user keeps working.
  EXPECT_TRUE(auth_->CheckGrant(Grant(other, r, true)).ok());
  // Even on a public repository (the grant is the token's, not anyone's).
  RepoRecord pub = *meta_->CreateRepo(RepoType::kModel, "alice", "pub", false);
  EXPECT_EQ(auth_->CheckGrant(Grant(v, pub, false)).status().code(), Code::kUnauthorized);
}

TEST_F(GrantTest, TokenIdMustBelongToTheUser) {
  RepoRecord r = *meta_->CreateRepo(RepoType::kModel, "alice", "m", false);
  Viewer v = Login(alice_, "laptop", TokenRole::kWrite);
  AccessGrant g = Grant(v, r, false);
  g.user_id = bob_.id;
  EXPECT_EQ(auth_->CheckGrant(g).status().code(), Code::kUnauthorized);
  g = Grant(v, r, false);
  g.token_id += 1000;
  EXPECT_EQ(auth_->CheckGrant(g).status().code(), Code::kUnauthorized);
}

TEST_F(GrantTest, PrivacyChangeEndsAnonymousGrants) {
  RepoRecord r = *meta_->CreateRepo(RepoType::kModel, "alice", "m", false);
  AccessGrant anon = Grant(Viewer{}, r, false);
  Viewer v = Login(alice_, "laptop", TokenRole::kRead);
  AccessGrant own = Grant(v, r, false);
  ASSERT_TRUE(auth_->CheckGrant(anon).ok());
  ASSERT_TRUE(meta_->SetRepoPrivate(r.id, true).ok());
  auto s = auth_->CheckGrant(anon);
  EXPECT_EQ(s.status().code(), Code::kNotFound);
  EXPECT_EQ(s.status().hub_code(), "RepoNotFound");
  EXPECT_TRUE(auth_->CheckGrant(own).ok());  // the owner still reads it
  ASSERT_TRUE(meta_->SetRepoPrivate(r.id, false).ok());
  EXPECT_TRUE(auth_->CheckGrant(anon).ok());
}

TEST_F(GrantTest, DeletedRepositoryEndsEveryGrant) {
  RepoRecord r = *meta_->CreateRepo(RepoType::kModel, "alice", "m", false);
  Viewer v = Login(alice_, "laptop", TokenRole::kWrite);
  AccessGrant anon = Grant(Viewer{}, r, false);
  AccessGrant w = Grant(v, r, true);
  ASSERT_TRUE(meta_->DeleteRepo(r.id).ok());
  // A new repository of the same name is another repository: the old grants do not reach it.
  ASSERT_TRUE(meta_->CreateRepo(RepoType::kModel, "alice", "m", false).ok());
  EXPECT_EQ(auth_->CheckGrant(anon).status().code(), Code::kNotFound);
  EXPECT_EQ(auth_->CheckGrant(w).status().code(), Code::kNotFound);
}

TEST_F(GrantTest, LostMembershipOrRoleEndsGrants) {
  ASSERT_TRUE(meta_->AddMember("acme", "bob", OrgRole::kWrite).ok());
  RepoRecord r = *meta_->CreateRepo(RepoType::kModel, "acme", "m", true);
  Viewer v = Login(bob_, "laptop", TokenRole::kWrite);
  AccessGrant read = Grant(v, r, false);
  AccessGrant write = Grant(v, r, true);
  ASSERT_TRUE(auth_->CheckGrant(read).ok());
  ASSERT_TRUE(auth_->CheckGrant(write).ok());
  ASSERT_TRUE(meta_->AddMember("acme", "bob", OrgRole::kRead).ok());
  EXPECT_TRUE(auth_->CheckGrant(read).ok());
  EXPECT_EQ(auth_->CheckGrant(write).status().code(), Code::kForbidden);
  ASSERT_TRUE(meta_->RemoveMember("acme", "bob").ok());
  EXPECT_EQ(auth_->CheckGrant(read).status().code(), Code::kNotFound);
  // A read-role token's write grant never holds (it could not have been issued either).
  ASSERT_TRUE(meta_->AddMember("acme", "bob", OrgRole::kWrite).ok());
  Viewer ro = Login(bob_, "ro", TokenRole::kRead);
  EXPECT_EQ(auth_->CheckGrant(Grant(ro, r, true)).status().code(), Code::kForbidden);
  EXPECT_TRUE(auth_->CheckGrant(Grant(ro, r, false)).ok());
}

}  // namespace
}  // namespace modelhub
