#include "storage/meta/sqlite_metadata_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <iterator>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "common/fs.h"
#include "common/sole_writer.h"
#include "common/strings.h"
#include "common/time_util.h"
#include "storage/meta/meta_rules.h"

namespace modelhub {
namespace {

// ---- Schema: append-only; see docs/formats/metadata-schema.md ----

struct Migration {
  int version;
  const char* sql;
};

constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE accounts (
  id          INTEGER PRIMARY KEY,
  name        TEXT    NOT NULL UNIQUE,
  kind        TEXT    NOT NULL CHECK (kind IN ('user', 'org')),
  fullname    TEXT    NOT NULL DEFAULT '',
  is_admin    INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
  created_ms  INTEGER NOT NULL
) STRICT;

CREATE TABLE memberships (
  org_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  user_id  INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  role     TEXT    NOT NULL CHECK (role IN ('read', 'write', 'admin')),
  PRIMARY KEY (org_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX memberships_by_user ON memberships(user_id);

CREATE TABLE tokens (
  id             INTEGER PRIMARY KEY,
  user_id        INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  display_name   TEXT    NOT NULL,
  role           TEXT    NOT NULL CHECK (role IN ('read', 'write')),
  secret_sha256  TEXT    NOT NULL UNIQUE CHECK (length(secret_sha256) = 64),
  created_ms     INTEGER NOT NULL,
  revoked_ms     INTEGER
) STRICT;
CREATE INDEX tokens_by_user ON tokens(user_id, display_name);

CREATE TABLE repos (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  type              TEXT    NOT NULL CHECK (type IN ('model', 'dataset')),
  owner_id          INTEGER NOT NULL REFERENCES accounts(id),
  name              TEXT    NOT NULL,
  is_private        INTEGER NOT NULL CHECK (is_private IN (0, 1)),
  created_ms        INTEGER NOT NULL,
  last_modified_ms  INTEGER NOT NULL,
  UNIQUE (type, owner_id, name)
) STRICT;
CREATE INDEX repos_by_owner ON repos(owner_id);
CREATE INDEX repos_by_created ON repos(type, created_ms);
CREATE INDEX repos_by_modified ON repos(type, last_modified_ms);

CREATE TABLE lfs_objects (
  oid         TEXT    PRIMARY KEY CHECK (length(oid) = 64),
  size        INTEGER NOT NULL CHECK (size >= 0),
  created_ms  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE lfs_links (
  repo_id     INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
  oid         TEXT    NOT NULL REFERENCES lfs_objects(oid),
  created_ms  INTEGER NOT NULL,
  PRIMARY KEY (repo_id, oid)
) STRICT, WITHOUT ROWID;
CREATE INDEX lfs_links_by_oid ON lfs_links(oid);

CREATE TABLE upload_sessions (
  id          TEXT    PRIMARY KEY,
  repo_id     INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
  oid         TEXT    NOT NULL CHECK (length(oid) = 64),
  size        INTEGER NOT NULL CHECK (size >= 0),
  part_size   INTEGER NOT NULL CHECK (part_size >= 0),
  part_count  INTEGER NOT NULL CHECK (part_count >= 0),
  created_ms  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX upload_sessions_by_repo ON upload_sessions(repo_id);
CREATE INDEX upload_sessions_by_created ON upload_sessions(created_ms);
)sql"},
    {2, R"sql(
CREATE TABLE xorbs (
  hash          TEXT    PRIMARY KEY CHECK (length(hash) = 64),
  stored_bytes  INTEGER NOT NULL CHECK (stored_bytes >= 0),
  raw_bytes     INTEGER NOT NULL CHECK (raw_bytes >= 0),
  num_chunks    INTEGER NOT NULL CHECK (num_chunks >= 0),
  created_ms    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE chunks (
  hash         TEXT    PRIMARY KEY CHECK (length(hash) = 64),
  xorb_hash    TEXT    NOT NULL REFERENCES xorbs(hash) ON DELETE CASCADE,
  chunk_index  INTEGER NOT NULL CHECK (chunk_index >= 0)
) STRICT, WITHOUT ROWID;
CREATE INDEX chunks_by_xorb ON chunks(xorb_hash);

CREATE TABLE files (
  sha256      TEXT    PRIMARY KEY CHECK (length(sha256) = 64),
  xet_hash    TEXT    NOT NULL CHECK (length(xet_hash) = 64),
  size        INTEGER NOT NULL CHECK (size >= 0),
  terms       BLOB    NOT NULL,
  created_ms  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX files_by_xet_hash ON files(xet_hash);
)sql"},
    {3, R"sql(
ALTER TABLE xorbs ADD COLUMN deleting INTEGER NOT NULL DEFAULT 0 CHECK (deleting IN (0, 1));
CREATE INDEX files_by_created ON files(created_ms);
CREATE TABLE orphan_xorbs (
  hash           TEXT    PRIMARY KEY CHECK (length(hash) = 64),
  first_seen_ms  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
)sql"},
    {4, R"sql(
CREATE TABLE xorb_files (
  xorb_hash  TEXT NOT NULL CHECK (length(xorb_hash) = 64),
  sha256     TEXT NOT NULL CHECK (length(sha256) = 64),
  PRIMARY KEY (xorb_hash, sha256)
) STRICT, WITHOUT ROWID;
CREATE INDEX xorb_files_by_file ON xorb_files(sha256);
WITH RECURSIVE t(sha256, terms, i) AS (
  SELECT sha256, terms, 0 FROM files WHERE length(terms) >= 44 AND length(terms) % 44 = 0
  UNION ALL
  SELECT sha256, terms, i + 1 FROM t WHERE (i + 2) * 44 <= length(terms)
)
INSERT OR IGNORE INTO xorb_files (xorb_hash, sha256)
  SELECT lower(hex(substr(terms, i * 44 + 8, 1) || substr(terms, i * 44 + 7, 1) ||
    substr(terms, i * 44 + 6, 1) || substr(terms, i * 44 + 5, 1) || substr(terms, i * 44 + 4, 1) ||
    substr(terms, i * 44 + 3, 1) || substr(terms, i * 44 + 2, 1) || substr(terms, i * 44 + 1, 1) ||
    substr(terms, i * 44 + 16, 1) || substr(terms, i * 44 + 15, 1) || substr(terms, i * 44 + 14, 1) ||
    substr(terms, i * 44 + 13, 1) || substr(terms, i * 44 + 12, 1) || substr(terms, i * 44 + 11, 1) ||
    substr(terms, i * 44 + 10, 1) || substr(terms, i * 44 + 9, 1) || substr(terms, i * 44 + 24, 1) ||
    substr(terms, i * 44 + 23, 1) || substr(terms, i * 44 + 22, 1) || substr(terms, i * 44 + 21, 1) ||
    substr(terms, i * 44 + 20, 1) || substr(terms, i * 44 + 19, 1) || substr(terms, i * 44 + 18, 1) ||
    substr(terms, i * 44 + 17, 1) || substr(terms, i * 44 + 32, 1) || substr(terms, i * 44 + 31, 1) ||
    substr(terms, i * 44 + 30, 1) || substr(terms, i * 44 + 29, 1) || substr(terms, i * 44 + 28, 1) ||
    substr(terms, i * 44 + 27, 1) || substr(terms, i * 44 + 26, 1) || substr(terms, i * 44 + 25, 1))), sha256 FROM t;
)sql"},
    // Names are unique case-insensitively (ASCII folding: SQLite's built-in lower()). Case twins
    // made by older versions are all kept: the oldest row of each folded name keeps case_twin 0,
    // the others get their own id there, so the unique index holds and no new twin can be added.
    {5, R"sql(
ALTER TABLE accounts ADD COLUMN case_twin INTEGER NOT NULL DEFAULT 0;
UPDATE accounts SET case_twin = id WHERE id NOT IN (SELECT min(id) FROM accounts GROUP BY lower(name));
CREATE UNIQUE INDEX accounts_by_folded_name ON accounts(lower(name), case_twin);
ALTER TABLE repos ADD COLUMN case_twin INTEGER NOT NULL DEFAULT 0;
UPDATE repos SET case_twin = id WHERE id NOT IN (SELECT min(id) FROM repos GROUP BY type, owner_id, lower(name));
CREATE UNIQUE INDEX repos_by_folded_name ON repos(type, owner_id, lower(name), case_twin);
)sql"},
};

static_assert(std::size(kMigrations) == SqliteMetadataStore::kSchemaVersion &&
                  kMigrations[std::size(kMigrations) - 1].version == SqliteMetadataStore::kSchemaVersion,
              "one migration per schema version, in order");

// Applies pending migrations in one write transaction (two processes opening a
// fresh file at once: the second waits on the lock, then finds nothing to do).
Status Migrate(SqliteConn& c, const std::string& path) {
  MH_ASSIGN_OR_RETURN(SqliteTxn txn, SqliteTxn::Begin(c, SqliteTxn::Mode::kImmediate));
  MH_ASSIGN_OR_RETURN(int64_t app_id, c.QueryInt("PRAGMA application_id"));
  MH_ASSIGN_OR_RETURN(int64_t version, c.QueryInt("PRAGMA user_version"));
  MH_ASSIGN_OR_RETURN(int64_t tables, c.QueryInt("SELECT count(*) FROM sqlite_schema"));
  bool foreign = app_id != 0 ? app_id != SqliteMetadataStore::kApplicationId : (version != 0 || tables != 0);
  if (foreign) {
    return Status::InvalidArgument(path + " is a SQLite database but not a modelhub metadata database");
  }
  if (version > SqliteMetadataStore::kSchemaVersion) {
    return Status::NotImplemented(path + ": metadata schema version " + std::to_string(version) +
                                  " is newer than this binary supports (" +
                                  std::to_string(SqliteMetadataStore::kSchemaVersion) + "); upgrade modelhub");
  }
  if (version == SqliteMetadataStore::kSchemaVersion) return Status::Ok();  // rolls back the empty txn
  for (const Migration& m : kMigrations) {
    if (m.version <= version) continue;
    Status s = c.Exec(m.sql);
    if (!s.ok()) {
      return Status(s.code(), "migration to schema version " + std::to_string(m.version) + ": " + s.message(), {},
                    s.retryable());
    }
  }
  // Pragmas take no parameters; both values are compile-time constants.
  const std::string stamp = "PRAGMA user_version = " + std::to_string(SqliteMetadataStore::kSchemaVersion) +
                            "; PRAGMA application_id = " + std::to_string(SqliteMetadataStore::kApplicationId);
  MH_RETURN_IF_ERROR(c.Exec(stamp.c_str()));
  return txn.Commit();
}

Result<std::unique_ptr<SqliteConn>> OpenConfigured(const std::string& path, bool in_memory, int busy_timeout_ms) {
  MH_ASSIGN_OR_RETURN(std::unique_ptr<SqliteConn> c, SqliteConn::Open(path, busy_timeout_ms));
  // Refuse the statements that could corrupt the file even if SQL were ever built from input.
  sqlite3_db_config(c->raw(), SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  MH_RETURN_IF_ERROR(c->Exec("PRAGMA foreign_keys = ON; PRAGMA trusted_schema = OFF"));
  MH_ASSIGN_OR_RETURN(int64_t fk, c->QueryInt("PRAGMA foreign_keys"));
  if (fk != 1) return Status::Internal("SQLite was built without foreign key support");
  if (!in_memory) {
    // The first statement that reads the file: a non-database file fails here (Corruption).
    MH_ASSIGN_OR_RETURN(SqliteStmt st, c->Prepare("PRAGMA journal_mode = WAL"));
    MH_ASSIGN_OR_RETURN(bool row, st.Step());
    std::string mode = row ? st.Text(0) : "";
    if (mode != "wal") return Status::IOError(path + ": cannot switch to WAL journal mode (got '" + mode + "')");
  }
  // FULL: the WAL is fsynced at every commit, so an Ok write is durable.
  MH_RETURN_IF_ERROR(c->Exec("PRAGMA synchronous = FULL"));
  return c;
}

// ---- Row readers and lookups shared by several methods ----

Result<Account> ReadAccount(const SqliteStmt& st) {
  Account a;
  a.id = st.Int64(0);
  a.name = st.Text(1);
  MH_ASSIGN_OR_RETURN(a.kind, ParseAccountKind(st.Text(2)));
  a.fullname = st.Text(3);
  a.is_admin = st.Bool(4);
  a.created_ms = st.Int64(5);
  return a;
}

// Case-insensitive; of case twins kept from before schema version 5, the one spelled exactly
// as asked, else the oldest (meta_rules.h).
Result<Account> AccountByName(SqliteConn& c, const std::string& name) {
  MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare("SELECT id, name, kind, fullname, is_admin, created_ms "
                                               "FROM accounts WHERE lower(name) = ?1 "
                                               "ORDER BY name = ?2 DESC, id LIMIT 1"));
  st.BindAll(FoldName(name), name);
  MH_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound("account '" + name + "' not found");
  return ReadAccount(st);
}

Result<Account> AccountById(SqliteConn& c, int64_t id) {
  MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare("SELECT id, name, kind, fullname, is_admin, created_ms "
                                               "FROM accounts WHERE id = ?1"));
  st.BindAll(id);
  MH_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound("account #" + std::to_string(id) + " not found");
  return ReadAccount(st);
}

// An account of the given kind; NotFound if missing or of the other kind.
Result<Account> AccountOfKind(SqliteConn& c, const std::string& name, AccountKind kind) {
  auto a = AccountByName(c, name);
  const char* noun = kind == AccountKind::kOrg ? "organization" : "user";
  if (a.ok() && a->kind != kind) return Status::NotFound(std::string(noun) + " '" + name + "' not found");
  if (a.status().IsNotFound()) return Status::NotFound(std::string(noun) + " '" + name + "' not found");
  return a;
}

// Conflict if another row holds name in any letter case (the unique index backs this up).
Status CheckAccountNameFree(SqliteConn& c, const std::string& name) {
  MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare("SELECT name FROM accounts WHERE lower(name) = ?1 LIMIT 1"));
  st.BindAll(FoldName(name));
  MH_ASSIGN_OR_RETURN(bool row, st.Step());
  if (row) return Status::Conflict(NameTakenMessage(name, st.Text(0)));
  return Status::Ok();
}

Result<Account> InsertAccount(SqliteConn& c, const std::string& name, AccountKind kind, bool is_admin) {
  MH_RETURN_IF_ERROR(CheckAccountNameFree(c, name));
  Account a;
  a.name = name;
  a.kind = kind;
  a.is_admin = is_admin;
  a.created_ms = NowMs();
  MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare("INSERT INTO accounts (name, kind, fullname, is_admin, created_ms) "
                                               "VALUES (?1, ?2, '', ?3, ?4)"));
  st.BindAll(name, AccountKindName(kind), is_admin, a.created_ms);
  MH_RETURN_IF_ERROR(Explain(st.Run(), NameTakenMessage(name, name)));
  a.id = c.LastInsertRowid();
  return a;
}

constexpr char kTokenColumns[] = "id, user_id, display_name, role, created_ms, revoked_ms IS NOT NULL";

Result<Token> ReadToken(const SqliteStmt& st) {
  Token t;
  t.id = st.Int64(0);
  t.user_id = st.Int64(1);
  t.display_name = st.Text(2);
  MH_ASSIGN_OR_RETURN(t.role, ParseTokenRole(st.Text(3)));
  t.created_ms = st.Int64(4);
  t.revoked = st.Bool(5);
  return t;
}

constexpr char kSelectRepo[] =
    "SELECT r.id, r.type, a.name, r.name, r.is_private, r.created_ms, r.last_modified_ms "
    "FROM repos r JOIN accounts a ON a.id = r.owner_id ";

Result<RepoRecord> ReadRepo(const SqliteStmt& st) {
  RepoRecord r;
  r.id = st.Int64(0);
  MH_ASSIGN_OR_RETURN(r.type, ParseRepoType(st.Text(1)));
  r.ns = st.Text(2);
  r.name = st.Text(3);
  r.is_private = st.Bool(4);
  r.created_ms = st.Int64(5);
  r.last_modified_ms = st.Int64(6);
  return r;
}

Result<RepoRecord> RepoById(SqliteConn& c, int64_t id) {
  MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare(std::string(kSelectRepo) + "WHERE r.id = ?1"));
  st.BindAll(id);
  MH_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound(RepoNotFoundMessage(id));
  return ReadRepo(st);
}

// Conflict if another repository of this type and owner has name in any letter case.
Status CheckRepoNameFree(SqliteConn& c, RepoType type, const Account& owner, const std::string& name,
                         int64_t except_id) {
  MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare("SELECT name FROM repos WHERE type = ?1 AND owner_id = ?2 "
                                               "AND lower(name) = ?3 AND id <> ?4 LIMIT 1"));
  st.BindAll(RepoTypeName(type), owner.id, FoldName(name), except_id);
  MH_ASSIGN_OR_RETURN(bool row, st.Step());
  if (row) return Status::Conflict(RepoTakenMessage(type, owner.name, name, st.Text(0)));
  return Status::Ok();
}

Status CheckRepoExists(SqliteConn& c, int64_t id) {
  MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare("SELECT 1 FROM repos WHERE id = ?1"));
  st.BindAll(id);
  MH_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound(RepoNotFoundMessage(id));
  return Status::Ok();
}

// Runs an UPDATE/DELETE that must hit at least one row; NotFound(what) otherwise.
template <typename... Args>
Status ModifyExisting(SqliteConn& c, const char* sql, const std::string& not_found, const Args&... args) {
  MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare(sql));
  st.BindAll(args...);
  MH_RETURN_IF_ERROR(st.Run());
  if (c.Changes() == 0) return Status::NotFound(not_found);
  return Status::Ok();
}

const char* SortColumn(RepoSort s) {
  switch (s) {
    case RepoSort::kCreatedAt: return "r.created_ms";
    case RepoSort::kLastModified: return "r.last_modified_ms";
    case RepoSort::kId: break;
  }
  return "r.id";
}

Result<UploadSession> ReadSession(const SqliteStmt& st) {
  UploadSession s;
  s.id = st.Text(0);
  s.repo_id = st.Int64(1);
  s.oid = st.Text(2);
  s.size = st.Int64(3);
  s.part_size = st.Int64(4);
  s.part_count = st.Int64(5);
  s.created_ms = st.Int64(6);
  return s;
}

Result<UploadSession> SessionById(SqliteConn& c, const std::string& id) {
  MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare("SELECT id, repo_id, oid, size, part_size, part_count, created_ms "
                                               "FROM upload_sessions WHERE id = ?1"));
  st.BindAll(id);
  MH_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status::NotFound("upload session '" + id + "' not found");
  return ReadSession(st);
}

}  // namespace

// ---- Open and transaction plumbing ----

Result<std::unique_ptr<SqliteMetadataStore>> SqliteMetadataStore::Open(const std::string& path,
                                                                       const SqliteStoreOptions& options) {
  if (sqlite3_threadsafe() == 0) return Status::Internal("the SQLite library was built without thread support");
  if (path.empty()) return Status::InvalidArgument("empty SQLite database path");
  const bool in_memory = path == ":memory:";
  if (!in_memory) MH_RETURN_IF_ERROR(MakeDirs(Dirname(path)));
  // Every ":memory:" connection would be a separate database, so share one.
  const int pool_size = in_memory ? 1 : std::max(1, options.pool_size);
  std::vector<std::unique_ptr<SqliteConn>> conns;
  for (int i = 0; i < pool_size; ++i) {
    MH_ASSIGN_OR_RETURN(std::unique_ptr<SqliteConn> c, OpenConfigured(path, in_memory, options.busy_timeout_ms));
    if (i == 0) MH_RETURN_IF_ERROR(Migrate(*c, path));
    conns.push_back(std::move(c));
  }
  return std::make_unique<SqliteMetadataStore>(std::move(conns));
}

template <typename Fn>
auto SqliteMetadataStore::Write(Fn&& fn) -> decltype(fn(std::declval<SqliteConn&>())) {
  std::lock_guard lock(write_mu_);
  SqlitePool::Lease conn = pool_.Acquire();
  MH_ASSIGN_OR_RETURN(SqliteTxn txn, SqliteTxn::Begin(*conn, SqliteTxn::Mode::kImmediate));
  auto result = fn(*conn);
  if (!result.ok()) return result;  // txn rolls back
  Status committed = txn.Commit();
  {
    // After the commit (and even after a failed one): lookups that read the old rows store nothing.
    std::lock_guard cache_lock(repo_cache_mu_);
    repo_cache_.clear();
    link_cache_.clear();
    ++repo_cache_generation_;
  }
  MH_RETURN_IF_ERROR(committed);
  return result;
}

template <typename Fn>
auto SqliteMetadataStore::Read(Fn&& fn) -> decltype(fn(std::declval<SqliteConn&>())) {
  SqlitePool::Lease conn = pool_.Acquire();
  return fn(*conn);
}

// ---- Accounts ----

Result<Account> SqliteMetadataStore::CreateUser(const std::string& name, bool is_admin) {
  MH_RETURN_IF_ERROR(CheckName("user name", name));
  return Write([&](SqliteConn& c) { return InsertAccount(c, name, AccountKind::kUser, is_admin); });
}

Result<Account> SqliteMetadataStore::CreateOrg(const std::string& name, const std::string& owner_user) {
  MH_RETURN_IF_ERROR(CheckName("organization name", name));
  return Write([&](SqliteConn& c) -> Result<Account> {
    MH_ASSIGN_OR_RETURN(Account owner, AccountOfKind(c, owner_user, AccountKind::kUser));
    MH_ASSIGN_OR_RETURN(Account org, InsertAccount(c, name, AccountKind::kOrg, false));
    MH_ASSIGN_OR_RETURN(SqliteStmt st,
                        c.Prepare("INSERT INTO memberships (org_id, user_id, role) VALUES (?1, ?2, ?3)"));
    st.BindAll(org.id, owner.id, OrgRoleName(OrgRole::kAdmin));
    MH_RETURN_IF_ERROR(st.Run());
    return org;
  });
}

Result<Account> SqliteMetadataStore::GetAccount(const std::string& name) {
  return Read([&](SqliteConn& c) { return AccountByName(c, name); });
}

Result<Account> SqliteMetadataStore::GetAccountById(int64_t id) {
  return Read([&](SqliteConn& c) { return AccountById(c, id); });
}

// ---- Memberships ----

Status SqliteMetadataStore::AddMember(const std::string& org, const std::string& user, OrgRole role) {
  return Write([&](SqliteConn& c) -> Status {
    MH_ASSIGN_OR_RETURN(Account o, AccountOfKind(c, org, AccountKind::kOrg));
    MH_ASSIGN_OR_RETURN(Account u, AccountOfKind(c, user, AccountKind::kUser));
    MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare("INSERT INTO memberships (org_id, user_id, role) VALUES (?1, ?2, ?3) "
                                                 "ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role"));
    st.BindAll(o.id, u.id, OrgRoleName(role));
    return st.Run();
  });
}

Status SqliteMetadataStore::RemoveMember(const std::string& org, const std::string& user) {
  return Write([&](SqliteConn& c) -> Status {
    MH_ASSIGN_OR_RETURN(Account o, AccountOfKind(c, org, AccountKind::kOrg));
    MH_ASSIGN_OR_RETURN(Account u, AccountOfKind(c, user, AccountKind::kUser));
    return ModifyExisting(c, "DELETE FROM memberships WHERE org_id = ?1 AND user_id = ?2",
                          "'" + user + "' is not a member of '" + org + "'", o.id, u.id);
  });
}

Result<std::vector<Membership>> SqliteMetadataStore::ListMembershipsOfUser(int64_t user_id) {
  return Read([&](SqliteConn& c) -> Result<std::vector<Membership>> {
    MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare("SELECT o.name, u.name, m.role FROM memberships m "
                                                 "JOIN accounts o ON o.id = m.org_id "
                                                 "JOIN accounts u ON u.id = m.user_id "
                                                 "WHERE m.user_id = ?1 ORDER BY o.name"));
    st.BindAll(user_id);
    std::vector<Membership> out;
    while (true) {
      MH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      Membership m;
      m.org = st.Text(0);
      m.user = st.Text(1);
      MH_ASSIGN_OR_RETURN(m.role, ParseOrgRole(st.Text(2)));
      out.push_back(std::move(m));
    }
    return out;
  });
}

Result<std::optional<OrgRole>> SqliteMetadataStore::GetMemberRole(int64_t org_id, int64_t user_id) {
  return Read([&](SqliteConn& c) -> Result<std::optional<OrgRole>> {
    MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare("SELECT role FROM memberships WHERE org_id = ?1 AND user_id = ?2"));
    st.BindAll(org_id, user_id);
    MH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return std::optional<OrgRole>();
    MH_ASSIGN_OR_RETURN(OrgRole role, ParseOrgRole(st.Text(0)));
    return std::optional<OrgRole>(role);
  });
}

// ---- Tokens ----

Result<Token> SqliteMetadataStore::CreateToken(int64_t user_id, const std::string& display_name, TokenRole role,
                                               const std::string& secret_sha256_hex) {
  if (display_name.empty()) return Status::InvalidArgument("token display name must not be empty");
  MH_RETURN_IF_ERROR(CheckSha256("token secret hash", secret_sha256_hex));
  return Write([&](SqliteConn& c) -> Result<Token> {
    MH_ASSIGN_OR_RETURN(Account user, AccountById(c, user_id));
    if (user.kind != AccountKind::kUser) {
      return Status::InvalidArgument("tokens belong to users; '" + user.name + "' is an organization");
    }
    Token t;
    t.user_id = user_id;
    t.display_name = display_name;
    t.role = role;
    t.created_ms = NowMs();
    MH_ASSIGN_OR_RETURN(SqliteStmt st,
                        c.Prepare("INSERT INTO tokens (user_id, display_name, role, secret_sha256, created_ms) "
                                  "VALUES (?1, ?2, ?3, ?4, ?5)"));
    st.BindAll(user_id, display_name, TokenRoleName(role), secret_sha256_hex, t.created_ms);
    MH_RETURN_IF_ERROR(Explain(st.Run(), "a token with this secret already exists"));
    t.id = c.LastInsertRowid();
    return t;
  });
}

Result<Token> SqliteMetadataStore::FindTokenBySecretHash(const std::string& secret_sha256_hex) {
  return Read([&](SqliteConn& c) -> Result<Token> {
    MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare(std::string("SELECT ") + kTokenColumns +
                                                 " FROM tokens WHERE secret_sha256 = ?1 AND revoked_ms IS NULL"));
    st.BindAll(secret_sha256_hex);
    MH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::NotFound("token not found or revoked");
    return ReadToken(st);
  });
}

Result<Token> SqliteMetadataStore::GetTokenById(int64_t id) {
  return Read([&](SqliteConn& c) -> Result<Token> {
    MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare(std::string("SELECT ") + kTokenColumns + " FROM tokens WHERE id = ?1"));
    st.BindAll(id);
    MH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::NotFound("token " + std::to_string(id) + " not found");
    return ReadToken(st);
  });
}

Status SqliteMetadataStore::RevokeToken(int64_t user_id, const std::string& display_name) {
  return Write([&](SqliteConn& c) {
    return ModifyExisting(c,
                          "UPDATE tokens SET revoked_ms = ?3 "
                          "WHERE user_id = ?1 AND display_name = ?2 AND revoked_ms IS NULL",
                          "no valid token named '" + display_name + "'", user_id, display_name, NowMs());
  });
}

Result<std::vector<Token>> SqliteMetadataStore::ListTokens(int64_t user_id) {
  return Read([&](SqliteConn& c) -> Result<std::vector<Token>> {
    MH_ASSIGN_OR_RETURN(SqliteStmt st,
                        c.Prepare(std::string("SELECT ") + kTokenColumns +
                                  " FROM tokens WHERE user_id = ?1 ORDER BY id"));
    st.BindAll(user_id);
    std::vector<Token> out;
    while (true) {
      MH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      MH_ASSIGN_OR_RETURN(Token t, ReadToken(st));
      out.push_back(std::move(t));
    }
    return out;
  });
}

// ---- Repositories ----

Result<RepoRecord> SqliteMetadataStore::CreateRepo(RepoType type, const std::string& ns, const std::string& name,
                                                   bool is_private) {
  MH_RETURN_IF_ERROR(CheckName("repository name", name));
  return Write([&](SqliteConn& c) -> Result<RepoRecord> {
    MH_ASSIGN_OR_RETURN(Account owner, AccountByName(c, ns));
    MH_RETURN_IF_ERROR(CheckRepoNameFree(c, type, owner, name, 0));
    RepoRecord r;
    r.type = type;
    r.ns = owner.name;
    r.name = name;
    r.is_private = is_private;
    r.created_ms = r.last_modified_ms = NowMs();
    MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare("INSERT INTO repos (type, owner_id, name, is_private, created_ms, "
                                                 "last_modified_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?5)"));
    st.BindAll(RepoTypeName(type), owner.id, name, is_private, r.created_ms);
    MH_RETURN_IF_ERROR(Explain(st.Run(), RepoTakenMessage(type, owner.name, name, name)));
    r.id = c.LastInsertRowid();
    return r;
  });
}

Result<RepoRecord> SqliteMetadataStore::GetRepo(RepoType type, const std::string& ns, const std::string& name) {
  if (!IsSoleWriter()) return QueryRepo(type, ns, name);
  // Keyed by the spelling asked for (each spelling caches the canonical record it resolved to).
  std::string key = std::string(RepoTypeName(type)) + '\0' + ns + '\0' + name;
  uint64_t generation = 0;
  {
    std::lock_guard lock(repo_cache_mu_);
    auto it = repo_cache_.find(key);
    if (it != repo_cache_.end()) return it->second;
    generation = repo_cache_generation_;
  }
  Result<RepoRecord> rec = QueryRepo(type, ns, name);
  if (rec.ok()) {
    std::lock_guard lock(repo_cache_mu_);
    if (generation == repo_cache_generation_) {
      if (repo_cache_.size() >= kRepoCacheMax) repo_cache_.clear();
      repo_cache_.emplace(std::move(key), *rec);
    }
  }
  return rec;
}

Result<RepoRecord> SqliteMetadataStore::QueryRepo(RepoType type, const std::string& ns, const std::string& name) {
  return Read([&](SqliteConn& c) -> Result<RepoRecord> {
    // The namespace resolves as AccountByName does, then the name within it (both case-insensitive,
    // exact spelling first among case twins kept from before schema version 5).
    MH_ASSIGN_OR_RETURN(SqliteStmt st,
                        c.Prepare(std::string(kSelectRepo) +
                                  "WHERE r.type = ?1 AND r.owner_id = (SELECT id FROM accounts WHERE lower(name) = ?2 "
                                  "ORDER BY name = ?3 DESC, id LIMIT 1) AND lower(r.name) = ?4 "
                                  "ORDER BY r.name = ?5 DESC, r.id LIMIT 1"));
    st.BindAll(RepoTypeName(type), FoldName(ns), ns, FoldName(name), name);
    MH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) {
      return Status::NotFound(std::string(RepoTypeName(type)) + " repository '" + ns + "/" + name + "' not found");
    }
    return ReadRepo(st);
  });
}

Result<RepoRecord> SqliteMetadataStore::GetRepoById(int64_t id) {
  return Read([&](SqliteConn& c) { return RepoById(c, id); });
}

Status SqliteMetadataStore::DeleteRepo(int64_t id) {
  // lfs_links and upload_sessions go with it (ON DELETE CASCADE).
  return Write([&](SqliteConn& c) {
    return ModifyExisting(c, "DELETE FROM repos WHERE id = ?1", RepoNotFoundMessage(id), id);
  });
}

Status SqliteMetadataStore::MoveRepo(int64_t id, const std::string& new_ns, const std::string& new_name) {
  MH_RETURN_IF_ERROR(CheckName("repository name", new_name));
  return Write([&](SqliteConn& c) -> Status {
    MH_ASSIGN_OR_RETURN(RepoRecord r, RepoById(c, id));
    MH_ASSIGN_OR_RETURN(Account owner, AccountByName(c, new_ns));
    MH_RETURN_IF_ERROR(CheckRepoNameFree(c, r.type, owner, new_name, id));
    // Under its new name the repository is the only one of its folded name: no longer a twin.
    MH_ASSIGN_OR_RETURN(SqliteStmt st,
                        c.Prepare("UPDATE repos SET owner_id = ?2, name = ?3, case_twin = 0 WHERE id = ?1"));
    st.BindAll(id, owner.id, new_name);
    return Explain(st.Run(), RepoTakenMessage(r.type, owner.name, new_name, new_name));
  });
}

Status SqliteMetadataStore::SetRepoPrivate(int64_t id, bool is_private) {
  return Write([&](SqliteConn& c) {
    return ModifyExisting(c, "UPDATE repos SET is_private = ?2 WHERE id = ?1", RepoNotFoundMessage(id), id, is_private);
  });
}

Status SqliteMetadataStore::TouchRepo(int64_t id, int64_t last_modified_ms) {
  return Write([&](SqliteConn& c) {
    return ModifyExisting(c, "UPDATE repos SET last_modified_ms = ?2 WHERE id = ?1", RepoNotFoundMessage(id), id,
                          last_modified_ms);
  });
}

Result<std::vector<RepoRecord>> SqliteMetadataStore::ListRepos(const RepoQuery& q) {
  if (q.offset < 0 || q.limit < 0) return Status::InvalidArgument("offset and limit must not be negative");
  if (q.limit == 0) return std::vector<RepoRecord>();
  // Only fixed fragments are appended, so the statement cache holds a few dozen variants at most.
  std::string sql = std::string(kSelectRepo) + "WHERE r.type = ?1";
  if (!q.search.empty()) sql += " AND instr(lower(a.name || '/' || r.name), ?2) > 0";
  if (!q.author.empty()) {
    sql += " AND r.owner_id = (SELECT id FROM accounts WHERE lower(name) = lower(?3) ORDER BY name = ?3 DESC, id LIMIT 1)";
  }
  if (!q.viewer_is_admin) {
    sql +=
        " AND (r.is_private = 0 OR r.owner_id = ?4 OR EXISTS "
        "(SELECT 1 FROM memberships m WHERE m.org_id = r.owner_id AND m.user_id = ?4))";
  }
  const char* dir = q.descending ? " DESC" : " ASC";
  sql += std::string(" ORDER BY ") + SortColumn(q.sort) + dir;
  if (q.sort != RepoSort::kId) sql += std::string(", r.id") + dir;  // ties: stable pages
  sql += " LIMIT ?5 OFFSET ?6";
  return Read([&](SqliteConn& c) -> Result<std::vector<RepoRecord>> {
    MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare(sql));
    // Parameters absent from this variant still exist (?6 is always the highest), so binding them is harmless.
    st.BindAll(RepoTypeName(q.type), ToLower(q.search), q.author, q.viewer_user_id, q.limit, q.offset);
    std::vector<RepoRecord> out;
    while (true) {
      MH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      MH_ASSIGN_OR_RETURN(RepoRecord r, ReadRepo(st));
      out.push_back(std::move(r));
    }
    return out;
  });
}

// ---- LFS objects ----

Status SqliteMetadataStore::PutLfsObject(const LfsObject& obj) {
  MH_RETURN_IF_ERROR(CheckSha256("LFS oid", obj.oid));
  if (obj.size < 0) return Status::InvalidArgument("LFS object size must not be negative");
  return Write([&](SqliteConn& c) -> Status {
    MH_ASSIGN_OR_RETURN(SqliteStmt ins, c.Prepare("INSERT INTO lfs_objects (oid, size, created_ms) VALUES (?1, ?2, ?3) "
                                                  "ON CONFLICT (oid) DO NOTHING"));
    ins.BindAll(obj.oid, obj.size, obj.created_ms != 0 ? obj.created_ms : NowMs());
    MH_RETURN_IF_ERROR(ins.Run());
    if (c.Changes() != 0) return Status::Ok();
    MH_ASSIGN_OR_RETURN(SqliteStmt sel, c.Prepare("SELECT size FROM lfs_objects WHERE oid = ?1"));
    sel.BindAll(obj.oid);
    MH_ASSIGN_OR_RETURN(bool row, sel.Step());
    if (row && sel.Int64(0) != obj.size) {
      return Status::Conflict("LFS object " + obj.oid + " is registered with size " + std::to_string(sel.Int64(0)) +
                              ", not " + std::to_string(obj.size));
    }
    return Status::Ok();
  });
}

Result<LfsObject> SqliteMetadataStore::GetLfsObject(const std::string& oid) {
  return Read([&](SqliteConn& c) -> Result<LfsObject> {
    MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare("SELECT oid, size, created_ms FROM lfs_objects WHERE oid = ?1"));
    st.BindAll(oid);
    MH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::NotFound("LFS object " + oid + " not found");
    LfsObject o;
    o.oid = st.Text(0);
    o.size = st.Int64(1);
    o.created_ms = st.Int64(2);
    return o;
  });
}

Status SqliteMetadataStore::LinkLfsObject(int64_t repo_id, const std::string& oid) {
  return Write([&](SqliteConn& c) -> Status {
    MH_RETURN_IF_ERROR(CheckRepoExists(c, repo_id));
    MH_ASSIGN_OR_RETURN(SqliteStmt obj, c.Prepare("SELECT 1 FROM lfs_objects WHERE oid = ?1"));
    obj.BindAll(oid);
    MH_ASSIGN_OR_RETURN(bool known, obj.Step());
    if (!known) return Status::NotFound("LFS object " + oid + " not found");
    MH_ASSIGN_OR_RETURN(SqliteStmt ins,
                        c.Prepare("INSERT INTO lfs_links (repo_id, oid, created_ms) VALUES (?1, ?2, ?3) "
                                  "ON CONFLICT (repo_id, oid) DO NOTHING"));
    ins.BindAll(repo_id, oid, NowMs());
    return ins.Run();
  });
}

Result<bool> SqliteMetadataStore::IsLfsObjectLinked(int64_t repo_id, const std::string& oid) {
  auto query = [&]() {
    return Read([&](SqliteConn& c) -> Result<bool> {
      MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare("SELECT 1 FROM lfs_links WHERE repo_id = ?1 AND oid = ?2"));
      st.BindAll(repo_id, oid);
      return st.Step();
    });
  };
  if (!IsSoleWriter()) return query();
  std::string key = std::to_string(repo_id) + '\0' + oid;
  uint64_t generation = 0;
  {
    std::lock_guard lock(repo_cache_mu_);
    auto it = link_cache_.find(key);
    if (it != link_cache_.end()) return it->second;
    generation = repo_cache_generation_;
  }
  Result<bool> linked = query();
  if (linked.ok()) {
    std::lock_guard lock(repo_cache_mu_);
    if (generation == repo_cache_generation_) {
      if (link_cache_.size() >= kRepoCacheMax) link_cache_.clear();
      link_cache_.emplace(std::move(key), *linked);
    }
  }
  return linked;
}

Result<bool> SqliteMetadataStore::IsLfsObjectReadable(const std::string& oid, std::optional<int64_t> viewer_user_id,
                                                      bool viewer_is_admin) {
  std::string sql = "SELECT 1 FROM lfs_links l JOIN repos r ON r.id = l.repo_id WHERE l.oid = ?1";
  if (!viewer_is_admin) {
    sql +=
        " AND (r.is_private = 0 OR r.owner_id = ?2 OR EXISTS "
        "(SELECT 1 FROM memberships m WHERE m.org_id = r.owner_id AND m.user_id = ?2))";
  }
  sql += " LIMIT 1";
  return Read([&](SqliteConn& c) -> Result<bool> {
    MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare(sql));
    if (viewer_is_admin) {
      st.BindAll(oid);
    } else {
      st.BindAll(oid, viewer_user_id);
    }
    return st.Step();
  });
}

// ---- Upload sessions ----

Status SqliteMetadataStore::PutUploadSession(const UploadSession& s) {
  if (!IsUrlSafe(s.id)) return Status::InvalidArgument("upload session id must be non-empty and url-safe");
  MH_RETURN_IF_ERROR(CheckSha256("LFS oid", s.oid));
  if (s.size < 0 || s.part_size < 0 || s.part_count < 0) {
    return Status::InvalidArgument("upload session sizes and counts must not be negative");
  }
  return Write([&](SqliteConn& c) -> Status {
    MH_RETURN_IF_ERROR(CheckRepoExists(c, s.repo_id));
    MH_ASSIGN_OR_RETURN(SqliteStmt st,
                        c.Prepare("INSERT INTO upload_sessions (id, repo_id, oid, size, part_size, part_count, "
                                  "created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING"));
    st.BindAll(s.id, s.repo_id, s.oid, s.size, s.part_size, s.part_count, s.created_ms != 0 ? s.created_ms : NowMs());
    MH_RETURN_IF_ERROR(st.Run());
    if (c.Changes() != 0) return Status::Ok();
    // Same id again: a retried Put of the same session is fine, anything else is a clash.
    MH_ASSIGN_OR_RETURN(UploadSession old, SessionById(c, s.id));
    bool same = old.repo_id == s.repo_id && old.oid == s.oid && old.size == s.size && old.part_size == s.part_size &&
                old.part_count == s.part_count && (s.created_ms == 0 || old.created_ms == s.created_ms);
    if (!same) return Status::Conflict("upload session '" + s.id + "' already exists with other parameters");
    return Status::Ok();
  });
}

Result<UploadSession> SqliteMetadataStore::GetUploadSession(const std::string& id) {
  return Read([&](SqliteConn& c) { return SessionById(c, id); });
}

Status SqliteMetadataStore::DeleteUploadSession(const std::string& id) {
  return Write([&](SqliteConn& c) {
    return ModifyExisting(c, "DELETE FROM upload_sessions WHERE id = ?1", "upload session '" + id + "' not found", id);
  });
}

Result<std::vector<UploadSession>> SqliteMetadataStore::ListUploadSessions() {
  return Read([&](SqliteConn& c) -> Result<std::vector<UploadSession>> {
    MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare("SELECT id, repo_id, oid, size, part_size, part_count, created_ms "
                                                 "FROM upload_sessions ORDER BY created_ms"));
    std::vector<UploadSession> out;
    while (true) {
      MH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      MH_ASSIGN_OR_RETURN(UploadSession u, ReadSession(st));
      out.push_back(std::move(u));
    }
    return out;
  });
}

// ---- Chunk store ----

namespace {

XorbRecord ReadXorb(const SqliteStmt& st) {
  XorbRecord x;
  x.hash = st.Text(0);
  x.stored_bytes = st.Int64(1);
  x.raw_bytes = st.Int64(2);
  x.num_chunks = st.Int64(3);
  x.created_ms = st.Int64(4);
  return x;
}

FileRecord ReadFileRow(const SqliteStmt& st) {
  FileRecord f;
  f.sha256 = st.Text(0);
  f.xet_hash = st.Text(1);
  f.size = st.Int64(2);
  f.terms = st.Blob(3);
  f.created_ms = st.Int64(4);
  return f;
}

constexpr char kSelectXorb[] = "SELECT hash, stored_bytes, raw_bytes, num_chunks, created_ms FROM xorbs ";
constexpr char kSelectFile[] = "SELECT sha256, xet_hash, size, terms, created_ms FROM files ";

}  // namespace

Status SqliteMetadataStore::PutXorb(const XorbRecord& x, const std::vector<std::string>& chunk_hashes) {
  MH_RETURN_IF_ERROR(CheckSha256("xorb hash", x.hash));
  for (const auto& h : chunk_hashes) MH_RETURN_IF_ERROR(CheckSha256("chunk hash", h));
  return Write([&](SqliteConn& c) -> Status {
    MH_ASSIGN_OR_RETURN(SqliteStmt ins,
                        c.Prepare("INSERT INTO xorbs (hash, stored_bytes, raw_bytes, num_chunks, created_ms) "
                                  "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (hash) DO NOTHING"));
    ins.BindAll(x.hash, x.stored_bytes, x.raw_bytes, x.num_chunks, x.created_ms != 0 ? x.created_ms : NowMs());
    MH_RETURN_IF_ERROR(ins.Run());
    if (c.Changes() == 0) {
      MH_ASSIGN_OR_RETURN(SqliteStmt del, c.Prepare("SELECT deleting FROM xorbs WHERE hash = ?1"));
      del.BindAll(x.hash);
      MH_ASSIGN_OR_RETURN(bool row, del.Step());
      if (row && del.Bool(0)) {
        return Status::Unavailable("xorb " + x.hash + " is being garbage-collected; retry the upload");
      }
    }
    for (size_t i = 0; i < chunk_hashes.size(); ++i) {
      MH_ASSIGN_OR_RETURN(SqliteStmt ch, c.Prepare("INSERT INTO chunks (hash, xorb_hash, chunk_index) "
                                                   "VALUES (?1, ?2, ?3) ON CONFLICT (hash) DO NOTHING"));
      ch.BindAll(chunk_hashes[i], x.hash, int64_t(i));
      MH_RETURN_IF_ERROR(ch.Run());
    }
    return Status::Ok();
  });
}

Result<XorbRecord> SqliteMetadataStore::GetXorb(const std::string& hash) {
  return Read([&](SqliteConn& c) -> Result<XorbRecord> {
    MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare(std::string(kSelectXorb) + "WHERE hash = ?1 AND deleting = 0"));
    st.BindAll(hash);
    MH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::NotFound("xorb " + hash + " not found");
    return ReadXorb(st);
  });
}

Result<std::vector<std::optional<ChunkLocation>>> SqliteMetadataStore::FindChunks(
    const std::vector<std::string>& hashes) {
  return Read([&](SqliteConn& c) -> Result<std::vector<std::optional<ChunkLocation>>> {
    std::vector<std::optional<ChunkLocation>> out;
    out.reserve(hashes.size());
    for (const auto& h : hashes) {
      MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare("SELECT xorb_hash, chunk_index FROM chunks WHERE hash = ?1"));
      st.BindAll(h);
      MH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (row) {
        out.push_back(ChunkLocation{st.Text(0), st.Int64(1)});
      } else {
        out.push_back(std::nullopt);
      }
    }
    return out;
  });
}

Status SqliteMetadataStore::DeleteXorb(const std::string& hash) {
  return Write([&](SqliteConn& c) -> Status {
    MH_ASSIGN_OR_RETURN(SqliteStmt d1, c.Prepare("DELETE FROM chunks WHERE xorb_hash = ?1"));
    d1.BindAll(hash);
    MH_RETURN_IF_ERROR(d1.Run());
    MH_ASSIGN_OR_RETURN(SqliteStmt d2, c.Prepare("DELETE FROM xorbs WHERE hash = ?1"));
    d2.BindAll(hash);
    return d2.Run();
  });
}

Status SqliteMetadataStore::ListXorbs(const std::function<void(const XorbRecord&)>& fn) {
  return Read([&](SqliteConn& c) -> Status {
    MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare(std::string(kSelectXorb) + "WHERE deleting = 0 ORDER BY hash"));
    while (true) {
      MH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) return Status::Ok();
      fn(ReadXorb(st));
    }
  });
}

Status SqliteMetadataStore::PutFile(const FileRecord& f) {
  MH_RETURN_IF_ERROR(CheckSha256("file sha256", f.sha256));
  MH_RETURN_IF_ERROR(CheckSha256("xet file hash", f.xet_hash));
  if (f.size < 0) return Status::InvalidArgument("file size must not be negative");
  return Write([&](SqliteConn& c) -> Status {
    MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare("INSERT INTO files (sha256, xet_hash, size, terms, created_ms) "
                                                 "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (sha256) DO NOTHING"));
    st.BindAll(f.sha256, f.xet_hash, f.size);
    st.BindBlob(4, f.terms);
    st.Bind(5, f.created_ms != 0 ? f.created_ms : NowMs());
    return st.Run();
  });
}

Result<FileRecord> SqliteMetadataStore::GetFile(const std::string& sha256) {
  return Read([&](SqliteConn& c) -> Result<FileRecord> {
    MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare(std::string(kSelectFile) + "WHERE sha256 = ?1"));
    st.BindAll(sha256);
    MH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::NotFound("file " + sha256 + " not found");
    return ReadFileRow(st);
  });
}

Result<FileRecord> SqliteMetadataStore::GetFileByXetHash(const std::string& xet_hash) {
  return Read([&](SqliteConn& c) -> Result<FileRecord> {
    MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare(std::string(kSelectFile) + "WHERE xet_hash = ?1 LIMIT 1"));
    st.BindAll(xet_hash);
    MH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Status::NotFound("file with xet hash " + xet_hash + " not found");
    return ReadFileRow(st);
  });
}

Status SqliteMetadataStore::DeleteFile(const std::string& sha256) {
  return Write([&](SqliteConn& c) -> Status {
    MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare("DELETE FROM files WHERE sha256 = ?1"));
    st.BindAll(sha256);
    MH_RETURN_IF_ERROR(st.Run());
    MH_ASSIGN_OR_RETURN(SqliteStmt xf, c.Prepare("DELETE FROM xorb_files WHERE sha256 = ?1"));
    xf.BindAll(sha256);
    return xf.Run();
  });
}

Result<std::vector<std::string>> SqliteMetadataStore::FilesWithXorb(const std::string& xorb_hash, int64_t limit) {
  return Read([&](SqliteConn& c) -> Result<std::vector<std::string>> {
    MH_ASSIGN_OR_RETURN(SqliteStmt st,
                        c.Prepare("SELECT sha256 FROM xorb_files WHERE xorb_hash = ?1 ORDER BY sha256 LIMIT ?2"));
    st.BindAll(xorb_hash, limit);
    std::vector<std::string> out;
    while (true) {
      MH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) return out;
      out.push_back(st.Text(0));
    }
  });
}

Status SqliteMetadataStore::ListFiles(const std::function<void(const FileRecord&)>& fn) {
  return Read([&](SqliteConn& c) -> Status {
    MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare(std::string(kSelectFile) + "ORDER BY sha256"));
    while (true) {
      MH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) return Status::Ok();
      fn(ReadFileRow(st));
    }
  });
}

Result<std::vector<RepoRecord>> SqliteMetadataStore::ListAllRepos() {
  return Read([&](SqliteConn& c) -> Result<std::vector<RepoRecord>> {
    MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare(std::string(kSelectRepo) + "ORDER BY r.id"));
    std::vector<RepoRecord> out;
    while (true) {
      MH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      MH_ASSIGN_OR_RETURN(RepoRecord r, ReadRepo(st));
      out.push_back(std::move(r));
    }
    return out;
  });
}

// ---- Garbage collection support ----

Status SqliteMetadataStore::PutFileChecked(const FileRecord& f, const std::vector<std::string>& xorb_hashes) {
  MH_RETURN_IF_ERROR(CheckSha256("file sha256", f.sha256));
  MH_RETURN_IF_ERROR(CheckSha256("xet file hash", f.xet_hash));
  if (f.size < 0) return Status::InvalidArgument("file size must not be negative");
  for (const auto& h : xorb_hashes) MH_RETURN_IF_ERROR(CheckSha256("xorb hash", h));
  const int64_t created = f.created_ms != 0 ? f.created_ms : NowMs();
  return Write([&](SqliteConn& c) -> Status {
    for (const auto& h : xorb_hashes) {
      MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare("SELECT 1 FROM xorbs WHERE hash = ?1 AND deleting = 0"));
      st.BindAll(h);
      MH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) {
        return Status::Unavailable("xorb " + h +
                                   " this file reuses was garbage-collected meanwhile; retry the upload");
      }
    }
    MH_ASSIGN_OR_RETURN(SqliteStmt known, c.Prepare("SELECT 1 FROM files WHERE sha256 = ?1"));
    known.BindAll(f.sha256);
    MH_ASSIGN_OR_RETURN(bool already, known.Step());
    MH_ASSIGN_OR_RETURN(SqliteStmt ins, c.Prepare("INSERT INTO files (sha256, xet_hash, size, terms, created_ms) "
                                                  "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (sha256) DO UPDATE "
                                                  "SET created_ms = max(created_ms, excluded.created_ms)"));
    ins.BindAll(f.sha256, f.xet_hash, f.size);
    ins.BindBlob(4, f.terms);
    ins.Bind(5, created);
    MH_RETURN_IF_ERROR(ins.Run());
    if (already) return Status::Ok();  // the stored terms (and their xorb_files rows) stay
    for (const auto& h : xorb_hashes) {
      MH_ASSIGN_OR_RETURN(SqliteStmt xf, c.Prepare("INSERT OR IGNORE INTO xorb_files (xorb_hash, sha256) VALUES (?1, ?2)"));
      xf.BindAll(h, f.sha256);
      MH_RETURN_IF_ERROR(xf.Run());
    }
    return Status::Ok();
  });
}

Result<std::vector<std::string>> SqliteMetadataStore::DeleteFilesOlderThan(const std::vector<std::string>& sha256s,
                                                                           int64_t created_before_ms) {
  return Write([&](SqliteConn& c) -> Result<std::vector<std::string>> {
    std::vector<std::string> deleted;
    for (const auto& oid : sha256s) {
      MH_ASSIGN_OR_RETURN(SqliteStmt del, c.Prepare("DELETE FROM files WHERE sha256 = ?1 AND created_ms < ?2"));
      del.BindAll(oid, created_before_ms);
      MH_RETURN_IF_ERROR(del.Run());
      if (c.Changes() == 0) continue;
      MH_ASSIGN_OR_RETURN(SqliteStmt xf, c.Prepare("DELETE FROM xorb_files WHERE sha256 = ?1"));
      xf.BindAll(oid);
      MH_RETURN_IF_ERROR(xf.Run());
      // Without the object, "this repo has it" would make the LFS batch API skip an upload.
      MH_ASSIGN_OR_RETURN(SqliteStmt links, c.Prepare("DELETE FROM lfs_links WHERE oid = ?1"));
      links.BindAll(oid);
      MH_RETURN_IF_ERROR(links.Run());
      MH_ASSIGN_OR_RETURN(SqliteStmt obj, c.Prepare("DELETE FROM lfs_objects WHERE oid = ?1"));
      obj.BindAll(oid);
      MH_RETURN_IF_ERROR(obj.Run());
      deleted.push_back(oid);
    }
    return deleted;
  });
}

Result<std::vector<std::string>> SqliteMetadataStore::MarkXorbsDeleting(
    const std::vector<std::string>& hashes, int64_t created_before_ms, int64_t files_since_ms,
    const std::function<Result<std::vector<std::string>>(const FileRecord&)>& xorbs_of) {
  for (const auto& h : hashes) MH_RETURN_IF_ERROR(CheckSha256("xorb hash", h));
  return Write([&](SqliteConn& c) -> Result<std::vector<std::string>> {
    // Xorbs named by files recorded since the caller's mark began stay (files_by_created).
    std::unordered_set<std::string> recent;
    MH_ASSIGN_OR_RETURN(SqliteStmt files, c.Prepare(std::string(kSelectFile) + "WHERE created_ms >= ?1"));
    files.BindAll(files_since_ms);
    while (true) {
      MH_ASSIGN_OR_RETURN(bool row, files.Step());
      if (!row) break;
      MH_ASSIGN_OR_RETURN(std::vector<std::string> named, xorbs_of(ReadFileRow(files)));
      recent.insert(named.begin(), named.end());
    }
    std::vector<std::string> marked;
    for (const auto& h : hashes) {
      if (recent.count(h) != 0) continue;
      MH_ASSIGN_OR_RETURN(SqliteStmt sel, c.Prepare("SELECT created_ms, deleting FROM xorbs WHERE hash = ?1"));
      sel.BindAll(h);
      MH_ASSIGN_OR_RETURN(bool row, sel.Step());
      if (row) {
        if (sel.Int64(0) >= created_before_ms && !sel.Bool(1)) continue;  // recorded since: young
        MH_ASSIGN_OR_RETURN(SqliteStmt upd, c.Prepare("UPDATE xorbs SET deleting = 1 WHERE hash = ?1"));
        upd.BindAll(h);
        MH_RETURN_IF_ERROR(upd.Run());
      } else {
        MH_ASSIGN_OR_RETURN(SqliteStmt ins,
                            c.Prepare("INSERT INTO xorbs (hash, stored_bytes, raw_bytes, num_chunks, created_ms, "
                                      "deleting) VALUES (?1, 0, 0, 0, ?2, 1)"));
        ins.BindAll(h, NowMs());
        MH_RETURN_IF_ERROR(ins.Run());
      }
      MH_ASSIGN_OR_RETURN(SqliteStmt chunks, c.Prepare("DELETE FROM chunks WHERE xorb_hash = ?1"));
      chunks.BindAll(h);
      MH_RETURN_IF_ERROR(chunks.Run());
      marked.push_back(h);
    }
    return marked;
  });
}

Result<std::vector<std::string>> SqliteMetadataStore::NoteOrphanXorbs(const std::vector<std::string>& hashes,
                                                                      int64_t now_ms, int64_t seen_before_ms,
                                                                      bool update) {
  for (const auto& h : hashes) MH_RETURN_IF_ERROR(CheckSha256("xorb hash", h));
  auto run = [&](SqliteConn& c) -> Result<std::vector<std::string>> {
    std::unordered_map<std::string, int64_t> noted;
    MH_ASSIGN_OR_RETURN(SqliteStmt all, c.Prepare("SELECT hash, first_seen_ms FROM orphan_xorbs"));
    while (true) {
      MH_ASSIGN_OR_RETURN(bool row, all.Step());
      if (!row) break;
      noted.emplace(all.Text(0), all.Int64(1));
    }
    std::vector<std::string> old;
    for (const auto& h : hashes) {
      auto it = noted.find(h);
      if (it != noted.end()) {
        if (it->second < seen_before_ms) old.push_back(h);
        noted.erase(it);
      } else if (update) {
        MH_ASSIGN_OR_RETURN(SqliteStmt ins, c.Prepare("INSERT INTO orphan_xorbs (hash, first_seen_ms) VALUES (?1, ?2) "
                                                      "ON CONFLICT (hash) DO NOTHING"));
        ins.BindAll(h, now_ms);
        MH_RETURN_IF_ERROR(ins.Run());
      }
    }
    if (update) {
      for (const auto& kv : noted) {  // no longer orphans (recorded or removed since)
        MH_ASSIGN_OR_RETURN(SqliteStmt del, c.Prepare("DELETE FROM orphan_xorbs WHERE hash = ?1"));
        del.BindAll(kv.first);
        MH_RETURN_IF_ERROR(del.Run());
      }
    }
    return old;
  };
  if (update) return Write(run);
  return Read(run);
}

Status SqliteMetadataStore::ListDeletingXorbs(const std::function<void(const std::string& hash)>& fn) {
  return Read([&](SqliteConn& c) -> Status {
    MH_ASSIGN_OR_RETURN(SqliteStmt st, c.Prepare("SELECT hash FROM xorbs WHERE deleting = 1 ORDER BY hash"));
    while (true) {
      MH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) return Status::Ok();
      fn(st.Text(0));
    }
  });
}

}  // namespace modelhub
