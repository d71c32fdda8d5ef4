// PgMetadataStore: runs the conformance suite against a real PostgreSQL (started
// by PgTestServer, one fresh database per test) and tests what only this backend
// has: its migrations and their lock, the schema version, a server restart
// under an open store, and the URL-based factory.
//
// Without PostgreSQL server binaries every test here is SKIPPED with the reason,
// unless MODELHUB_REQUIRE_POSTGRES is set (CI), which makes that a failure.
#include "storage/meta/pg_metadata_store.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <thread>
#include <vector>

#include "storage/meta/metadata_store_test.h"
#include "storage/meta/pg_conn.h"
#include "storage/meta/pg_test_server.h"
#include "storage/meta/sqlite_db.h"
#include "storage/meta/sqlite_metadata_store.h"

namespace modelhub {
namespace test {
namespace {

// One server for the whole test binary, started on first use.
struct SharedServer {
  PgTestServer server;
  Status started;
};

SharedServer& Shared() {
  static SharedServer s;
  static const bool once = [] {
    s.started = s.server.Start();
    return true;
  }();
  (void)once;
  return s;
}

// Why PostgreSQL tests cannot run here, or "" if they can (or must: then a
// missing server fails the tests through open()).
std::string SkipReason() {
  const Status& st = Shared().started;
  if (st.code() == Code::kNotFound && !PostgresRequired()) return "PostgreSQL not available: " + st.message();
  return "";
}

Result<std::string> FreshDatabase() {
  MH_RETURN_IF_ERROR(Shared().started);
  return Shared().server.CreateDatabase();
}

INSTANTIATE_TEST_SUITE_P(
    Postgres, MetadataStoreConformance,
    testing::Values(MetadataStoreFactory{"Server",
                                         [](const std::string&) -> Result<std::unique_ptr<MetadataStore>> {
                                           MH_ASSIGN_OR_RETURN(std::string url, FreshDatabase());
                                           return OpenMetadataStore(url);  // by URL scheme
                                         },
                                         SkipReason}),
    MetadataStoreFactoryName);

// Statements behind the store's back.
class RawPg {
 public:
  explicit RawPg(const std::string& url) {
    auto c = PgConn::Connect(url, 10);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    if (c.ok()) conn_ = std::move(c).value();
  }
  Status Run(const std::string& sql, const PgParams& params = {}) {
    if (!conn_) return Status::Internal("no connection");
    return conn_->Run(sql, params);
  }
  std::string QueryText(const std::string& sql) {
    if (!conn_) return "";
    auto r = conn_->Exec(sql);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() && r->rows() > 0 ? r->Text(0, 0) : "";
  }

 private:
  std::unique_ptr<PgConn> conn_;
};

class PgMetadataStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    const std::string why = SkipReason();
    if (!why.empty()) GTEST_SKIP() << why;
    auto url = FreshDatabase();
    ASSERT_TRUE(url.ok()) << url.status().ToString();
    url_ = *url;
  }
  std::string url_;
};

TEST(PgStoreOptionsTest, TakesOwnSettingsOutOfTheUrl) {
  PgStoreOptions o;
  MH_ASSERT_OK_AND_ASSIGN(std::string url, TakePgStoreOptions("postgres://u@h/db", &o));
  EXPECT_EQ(url, "postgres://u@h/db");
  EXPECT_EQ(o.pool_size, 8);
  MH_ASSERT_OK_AND_ASSIGN(url, TakePgStoreOptions("postgres://u@h/db?sslmode=require&pool_size=16&connect_timeout=3", &o));
  EXPECT_EQ(url, "postgres://u@h/db?sslmode=require&connect_timeout=3");
  EXPECT_EQ(o.pool_size, 16);
  MH_ASSERT_OK_AND_ASSIGN(url, TakePgStoreOptions("postgres://u@h/db?pool_size=2&max_attempts=5", &o));
  EXPECT_EQ(url, "postgres://u@h/db");
  EXPECT_EQ(o.pool_size, 2);
  EXPECT_EQ(o.max_attempts, 5);
  for (const char* bad : {"?pool_size=0", "?pool_size=", "?pool_size", "?pool_size=8x", "?max_attempts=1001",
                          "?pool_size=-1"}) {
    MH_EXPECT_CODE(TakePgStoreOptions(std::string("postgres://u@h/db") + bad, &o), kInvalidArgument);
  }
}

TEST_F(PgMetadataStoreTest, PoolSizeFromTheUrl) {
  MH_ASSERT_OK_AND_ASSIGN(auto store, OpenMetadataStore(url_ + (url_.find('?') == std::string::npos ? "?" : "&") +
                                                        "pool_size=1"));
  // One connection, used by one call at a time: still works for sequential calls.
  MH_ASSERT_OK(store->CreateUser("pooled", false).status());
  MH_ASSERT_OK(store->GetAccount("pooled").status());
}

TEST_F(PgMetadataStoreTest, SchemaIdentityAndVersion) {
  MH_ASSERT_OK_AND_ASSIGN(auto store, PgMetadataStore::Open(url_));
  RawPg raw(url_);
  EXPECT_EQ(raw.QueryText("SELECT version FROM modelhub_schema"), std::to_string(PgMetadataStore::kSchemaVersion));
  EXPECT_EQ(raw.QueryText("SELECT application FROM modelhub_schema"), PgMetadataStore::kApplication);
  EXPECT_EQ(raw.QueryText("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"), "13");
  // Repository ids come from a sequence: never handed out twice, even after a failed insert.
  EXPECT_EQ(raw.QueryText("SELECT is_identity FROM information_schema.columns "
                          "WHERE table_name = 'repos' AND column_name = 'id'"),
            "YES");
  // Opening again changes nothing.
  MH_ASSERT_OK(store->CreateUser("alice", false));
  MH_ASSERT_OK_AND_ASSIGN(auto again, PgMetadataStore::Open(url_));
  MH_EXPECT_OK(again->GetAccount("alice"));
}

// Processes opening a fresh database at once: the advisory lock makes one of them
// migrate and the others find the work done (without it, they would clash on CREATE TABLE).
TEST_F(PgMetadataStoreTest, ConcurrentOpensMigrateOnce) {
  constexpr int kOpeners = 8;
  std::vector<std::string> errors(kOpeners);
  std::vector<std::thread> threads;
  for (int i = 0; i < kOpeners; ++i) {
    threads.emplace_back([&, i] {
      auto s = PgMetadataStore::Open(url_);
      if (!s.ok()) errors[i] = s.status().ToString();
    });
  }
  for (auto& t : threads) t.join();
  for (const std::string& e : errors) EXPECT_TRUE(e.empty()) << e;
  RawPg raw(url_);
  EXPECT_EQ(raw.QueryText("SELECT count(*) FROM modelhub_schema"), "1");
  EXPECT_EQ(raw.QueryText("SELECT version FROM modelhub_schema"), std::to_string(PgMetadataStore::kSchemaVersion));
}

TEST_F(PgMetadataStoreTest, RefusesNewerSchema) {
  { MH_ASSERT_OK(PgMetadataStore::Open(url_)); }
  RawPg raw(url_);
  MH_ASSERT_OK(raw.Run("UPDATE modelhub_schema SET version = $1", PgParams::Of(PgMetadataStore::kSchemaVersion + 1)));
  auto store = PgMetadataStore::Open(url_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kNotImplemented);
  EXPECT_NE(store.status().message().find("newer than this binary supports"), std::string::npos)
      << store.status().ToString();
}

TEST_F(PgMetadataStoreTest, RefusesForeignDatabase) {
  RawPg raw(url_);
  MH_ASSERT_OK(raw.Run("CREATE TABLE t (x INTEGER)"));
  MH_EXPECT_CODE(PgMetadataStore::Open(url_), kInvalidArgument);
  MH_ASSERT_OK(raw.Run("DROP TABLE t"));
  MH_ASSERT_OK(raw.Run("CREATE TABLE modelhub_schema (singleton BOOLEAN PRIMARY KEY, application TEXT, version INT)"));
  MH_ASSERT_OK(raw.Run("INSERT INTO modelhub_schema VALUES (TRUE, 'something-else', 1)"));
  MH_EXPECT_CODE(PgMetadataStore::Open(url_), kInvalidArgument);
}

// The tables may live in a schema of their own, chosen in the URL.
TEST_F(PgMetadataStoreTest, TablesInTheSchemaOfTheSearchPath) {
  RawPg raw(url_);
  MH_ASSERT_OK(raw.Run("CREATE SCHEMA hub"));
  MH_ASSERT_OK_AND_ASSIGN(auto store, PgMetadataStore::Open(url_ + "?options=-csearch_path%3Dhub"));
  MH_ASSERT_OK(store->CreateUser("alice", false));
  EXPECT_EQ(raw.QueryText("SELECT count(*) FROM hub.accounts"), "1");
  EXPECT_EQ(raw.QueryText("SELECT to_regclass('public.accounts') IS NULL"), "t");
}

TEST_F(PgMetadataStoreTest, Version4BackfillsXorbFilesFromTerms) {
  { MH_ASSERT_OK(PgMetadataStore::Open(url_)); }
  {
    // A version-3 database with files: terms are 44-byte records starting with the raw xorb hash.
    RawPg raw(url_);
    MH_ASSERT_OK(raw.Run("ALTER TABLE accounts DROP COLUMN case_twin"));  // undo version 5 (and its indexes)
    MH_ASSERT_OK(raw.Run("ALTER TABLE repos DROP COLUMN case_twin"));
    MH_ASSERT_OK(raw.Run("DROP TABLE xorb_files"));
    MH_ASSERT_OK(raw.Run("UPDATE modelhub_schema SET version = 3"));
    const std::string term_a = std::string(32, '\xaa') + std::string(12, '\0');
    std::string raw_seq;  // raw bytes 00 01 .. 1f
    for (int i = 0; i < 32; ++i) raw_seq += static_cast<char>(i);
    const std::string term_b = raw_seq + std::string(12, '\0');
    auto insert = [&](char sha, char xet, const std::string& terms) {
      return raw.Run("INSERT INTO files VALUES ($1, $2, 1, $3, 1)",
                     PgParams::Of(std::string(64, sha), std::string(64, xet), PgBytes{terms}));
    };
    MH_ASSERT_OK(insert('1', '2', term_a));
    MH_ASSERT_OK(insert('3', '4', term_a + term_b));
    MH_ASSERT_OK(insert('5', '6', std::string(1, '\0')));  // not whole terms: skipped
  }
  MH_ASSERT_OK_AND_ASSIGN(auto store, PgMetadataStore::Open(url_));
  MH_ASSERT_OK_AND_ASSIGN(auto files, store->FilesWithXorb(std::string(64, 'a'), 10));
  EXPECT_EQ(files, (std::vector<std::string>{std::string(64, '1'), std::string(64, '3')}));
  // Xet hex form: each 8-byte group byte-reversed.
  MH_ASSERT_OK_AND_ASSIGN(
      files, store->FilesWithXorb("07060504030201000f0e0d0c0b0a09081716151413121110" "1f1e1d1c1b1a1918", 10));
  EXPECT_EQ(files, (std::vector<std::string>{std::string(64, '3')}));
}

TEST_F(PgMetadataStoreTest, Version5KeepsCaseTwins) {
  { MH_ASSERT_OK(PgMetadataStore::Open(url_)); }
  {
    // A version-4 database (names were case-sensitive) holding case twins.
    RawPg raw(url_);
    MH_ASSERT_OK(raw.Run("ALTER TABLE accounts DROP COLUMN case_twin"));  // drops its index too
    MH_ASSERT_OK(raw.Run("ALTER TABLE repos DROP COLUMN case_twin"));
    MH_ASSERT_OK(raw.Run("UPDATE modelhub_schema SET version = 4"));
    for (auto [name, kind] : {std::pair{"bob", "user"}, std::pair{"Bob", "user"}, std::pair{"BOB", "org"}}) {
      MH_ASSERT_OK(raw.Run("INSERT INTO accounts (name, kind, created_ms) VALUES ($1, $2, 1)",
                           PgParams::Of(std::string(name), std::string(kind))));
    }
    for (auto [type, name] : {std::pair{"model", "x"}, std::pair{"model", "X"}, std::pair{"dataset", "x"}}) {
      MH_ASSERT_OK(raw.Run("INSERT INTO repos (type, owner_id, name, is_private, created_ms, last_modified_ms) "
                           "VALUES ($1, (SELECT id FROM accounts WHERE name = 'bob'), $2, FALSE, 1, 1)",
                           PgParams::Of(std::string(type), std::string(name))));
    }
  }
  MH_ASSERT_OK_AND_ASSIGN(auto store, PgMetadataStore::Open(url_));
  CheckCaseTwinsAfterMigration(*store);
}

// An embedded folder whose SQLite database still holds case twins (from before version 5) moves to
// PostgreSQL with all of them: the SQLite migration marks them, the import copies the marks.
TEST_F(PgMetadataStoreTest, ImportFromSqliteKeepsCaseTwins) {
  ScratchDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string db = dir.path() + "/modelhub.db";
  { MH_ASSERT_OK(SqliteMetadataStore::Open(db)); }
  {
    MH_ASSERT_OK_AND_ASSIGN(auto raw, SqliteConn::Open(db, 5000));
    MH_ASSERT_OK(raw->Exec("DROP INDEX accounts_by_folded_name; DROP INDEX repos_by_folded_name; "
                           "ALTER TABLE accounts DROP COLUMN case_twin; ALTER TABLE repos DROP COLUMN case_twin; "
                           "PRAGMA user_version = 4; "
                           "INSERT INTO accounts (name, kind, created_ms) VALUES ('bob', 'user', 1), "
                           "('Bob', 'user', 1), ('BOB', 'org', 1);"
                           "INSERT INTO repos (type, owner_id, name, is_private, created_ms, last_modified_ms) "
                           "VALUES ('model', 1, 'x', 0, 1, 1), ('model', 1, 'X', 0, 1, 1), ('dataset', 1, 'x', 0, 1, 1);"));
  }
  MH_ASSERT_OK_AND_ASSIGN(auto store, PgMetadataStore::Open(url_));
  MH_ASSERT_OK(store->ImportFromSqlite(db).status());
  CheckCaseTwinsAfterMigration(*store);
}

// What PgParams sends comes back unchanged: array quoting, raw bytes, integer limits, NULL.
TEST_F(PgMetadataStoreTest, ParametersRoundTrip) {
  MH_ASSERT_OK_AND_ASSIGN(std::unique_ptr<PgConn> conn, PgConn::Connect(url_, 10));
  const std::vector<std::string> items = {"plain", "with \"quotes\"", "back\\slash", "a,b", "{braces}", "", "NULL",
                                          " spaced ", "caf\xc3\xa9"};
  MH_ASSERT_OK_AND_ASSIGN(PgResult arr, conn->Exec("SELECT t.v FROM unnest($1::text[]) WITH ORDINALITY AS t(v, i) "
                                                   "ORDER BY t.i",
                                                   PgParams::Of(PgTextArray{items})));
  ASSERT_EQ(arr.rows(), static_cast<int>(items.size()));
  for (int i = 0; i < arr.rows(); ++i) {
    EXPECT_FALSE(arr.IsNull(i, 0)) << i;
    EXPECT_EQ(arr.Text(i, 0), items[i]);
  }
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  MH_ASSERT_OK_AND_ASSIGN(PgResult bin, conn->Exec("SELECT $1::bytea, length($1)", PgParams::Of(PgBytes{bytes})));
  EXPECT_EQ(bin.Bytes(0, 0), bytes);
  EXPECT_EQ(bin.Int64(0, 1), 256);
  MH_ASSERT_OK_AND_ASSIGN(PgResult ints, conn->Exec("SELECT $1, $2, $3 IS NULL, $4",
                                                    PgParams::Of(INT64_MIN, INT64_MAX, std::optional<int64_t>(), true)));
  EXPECT_EQ(ints.Int64(0, 0), INT64_MIN);
  EXPECT_EQ(ints.Int64(0, 1), INT64_MAX);
  EXPECT_TRUE(ints.Bool(0, 2));
  EXPECT_TRUE(ints.Bool(0, 3));
  // A NUL is refused by the server, never silently cut off.
  MH_EXPECT_CODE(conn->Exec("SELECT $1", PgParams::Of(std::string("ab\0cd", 5))), kInvalidArgument);
  MH_EXPECT_OK(conn->Exec("SELECT 1"));  // the connection is still usable
}

// Names PostgreSQL text cannot hold (NUL, invalid UTF-8) are never found and never stored.
TEST_F(PgMetadataStoreTest, TextPostgresCannotHold) {
  MH_ASSERT_OK_AND_ASSIGN(auto store, PgMetadataStore::Open(url_));
  MH_ASSERT_OK(store->CreateUser("alice", false));
  const std::string bad_utf8 = "al\xff" "ice";
  MH_EXPECT_CODE(store->GetAccount(bad_utf8), kNotFound);
  MH_EXPECT_CODE(store->GetAccount(std::string("alice\0x", 7)), kNotFound);
  MH_EXPECT_CODE(store->CreateUser(bad_utf8, false), kInvalidArgument);
  MH_EXPECT_CODE(store->CreateRepo(RepoType::kModel, "alice", "m\xc3", false), kInvalidArgument);
  MH_ASSERT_OK(store->CreateRepo(RepoType::kModel, "alice", "caf\xc3\xa9", false));  // valid UTF-8 is fine
  MH_EXPECT_OK(store->GetRepo(RepoType::kModel, "alice", "caf\xc3\xa9"));
  MH_EXPECT_CODE(store->GetRepo(RepoType::kModel, "alice", "caf\xc3"), kNotFound);
  RepoQuery q;
  q.search = "\xc3";
  MH_ASSERT_OK_AND_ASSIGN(auto none, store->ListRepos(q));
  EXPECT_TRUE(none.empty());
}

// Two stores on one database stand in for two server processes.
TEST_F(PgMetadataStoreTest, TwoStoresOnOneDatabase) {
  MH_ASSERT_OK_AND_ASSIGN(auto a, PgMetadataStore::Open(url_));
  MH_ASSERT_OK_AND_ASSIGN(auto b, PgMetadataStore::Open(url_));
  MH_ASSERT_OK(a->CreateUser("alice", false));
  constexpr int kThreads = 4, kRepos = 10;
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      PgMetadataStore& s = t % 2 == 0 ? *a : *b;
      for (int i = 0; i < kRepos; ++i) {
        auto r = s.CreateRepo(RepoType::kModel, "alice", fmt::format("t{}-{}", t, i), false);
        if (!r.ok()) errors[t] += r.status().ToString() + "; ";
        auto clash = s.CreateRepo(RepoType::kModel, "alice", fmt::format("same-{}", i), false);
        if (!clash.ok() && clash.status().code() != Code::kConflict) errors[t] += clash.status().ToString() + "; ";
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const std::string& e : errors) EXPECT_TRUE(e.empty()) << e;
  RepoQuery q;
  q.limit = 1000;
  MH_ASSERT_OK_AND_ASSIGN(auto seen_by_a, a->ListRepos(q));
  MH_ASSERT_OK_AND_ASSIGN(auto seen_by_b, b->ListRepos(q));
  EXPECT_EQ(seen_by_a.size(), size_t(kThreads * kRepos + kRepos));
  EXPECT_EQ(seen_by_b.size(), seen_by_a.size());
}

TEST_F(PgMetadataStoreTest, OpenMetadataStorePicksTheBackendByScheme) {
  MH_ASSERT_OK_AND_ASSIGN(auto pg, OpenMetadataStore(url_));
  EXPECT_NE(dynamic_cast<PgMetadataStore*>(pg.get()), nullptr);
  const std::string postgresql = url_;  // the server helper hands out postgresql:// URLs
  ASSERT_EQ(postgresql.rfind("postgresql://", 0), 0u);
  MH_ASSERT_OK_AND_ASSIGN(auto pg2, OpenMetadataStore("postgres://" + postgresql.substr(13)));
  EXPECT_NE(dynamic_cast<PgMetadataStore*>(pg2.get()), nullptr);
  MH_EXPECT_CODE(OpenMetadataStore("mysql://u:secret@h/db"), kInvalidArgument);
  auto bad = OpenMetadataStore("mysql://u:secret@h/db");
  EXPECT_EQ(bad.status().message().find("secret"), std::string::npos) << "a password leaked into a message";
  MH_EXPECT_CODE(OpenMetadataStore(""), kInvalidArgument);
}

// A restart of PostgreSQL under an open store: calls during the outage fail fast with
// Unavailable (retryable); afterwards the same store works again, nothing reopened.
TEST(PgMetadataStoreRestart, SurvivesServerRestart) {
  PgTestServer server;  // its own server: the others keep theirs
  Status started = server.Start();
  if (started.code() == Code::kNotFound && !PostgresRequired()) GTEST_SKIP() << started.message();
  MH_ASSERT_OK(started);
  MH_ASSERT_OK_AND_ASSIGN(std::string url, server.CreateDatabase());
  MH_ASSERT_OK_AND_ASSIGN(auto store, PgMetadataStore::Open(url));
  MH_ASSERT_OK_AND_ASSIGN(Account alice, store->CreateUser("alice", false));
  MH_ASSERT_OK(store->CreateRepo(RepoType::kModel, "alice", "m", false));
  // Several pooled connections, all of which the restart will break.
  std::vector<std::thread> warm;
  for (int i = 0; i < 4; ++i) warm.emplace_back([&] { (void)store->ListAllRepos(); });
  for (auto& t : warm) t.join();

  MH_ASSERT_OK(server.Stop());
  const auto outage_start = std::chrono::steady_clock::now();
  auto read = store->GetAccount("alice");
  MH_EXPECT_CODE(read, kUnavailable);
  EXPECT_TRUE(read.status().retryable());
  auto write = store->CreateUser("bob", false);
  MH_EXPECT_CODE(write, kUnavailable);
  EXPECT_TRUE(write.status().retryable());
  Status listing = store->ListXorbs([](const XorbRecord&) {});
  MH_EXPECT_CODE(listing, kUnavailable);
  MH_EXPECT_CODE(PgMetadataStore::Open(url), kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - outage_start, std::chrono::seconds(5)) << "failing should not hang";

  MH_ASSERT_OK(server.Start());
  MH_ASSERT_OK_AND_ASSIGN(Account again, store->GetAccount("alice"));
  EXPECT_EQ(again.id, alice.id);
  MH_EXPECT_OK(store->CreateUser("bob", false));
  std::vector<Status> after(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      after[i] = store->CreateRepo(RepoType::kModel, "alice", fmt::format("r{}", i), false).status();
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& s : after) MH_EXPECT_OK(s);
  MH_ASSERT_OK_AND_ASSIGN(auto repos, store->ListAllRepos());
  EXPECT_EQ(repos.size(), 5u);
}

}  // namespace
}  // namespace test
}  // namespace modelhub
