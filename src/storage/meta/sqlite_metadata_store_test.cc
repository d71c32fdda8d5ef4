// SqliteMetadataStore: runs the conformance suite (file-backed and in-memory)
// and tests what only the SQLite backend has: the file, its schema version,
// its pragmas, lock contention with other connections or processes.
#include "storage/meta/sqlite_metadata_store.h"

#include <sqlite3.h>

#include <fmt/format.h>

#include <thread>
#include <vector>

#include "common/fs.h"
#include "common/sole_writer.h"
#include "storage/meta/metadata_store_test.h"

namespace modelhub {
namespace test {
namespace {

INSTANTIATE_TEST_SUITE_P(
    Sqlite, MetadataStoreConformance,
    testing::Values(MetadataStoreFactory{"File",
                                         [](const std::string& dir) {
                                           // A missing parent directory is created by Open.
                                           return OpenSqliteMetadataStore(dir + "/data/meta.db");
                                         }},
                    MetadataStoreFactory{"Memory",
                                         [](const std::string&) -> Result<std::unique_ptr<MetadataStore>> {
                                           MH_ASSIGN_OR_RETURN(auto s, SqliteMetadataStore::Open(":memory:"));
                                           return std::unique_ptr<MetadataStore>(std::move(s));
                                         }}),
    MetadataStoreFactoryName);

// A raw connection for poking at the file behind the store's back.
class RawDb {
 public:
  explicit RawDb(const std::string& path) { sqlite3_open(path.c_str(), &db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;
  ~RawDb() { sqlite3_close(db_); }
  int Exec(const std::string& sql) { return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr); }
  std::string QueryText(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
      const unsigned char* p = sqlite3_column_text(st, 0);
      if (p != nullptr) out = reinterpret_cast<const char*>(p);
    }
    sqlite3_finalize(st);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

// Takes a database of the current version back to version 4 (with PRAGMA user_version).
constexpr char kUndoVersion5[] =
    "DROP INDEX accounts_by_folded_name; DROP INDEX repos_by_folded_name; "
    "ALTER TABLE accounts DROP COLUMN case_twin; ALTER TABLE repos DROP COLUMN case_twin; ";

class SqliteMetadataStoreTest : public testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.path().empty()); }
  std::string DbPath() const { return dir_.path() + "/meta.db"; }
  ScratchDir dir_;
};

TEST_F(SqliteMetadataStoreTest, DataSurvivesReopen) {
  int64_t repo_id = 0;
  {
    MH_ASSERT_OK_AND_ASSIGN(auto store, SqliteMetadataStore::Open(DbPath()));
    MH_ASSERT_OK(store->CreateUser("alice", true));
    MH_ASSERT_OK_AND_ASSIGN(RepoRecord r, store->CreateRepo(RepoType::kDataset, "alice", "d", true));
    repo_id = r.id;
  }
  MH_ASSERT_OK_AND_ASSIGN(auto store, SqliteMetadataStore::Open(DbPath()));
  MH_ASSERT_OK_AND_ASSIGN(Account alice, store->GetAccount("alice"));
  EXPECT_TRUE(alice.is_admin);
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord r, store->GetRepoById(repo_id));
  EXPECT_EQ(r.FullId(), "alice/d");
  EXPECT_TRUE(r.is_private);
}

TEST_F(SqliteMetadataStoreTest, FileIdentityAndPragmas) {
  { MH_ASSERT_OK(SqliteMetadataStore::Open(DbPath())); }
  RawDb raw(DbPath());
  EXPECT_EQ(raw.QueryText("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.QueryText("PRAGMA user_version"), std::to_string(SqliteMetadataStore::kSchemaVersion));
  EXPECT_EQ(raw.QueryText("PRAGMA application_id"), std::to_string(SqliteMetadataStore::kApplicationId));
  EXPECT_EQ(raw.QueryText("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'repos'"), "1");
}

TEST_F(SqliteMetadataStoreTest, Version4BackfillsXorbFilesFromTerms) {
  { MH_ASSERT_OK(SqliteMetadataStore::Open(DbPath())); }
  {
    // A version-3 database with two files: terms are 44-byte records starting with the raw xorb hash.
    RawDb raw(DbPath());
    ASSERT_EQ(raw.Exec(std::string(kUndoVersion5) + "DROP TABLE xorb_files; PRAGMA user_version = 3;"), SQLITE_OK);
    std::string term_a = "x'" + std::string(64, 'a') + std::string(24, '0') + "'";
    // The second term's xorb: raw bytes 00 01 .. 1f, stored in Xet hex (each 8-byte group reversed).
    std::string raw_seq;
    for (int i = 0; i < 32; ++i) raw_seq += fmt::format("{:02x}", i);
    std::string terms_ab = "x'" + std::string(64, 'a') + std::string(24, '0') + raw_seq + std::string(24, '0') + "'";
    ASSERT_EQ(raw.Exec(fmt::format("INSERT INTO files VALUES ('{}', '{}', 1, {}, 1)", std::string(64, '1'),
                                   std::string(64, '2'), term_a)),
              SQLITE_OK);
    ASSERT_EQ(raw.Exec(fmt::format("INSERT INTO files VALUES ('{}', '{}', 1, {}, 1)", std::string(64, '3'),
                                   std::string(64, '4'), terms_ab)),
              SQLITE_OK);
    ASSERT_EQ(raw.Exec(fmt::format("INSERT INTO files VALUES ('{}', '{}', 1, x'00', 1)", std::string(64, '5'),
                                   std::string(64, '6'))),
              SQLITE_OK);
  }
  MH_ASSERT_OK_AND_ASSIGN(auto store, SqliteMetadataStore::Open(DbPath()));
  MH_ASSERT_OK_AND_ASSIGN(auto files, store->FilesWithXorb(std::string(64, 'a'), 10));
  EXPECT_EQ(files, (std::vector<std::string>{std::string(64, '1'), std::string(64, '3')}));
  MH_ASSERT_OK_AND_ASSIGN(
      files, store->FilesWithXorb("07060504030201000f0e0d0c0b0a09081716151413121110" "1f1e1d1c1b1a1918", 10));
  EXPECT_EQ(files, (std::vector<std::string>{std::string(64, '3')}));
}

TEST_F(SqliteMetadataStoreTest, Version5KeepsCaseTwins) {
  { MH_ASSERT_OK(SqliteMetadataStore::Open(DbPath())); }
  {
    // A version-4 database (names were case-sensitive) holding case twins.
    RawDb raw(DbPath());
    ASSERT_EQ(raw.Exec(std::string(kUndoVersion5) + "PRAGMA user_version = 4;"), SQLITE_OK);
    ASSERT_EQ(raw.Exec("INSERT INTO accounts (name, kind, created_ms) VALUES ('bob', 'user', 1), "
                       "('Bob', 'user', 1), ('BOB', 'org', 1)"),
              SQLITE_OK);
    ASSERT_EQ(raw.Exec("INSERT INTO repos (type, owner_id, name, is_private, created_ms, last_modified_ms) "
                       "SELECT t, (SELECT id FROM accounts WHERE name = 'bob'), n, 0, 1, 1 FROM "
                       "(SELECT 1 AS k, 'model' AS t, 'x' AS n UNION ALL SELECT 2, 'model', 'X' "
                       "UNION ALL SELECT 3, 'dataset', 'x') ORDER BY k"),
              SQLITE_OK);
  }
  MH_ASSERT_OK_AND_ASSIGN(auto store, SqliteMetadataStore::Open(DbPath()));
  CheckCaseTwinsAfterMigration(*store);
}

TEST_F(SqliteMetadataStoreTest, RefusesNewerSchema) {
  { MH_ASSERT_OK(SqliteMetadataStore::Open(DbPath())); }
  {
    RawDb raw(DbPath());
    ASSERT_EQ(raw.Exec(fmt::format("PRAGMA user_version = {}", SqliteMetadataStore::kSchemaVersion + 1)), SQLITE_OK);
  }
  auto store = SqliteMetadataStore::Open(DbPath());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kNotImplemented);
  EXPECT_NE(store.status().message().find("newer than this binary supports"), std::string::npos)
      << store.status().ToString();
}

TEST_F(SqliteMetadataStoreTest, RefusesForeignSqliteDatabase) {
  {
    RawDb raw(DbPath());
    ASSERT_EQ(raw.Exec("CREATE TABLE t (x INTEGER)"), SQLITE_OK);
  }
  MH_EXPECT_CODE(SqliteMetadataStore::Open(DbPath()), kInvalidArgument);
  {
    RawDb raw(DbPath());
    ASSERT_EQ(raw.Exec("PRAGMA application_id = 1234"), SQLITE_OK);
  }
  MH_EXPECT_CODE(SqliteMetadataStore::Open(DbPath()), kInvalidArgument);
}

TEST_F(SqliteMetadataStoreTest, RefusesNonDatabaseFile) {
  MH_ASSERT_OK(WriteFileAtomic(DbPath(), std::string(8192, 'x')));
  MH_EXPECT_CODE(SqliteMetadataStore::Open(DbPath()), kCorruption);
}

TEST_F(SqliteMetadataStoreTest, LockedDatabaseIsUnavailableAndRetryable) {
  SqliteStoreOptions opts;
  opts.busy_timeout_ms = 50;
  MH_ASSERT_OK_AND_ASSIGN(auto store, SqliteMetadataStore::Open(DbPath(), opts));
  MH_ASSERT_OK(store->CreateUser("alice", false));
  RawDb other(DbPath());  // another process, say
  ASSERT_EQ(other.Exec("BEGIN IMMEDIATE"), SQLITE_OK);

  auto blocked = store->CreateUser("bob", false);
  MH_EXPECT_CODE(blocked, kUnavailable);
  EXPECT_TRUE(blocked.status().retryable());
  MH_EXPECT_OK(store->GetAccount("alice"));  // WAL: readers are not blocked by a writer

  ASSERT_EQ(other.Exec("ROLLBACK"), SQLITE_OK);
  MH_EXPECT_OK(store->CreateUser("bob", false));
}

// Two stores on one file stand in for two server processes: each has its own
// write mutex, so they contend through SQLite's file locks and busy timeout.
TEST_F(SqliteMetadataStoreTest, TwoStoresOnOneFile) {
  MH_ASSERT_OK_AND_ASSIGN(auto a, SqliteMetadataStore::Open(DbPath()));
  MH_ASSERT_OK_AND_ASSIGN(auto b, SqliteMetadataStore::Open(DbPath()));
  MH_ASSERT_OK(a->CreateUser("alice", false));
  constexpr int kThreads = 4, kRepos = 10;
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      SqliteMetadataStore& s = t % 2 == 0 ? *a : *b;
      for (int i = 0; i < kRepos; ++i) {
        auto r = s.CreateRepo(RepoType::kModel, "alice", fmt::format("t{}-{}", t, i), false);
        if (!r.ok()) errors[t] += r.status().ToString() + "; ";
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const std::string& e : errors) EXPECT_TRUE(e.empty()) << e;
  RepoQuery q;
  q.limit = 1000;
  MH_ASSERT_OK_AND_ASSIGN(auto seen_by_a, a->ListRepos(q));
  MH_ASSERT_OK_AND_ASSIGN(auto seen_by_b, b->ListRepos(q));
  EXPECT_EQ(seen_by_a.size(), size_t(kThreads * kRepos));
  EXPECT_EQ(seen_by_b.size(), size_t(kThreads * kRepos));
}

TEST_F(SqliteMetadataStoreTest, CachedRepoLookupsSeeEveryWrite) {
  // GetRepo answers from memory between writes; each write through the store must show at once.
  SetSoleWriter(true);
  MH_ASSERT_OK_AND_ASSIGN(auto s, SqliteMetadataStore::Open(DbPath()));
  MH_ASSERT_OK(s->CreateUser("alice", false));
  MH_ASSERT_OK(s->CreateUser("bob", false));
  EXPECT_TRUE(s->GetRepo(RepoType::kModel, "alice", "m").status().IsNotFound());
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord created, s->CreateRepo(RepoType::kModel, "alice", "m", false));
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord r, s->GetRepo(RepoType::kModel, "alice", "m"));
  EXPECT_EQ(r.id, created.id);
  EXPECT_FALSE(r.is_private);
  EXPECT_TRUE(s->GetRepo(RepoType::kDataset, "alice", "m").status().IsNotFound());  // the type is part of the key
  MH_ASSERT_OK(s->SetRepoPrivate(created.id, true));
  MH_ASSERT_OK_AND_ASSIGN(r, s->GetRepo(RepoType::kModel, "alice", "m"));
  EXPECT_TRUE(r.is_private);
  MH_ASSERT_OK(s->TouchRepo(created.id, 12345));
  MH_ASSERT_OK_AND_ASSIGN(r, s->GetRepo(RepoType::kModel, "alice", "m"));
  EXPECT_EQ(r.last_modified_ms, 12345);
  MH_ASSERT_OK(s->MoveRepo(created.id, "bob", "n"));
  EXPECT_TRUE(s->GetRepo(RepoType::kModel, "alice", "m").status().IsNotFound());
  MH_ASSERT_OK_AND_ASSIGN(r, s->GetRepo(RepoType::kModel, "bob", "n"));
  EXPECT_EQ(r.id, created.id);
  // Each spelling is cached apart, and every one of them follows a rename.
  MH_ASSERT_OK_AND_ASSIGN(r, s->GetRepo(RepoType::kModel, "BOB", "N"));
  EXPECT_EQ(r.FullId(), "bob/n");
  MH_ASSERT_OK(s->MoveRepo(created.id, "bob", "N"));
  for (auto [ns, name] : {std::pair{"bob", "n"}, std::pair{"BOB", "N"}, std::pair{"Bob", "n"}}) {
    MH_ASSERT_OK_AND_ASSIGN(r, s->GetRepo(RepoType::kModel, ns, name));
    EXPECT_EQ(r.FullId(), "bob/N");
  }
  MH_ASSERT_OK(s->DeleteRepo(created.id));
  EXPECT_TRUE(s->GetRepo(RepoType::kModel, "bob", "n").status().IsNotFound());
  EXPECT_TRUE(s->GetRepo(RepoType::kModel, "BOB", "N").status().IsNotFound());
  SetSoleWriter(false);
}

TEST_F(SqliteMetadataStoreTest, CachedLinkLookupsSeeEveryWrite) {
  // IsLfsObjectLinked answers from memory between writes (every LFS /resolve asks it); a link made,
  // and the links a deleted repository takes with it, show at once.
  SetSoleWriter(true);
  MH_ASSERT_OK_AND_ASSIGN(auto s, SqliteMetadataStore::Open(DbPath()));
  MH_ASSERT_OK(s->CreateUser("alice", false));
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord r, s->CreateRepo(RepoType::kModel, "alice", "m", false));
  const std::string oid(64, 'a');
  MH_ASSERT_OK(s->PutLfsObject(LfsObject{oid, 3, 0}));
  MH_ASSERT_OK_AND_ASSIGN(bool linked, s->IsLfsObjectLinked(r.id, oid));
  EXPECT_FALSE(linked);
  MH_ASSERT_OK(s->LinkLfsObject(r.id, oid));
  MH_ASSERT_OK_AND_ASSIGN(linked, s->IsLfsObjectLinked(r.id, oid));
  EXPECT_TRUE(linked);
  MH_ASSERT_OK_AND_ASSIGN(linked, s->IsLfsObjectLinked(r.id, oid));  // from the cache
  EXPECT_TRUE(linked);
  MH_ASSERT_OK(s->DeleteRepo(r.id));
  MH_ASSERT_OK_AND_ASSIGN(linked, s->IsLfsObjectLinked(r.id, oid));
  EXPECT_FALSE(linked);
  SetSoleWriter(false);
}

TEST_F(SqliteMetadataStoreTest, RepoLookupsAreNotCachedWithOtherWriters) {
  // Without the sole-writer promise, a write by another store (process) on the file shows at once.
  SetSoleWriter(false);
  MH_ASSERT_OK_AND_ASSIGN(auto a, SqliteMetadataStore::Open(DbPath()));
  MH_ASSERT_OK_AND_ASSIGN(auto b, SqliteMetadataStore::Open(DbPath()));
  MH_ASSERT_OK(a->CreateUser("alice", false));
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord created, a->CreateRepo(RepoType::kModel, "alice", "m", false));
  MH_ASSERT_OK_AND_ASSIGN(RepoRecord r, a->GetRepo(RepoType::kModel, "alice", "m"));
  EXPECT_FALSE(r.is_private);
  MH_ASSERT_OK(b->SetRepoPrivate(created.id, true));
  MH_ASSERT_OK_AND_ASSIGN(r, a->GetRepo(RepoType::kModel, "alice", "m"));
  EXPECT_TRUE(r.is_private);
}

TEST_F(SqliteMetadataStoreTest, MemoryStoresAreIndependent) {
  MH_ASSERT_OK_AND_ASSIGN(auto a, SqliteMetadataStore::Open(":memory:"));
  MH_ASSERT_OK_AND_ASSIGN(auto b, SqliteMetadataStore::Open(":memory:"));
  MH_ASSERT_OK(a->CreateUser("alice", false));
  MH_EXPECT_CODE(b->GetAccount("alice"), kNotFound);
}

}  // namespace
}  // namespace test
}  // namespace modelhub
