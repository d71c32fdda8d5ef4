#include "storage/meta/pg_metadata_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/strings.h"
#include "common/time_util.h"
#include "storage/meta/meta_rules.h"
#include "storage/meta/sqlite_db.h"
#include "storage/meta/sqlite_metadata_store.h"

namespace modelhub {
namespace {

// ---- Schema: append-only; see docs/formats/metadata-schema.md ("PostgreSQL") ----
// Version N here is the same logical schema as the SQLite backend's version N.
// PQexecParams runs one statement at a time, so each migration is a list.

struct Migration {
  int version;
  std::vector<const char*> statements;
};

const std::vector<Migration>& Migrations() {
  static const std::vector<Migration> kMigrations = {
      {1,
       {R"sql(
CREATE TABLE accounts (
  id          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name        TEXT    COLLATE "C" NOT NULL UNIQUE,
  kind        TEXT    NOT NULL CHECK (kind IN ('user', 'org')),
  fullname    TEXT    NOT NULL DEFAULT '',
  is_admin    BOOLEAN NOT NULL DEFAULT FALSE,
  created_ms  BIGINT  NOT NULL
))sql",
        R"sql(
CREATE TABLE memberships (
  org_id   BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  user_id  BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  role     TEXT   NOT NULL CHECK (role IN ('read', 'write', 'admin')),
  PRIMARY KEY (org_id, user_id)
))sql",
        "CREATE INDEX memberships_by_user ON memberships(user_id)",
        R"sql(
CREATE TABLE tokens (
  id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id        BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  display_name   TEXT   NOT NULL,
  role           TEXT   NOT NULL CHECK (role IN ('read', 'write')),
  secret_sha256  TEXT   COLLATE "C" NOT NULL UNIQUE CHECK (length(secret_sha256) = 64),
  created_ms     BIGINT NOT NULL,
  revoked_ms     BIGINT
))sql",
        "CREATE INDEX tokens_by_user ON tokens(user_id, display_name)",
        R"sql(
CREATE TABLE repos (
  id                BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  type              TEXT    NOT NULL CHECK (type IN ('model', 'dataset')),
  owner_id          BIGINT  NOT NULL REFERENCES accounts(id),
  name              TEXT    COLLATE "C" NOT NULL,
  is_private        BOOLEAN NOT NULL,
  created_ms        BIGINT  NOT NULL,
  last_modified_ms  BIGINT  NOT NULL,
  UNIQUE (type, owner_id, name)
))sql",
        "CREATE INDEX repos_by_owner ON repos(owner_id)",
        "CREATE INDEX repos_by_created ON repos(type, created_ms)",
        "CREATE INDEX repos_by_modified ON repos(type, last_modified_ms)",
        R"sql(
CREATE TABLE lfs_objects (
  oid         TEXT   COLLATE "C" PRIMARY KEY CHECK (length(oid) = 64),
  size        BIGINT NOT NULL CHECK (size >= 0),
  created_ms  BIGINT NOT NULL
))sql",
        R"sql(
CREATE TABLE lfs_links (
  repo_id     BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
  oid         TEXT   COLLATE "C" NOT NULL REFERENCES lfs_objects(oid),
  created_ms  BIGINT NOT NULL,
  PRIMARY KEY (repo_id, oid)
))sql",
        "CREATE INDEX lfs_links_by_oid ON lfs_links(oid)",
        R"sql(
CREATE TABLE upload_sessions (
  id          TEXT   COLLATE "C" PRIMARY KEY,
  repo_id     BIGINT NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
  oid         TEXT   COLLATE "C" NOT NULL CHECK (length(oid) = 64),
  size        BIGINT NOT NULL CHECK (size >= 0),
  part_size   BIGINT NOT NULL CHECK (part_size >= 0),
  part_count  BIGINT NOT NULL CHECK (part_count >= 0),
  created_ms  BIGINT NOT NULL
))sql",
        "CREATE INDEX upload_sessions_by_repo ON upload_sessions(repo_id)",
        "CREATE INDEX upload_sessions_by_created ON upload_sessions(created_ms)"}},
      {2,
       {R"sql(
CREATE TABLE xorbs (
  hash          TEXT   COLLATE "C" PRIMARY KEY CHECK (length(hash) = 64),
  stored_bytes  BIGINT NOT NULL CHECK (stored_bytes >= 0),
  raw_bytes     BIGINT NOT NULL CHECK (raw_bytes >= 0),
  num_chunks    BIGINT NOT NULL CHECK (num_chunks >= 0),
  created_ms    BIGINT NOT NULL
))sql",
        R"sql(
CREATE TABLE chunks (
  hash         TEXT   COLLATE "C" PRIMARY KEY CHECK (length(hash) = 64),
  xorb_hash    TEXT   COLLATE "C" NOT NULL REFERENCES xorbs(hash) ON DELETE CASCADE,
  chunk_index  BIGINT NOT NULL CHECK (chunk_index >= 0)
))sql",
        "CREATE INDEX chunks_by_xorb ON chunks(xorb_hash)",
        R"sql(
CREATE TABLE files (
  sha256      TEXT   COLLATE "C" PRIMARY KEY CHECK (length(sha256) = 64),
  xet_hash    TEXT   COLLATE "C" NOT NULL CHECK (length(xet_hash) = 64),
  size        BIGINT NOT NULL CHECK (size >= 0),
  terms       BYTEA  NOT NULL,
  created_ms  BIGINT NOT NULL
))sql",
        "CREATE INDEX files_by_xet_hash ON files(xet_hash)"}},
      {3,
       {"ALTER TABLE xorbs ADD COLUMN deleting BOOLEAN NOT NULL DEFAULT FALSE",
        "CREATE INDEX files_by_created ON files(created_ms)",
        R"sql(
CREATE TABLE orphan_xorbs (
  hash           TEXT   COLLATE "C" PRIMARY KEY CHECK (length(hash) = 64),
  first_seen_ms  BIGINT NOT NULL
))sql"}},
      {4,
       {R"sql(
CREATE TABLE xorb_files (
  xorb_hash  TEXT COLLATE "C" NOT NULL CHECK (length(xorb_hash) = 64),
  sha256     TEXT COLLATE "C" NOT NULL CHECK (length(sha256) = 64),
  PRIMARY KEY (xorb_hash, sha256)
))sql",
        "CREATE INDEX xorb_files_by_file ON xorb_files(sha256)",
        // Backfill from files.terms: 44-byte records whose first 32 bytes are the raw xorb hash,
        // written in the Xet hex form (each 8-byte group byte-reversed).
        R"sql(
INSERT INTO xorb_files (xorb_hash, sha256)
  SELECT (SELECT string_agg(lpad(to_hex(get_byte(f.terms, t.i * 44 + g.g * 8 + 7 - b.b)), 2, '0'), ''
                            ORDER BY g.g, b.b)
            FROM generate_series(0, 3) AS g(g), generate_series(0, 7) AS b(b)),
         f.sha256
    FROM files f, generate_series(0, length(f.terms) / 44 - 1) AS t(i)
   WHERE length(f.terms) >= 44 AND length(f.terms) % 44 = 0
ON CONFLICT DO NOTHING)sql"}},
      // Names are unique case-insensitively: lower() of COLLATE "C" text folds ASCII only, like
      // the SQLite backend's lower() and FoldName (meta_rules.h). Case twins made by older versions
      // are all kept: the oldest row of each folded name keeps case_twin 0, the others get their
      // own id there, so the unique index holds and no new twin can be added.
      {5,
       {"ALTER TABLE accounts ADD COLUMN case_twin BIGINT NOT NULL DEFAULT 0",
        "UPDATE accounts SET case_twin = id WHERE id NOT IN (SELECT min(id) FROM accounts GROUP BY lower(name))",
        "CREATE UNIQUE INDEX accounts_by_folded_name ON accounts (lower(name), case_twin)",
        "ALTER TABLE repos ADD COLUMN case_twin BIGINT NOT NULL DEFAULT 0",
        "UPDATE repos SET case_twin = id WHERE id NOT IN "
        "(SELECT min(id) FROM repos GROUP BY type, owner_id, lower(name))",
        "CREATE UNIQUE INDEX repos_by_folded_name ON repos (type, owner_id, lower(name), case_twin)"}},
  };
  return kMigrations;
}

// Rolls back the transaction it guards unless Commit() succeeded.
class MigrationTxn {
 public:
  explicit MigrationTxn(PgConn& c) : c_(c) {}
  MigrationTxn(const MigrationTxn&) = delete;
  MigrationTxn& operator=(const MigrationTxn&) = delete;
  ~MigrationTxn() {
    if (open_ && !c_.broken()) (void)c_.Run("ROLLBACK");
  }
  Status Commit() {
    open_ = false;
    return c_.Run("COMMIT");
  }

 private:
  PgConn& c_;
  bool open_ = true;
};

// Applies pending migrations in one READ COMMITTED transaction: after waiting for the advisory
// lock, each statement sees what a migrator that held it before committed, so processes opening
// a fresh database at once migrate it once.
Status Migrate(PgConn& c) {
  MH_RETURN_IF_ERROR(c.Run("BEGIN ISOLATION LEVEL READ COMMITTED"));
  MigrationTxn txn(c);
  MH_RETURN_IF_ERROR(
      c.Run("SELECT pg_advisory_xact_lock($1)", PgParams::Of(PgMetadataStore::kMigrationLockKey)));
  MH_ASSIGN_OR_RETURN(PgResult where, c.Exec("SELECT current_schema(), to_regclass('modelhub_schema') IS NOT NULL"));
  const std::string schema = where.IsNull(0, 0) ? "(none)" : where.Text(0, 0);
  const std::string db = c.Describe() + " schema " + schema;
  int64_t version = 0;
  if (!where.Bool(0, 1)) {
    MH_ASSIGN_OR_RETURN(PgResult tables, c.Exec("SELECT count(*) FROM information_schema.tables "
                                                "WHERE table_schema = current_schema()"));
    if (tables.Int64(0, 0) != 0) {
      return Status::InvalidArgument(db + " holds tables but no modelhub metadata (no modelhub_schema table)");
    }
    MH_RETURN_IF_ERROR(c.Run(R"sql(
CREATE TABLE modelhub_schema (
  singleton    BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
  application  TEXT    NOT NULL,
  version      INTEGER NOT NULL
))sql"));
    MH_RETURN_IF_ERROR(c.Run("INSERT INTO modelhub_schema (application, version) VALUES ($1, 0)",
                             PgParams::Of(PgMetadataStore::kApplication)));
  } else {
    MH_ASSIGN_OR_RETURN(PgResult meta, c.Exec("SELECT application, version FROM modelhub_schema"));
    if (meta.rows() != 1 || meta.Text(0, 0) != PgMetadataStore::kApplication) {
      return Status::InvalidArgument(db + " has a modelhub_schema table that is not modelhub's");
    }
    version = meta.Int64(0, 1);
  }
  if (version > PgMetadataStore::kSchemaVersion) {
    return Status::NotImplemented(db + ": metadata schema version " + std::to_string(version) +
                                  " is newer than this binary supports (" +
                                  std::to_string(PgMetadataStore::kSchemaVersion) + "); upgrade modelhub");
  }
  if (version == PgMetadataStore::kSchemaVersion) return Status::Ok();  // the guard rolls back the empty txn
  for (const Migration& m : Migrations()) {
    if (m.version <= version) continue;
    for (const char* sql : m.statements) {
      Status s = c.Run(sql);
      if (!s.ok()) {
        return Status(s.code(), "migration to schema version " + std::to_string(m.version) + ": " + s.message(), {},
                      s.retryable());
      }
    }
  }
  MH_RETURN_IF_ERROR(c.Run("UPDATE modelhub_schema SET version = $1", PgParams::Of(PgMetadataStore::kSchemaVersion)));
  return txn.Commit();
}

// ---- Arguments PostgreSQL cannot hold ----

// Text columns hold valid UTF-8 without NUL. A lookup by a name that is not can match nothing
// (the SQLite backend finds nothing either); storing one is InvalidArgument.
bool StorableText(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    unsigned cp = 0;
    unsigned min = 0;
    if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

Status CheckStorable(std::string_view what, const std::string& s) {
  if (!StorableText(s)) return Status::InvalidArgument(std::string(what) + " must be valid UTF-8");
  return Status::Ok();
}

// The valid sha256-hex members of hashes, first occurrences only, in order.
std::vector<std::string> UniqueHex(const std::vector<std::string>& hashes) {
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  for (const auto& h : hashes) {
    if (IsLowerSha256Hex(h) && seen.insert(h).second) out.push_back(h);
  }
  return out;
}

// ---- Row readers and lookups shared by several methods ----

constexpr char kSelectAccount[] = "SELECT id, name, kind, fullname, is_admin, created_ms FROM accounts ";

Result<Account> ReadAccount(const PgResult& r, int i) {
  Account a;
  a.id = r.Int64(i, 0);
  a.name = r.Text(i, 1);
  MH_ASSIGN_OR_RETURN(a.kind, ParseAccountKind(r.Text(i, 2)));
  a.fullname = r.Text(i, 3);
  a.is_admin = r.Bool(i, 4);
  a.created_ms = r.Int64(i, 5);
  return a;
}

// Case-insensitive; of case twins kept from before schema version 5, the one spelled exactly
// as asked, else the oldest (meta_rules.h).
Result<Account> AccountByName(PgConn& c, const std::string& name) {
  if (!StorableText(name)) return Status::NotFound("account '" + name + "' not found");
  MH_ASSIGN_OR_RETURN(PgResult r, c.Exec(std::string(kSelectAccount) +
                                             "WHERE lower(name) = $1 ORDER BY name = $2 DESC, id LIMIT 1",
                                         PgParams::Of(FoldName(name), name)));
  if (r.rows() == 0) return Status::NotFound("account '" + name + "' not found");
  return ReadAccount(r, 0);
}

Result<Account> AccountById(PgConn& c, int64_t id) {
  MH_ASSIGN_OR_RETURN(PgResult r, c.Exec(std::string(kSelectAccount) + "WHERE id = $1", PgParams::Of(id)));
  if (r.rows() == 0) return Status::NotFound("account #" + std::to_string(id) + " not found");
  return ReadAccount(r, 0);
}

// An account of the given kind; NotFound if missing or of the other kind.
Result<Account> AccountOfKind(PgConn& c, const std::string& name, AccountKind kind) {
  auto a = AccountByName(c, name);
  const char* noun = kind == AccountKind::kOrg ? "organization" : "user";
  if ((a.ok() && a->kind != kind) || a.status().IsNotFound()) {
    return Status::NotFound(std::string(noun) + " '" + name + "' not found");
  }
  return a;
}

// Conflict if another row holds name in any letter case (the unique index backs this up
// against concurrent inserts).
Status CheckAccountNameFree(PgConn& c, const std::string& name) {
  MH_ASSIGN_OR_RETURN(PgResult r, c.Exec("SELECT name FROM accounts WHERE lower(name) = $1 LIMIT 1",
                                         PgParams::Of(FoldName(name))));
  if (r.rows() != 0) return Status::Conflict(NameTakenMessage(name, r.Text(0, 0)));
  return Status::Ok();
}

Result<Account> InsertAccount(PgConn& c, const std::string& name, AccountKind kind, bool is_admin) {
  MH_RETURN_IF_ERROR(CheckStorable("account name", name));
  MH_RETURN_IF_ERROR(CheckAccountNameFree(c, name));
  Account a;
  a.name = name;
  a.kind = kind;
  a.is_admin = is_admin;
  a.created_ms = NowMs();
  auto r = c.Exec("INSERT INTO accounts (name, kind, fullname, is_admin, created_ms) "
                  "VALUES ($1, $2, '', $3, $4) RETURNING id",
                  PgParams::Of(name, AccountKindName(kind), is_admin, a.created_ms));
  MH_RETURN_IF_ERROR(Explain(r.status(), NameTakenMessage(name, name)));
  a.id = r->Int64(0, 0);
  return a;
}

constexpr char kSelectToken[] =
    "SELECT id, user_id, display_name, role, created_ms, revoked_ms IS NOT NULL FROM tokens ";

Result<Token> ReadToken(const PgResult& r, int i) {
  Token t;
  t.id = r.Int64(i, 0);
  t.user_id = r.Int64(i, 1);
  t.display_name = r.Text(i, 2);
  MH_ASSIGN_OR_RETURN(t.role, ParseTokenRole(r.Text(i, 3)));
  t.created_ms = r.Int64(i, 4);
  t.revoked = r.Bool(i, 5);
  return t;
}

constexpr char kSelectRepo[] =
    "SELECT r.id, r.type, a.name, r.name, r.is_private, r.created_ms, r.last_modified_ms "
    "FROM repos r JOIN accounts a ON a.id = r.owner_id ";

Result<RepoRecord> ReadRepo(const PgResult& res, int i) {
  RepoRecord r;
  r.id = res.Int64(i, 0);
  MH_ASSIGN_OR_RETURN(r.type, ParseRepoType(res.Text(i, 1)));
  r.ns = res.Text(i, 2);
  r.name = res.Text(i, 3);
  r.is_private = res.Bool(i, 4);
  r.created_ms = res.Int64(i, 5);
  r.last_modified_ms = res.Int64(i, 6);
  return r;
}

Result<std::vector<RepoRecord>> ReadRepos(const PgResult& res) {
  std::vector<RepoRecord> out;
  out.reserve(res.rows());
  for (int i = 0; i < res.rows(); ++i) {
    MH_ASSIGN_OR_RETURN(RepoRecord r, ReadRepo(res, i));
    out.push_back(std::move(r));
  }
  return out;
}

Result<RepoRecord> RepoById(PgConn& c, int64_t id) {
  MH_ASSIGN_OR_RETURN(PgResult r, c.Exec(std::string(kSelectRepo) + "WHERE r.id = $1", PgParams::Of(id)));
  if (r.rows() == 0) return Status::NotFound(RepoNotFoundMessage(id));
  return ReadRepo(r, 0);
}

// Conflict if another repository of this type and owner has name in any letter case.
Status CheckRepoNameFree(PgConn& c, RepoType type, const Account& owner, const std::string& name, int64_t except_id) {
  MH_ASSIGN_OR_RETURN(PgResult r, c.Exec("SELECT name FROM repos WHERE type = $1 AND owner_id = $2 "
                                         "AND lower(name) = $3 AND id <> $4 LIMIT 1",
                                         PgParams::Of(RepoTypeName(type), owner.id, FoldName(name), except_id)));
  if (r.rows() != 0) return Status::Conflict(RepoTakenMessage(type, owner.name, name, r.Text(0, 0)));
  return Status::Ok();
}

Status CheckRepoExists(PgConn& c, int64_t id) {
  MH_ASSIGN_OR_RETURN(PgResult r, c.Exec("SELECT 1 FROM repos WHERE id = $1", PgParams::Of(id)));
  if (r.rows() == 0) return Status::NotFound(RepoNotFoundMessage(id));
  return Status::Ok();
}

// Runs an UPDATE/DELETE that must hit at least one row; NotFound(not_found) otherwise.
Status ModifyExisting(PgConn& c, const char* sql, const std::string& not_found, const PgParams& params) {
  MH_ASSIGN_OR_RETURN(PgResult r, c.Exec(sql, params));
  if (r.Affected() == 0) return Status::NotFound(not_found);
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

constexpr char kSelectSession[] =
    "SELECT id, repo_id, oid, size, part_size, part_count, created_ms FROM upload_sessions ";

UploadSession ReadSession(const PgResult& r, int i) {
  UploadSession s;
  s.id = r.Text(i, 0);
  s.repo_id = r.Int64(i, 1);
  s.oid = r.Text(i, 2);
  s.size = r.Int64(i, 3);
  s.part_size = r.Int64(i, 4);
  s.part_count = r.Int64(i, 5);
  s.created_ms = r.Int64(i, 6);
  return s;
}

Result<UploadSession> SessionById(PgConn& c, const std::string& id) {
  if (!IsUrlSafe(id)) return Status::NotFound("upload session '" + id + "' not found");
  MH_ASSIGN_OR_RETURN(PgResult r, c.Exec(std::string(kSelectSession) + "WHERE id = $1", PgParams::Of(id)));
  if (r.rows() == 0) return Status::NotFound("upload session '" + id + "' not found");
  return ReadSession(r, 0);
}

constexpr char kSelectXorb[] = "SELECT hash, stored_bytes, raw_bytes, num_chunks, created_ms FROM xorbs ";
constexpr char kSelectFile[] = "SELECT sha256, xet_hash, size, terms, created_ms FROM files ";

XorbRecord ReadXorb(const PgResult& r, int i) {
  XorbRecord x;
  x.hash = r.Text(i, 0);
  x.stored_bytes = r.Int64(i, 1);
  x.raw_bytes = r.Int64(i, 2);
  x.num_chunks = r.Int64(i, 3);
  x.created_ms = r.Int64(i, 4);
  return x;
}

FileRecord ReadFileRow(const PgResult& r, int i) {
  FileRecord f;
  f.sha256 = r.Text(i, 0);
  f.xet_hash = r.Text(i, 1);
  f.size = r.Int64(i, 2);
  f.terms = r.Bytes(i, 3);
  f.created_ms = r.Int64(i, 4);
  return f;
}

// Rows per page when a listing walks a whole table (bounded memory, one snapshot).
constexpr int64_t kPageRows = 500;

// Calls row(res, i) for every row of `select` + "<cond> key > $n ORDER BY key LIMIT page",
// where key is column 0 and the last key seen resumes the next page. `select` ends with
// "WHERE ... AND " or "WHERE "; params hold its own placeholders.
template <typename RowFn>
Status ForEachPage(PgConn& c, const std::string& select, const char* key, const PgParams& params, RowFn&& row) {
  std::string after;  // every key compared here is a non-empty hex string, so "" comes first
  while (true) {
    PgParams p = params;
    std::string sql = select + key + " > " + p.Add(after) + " ORDER BY " + key + " LIMIT " + p.Add(kPageRows);
    MH_ASSIGN_OR_RETURN(PgResult r, c.Exec(sql, p));
    for (int i = 0; i < r.rows(); ++i) MH_RETURN_IF_ERROR(row(r, i));
    if (r.rows() < kPageRows) return Status::Ok();
    after = r.Text(r.rows() - 1, 0);
  }
}

const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}

// Jittered exponential backoff between attempts of a transaction that lost a conflict.
void Backoff(int attempt) {
  thread_local std::mt19937 rng{std::random_device{}()};
  const int cap_us = std::min(50000, 500 << std::min(attempt, 7));
  std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, cap_us)(rng)));
}

}  // namespace

// ---- Open and transaction plumbing ----

Result<std::string> TakePgStoreOptions(const std::string& url, PgStoreOptions* options) {
  const size_t q = url.find('?');
  if (q == std::string::npos) return url;
  std::string kept;
  for (const std::string& param : Split(std::string_view(url).substr(q + 1), '&')) {
    const size_t eq = param.find('=');
    const std::string name = param.substr(0, eq);
    int* target = name == "pool_size" ? &options->pool_size : name == "max_attempts" ? &options->max_attempts : nullptr;
    if (target == nullptr) {
      if (!param.empty()) kept += (kept.empty() ? "" : "&") + param;
      continue;
    }
    const std::string value = eq == std::string::npos ? "" : param.substr(eq + 1);
    std::optional<int64_t> v = ParseInt64(value);
    if (!v || *v < 1 || *v > 1000) {
      return Status::InvalidArgument("PostgreSQL URL setting " + name + "=" + value +
                                     ": expected a whole number from 1 to 1000");
    }
    *target = int(*v);
  }
  return url.substr(0, q) + (kept.empty() ? "" : "?" + kept);
}

Result<std::unique_ptr<PgMetadataStore>> PgMetadataStore::Open(const std::string& url,
                                                               const PgStoreOptions& options) {
  if (url.empty()) return Status::InvalidArgument("empty PostgreSQL URL");
  if (options.pool_size < 1 || options.max_attempts < 1) {
    return Status::InvalidArgument("PostgreSQL pool size and attempts must be at least 1");
  }
  auto store = std::make_unique<PgMetadataStore>(url, options);
  {
    MH_ASSIGN_OR_RETURN(PgPool::Lease conn, store->pool_.Acquire());
    MH_RETURN_IF_ERROR(Migrate(*conn));
  }
  return store;
}

template <typename Fn>
auto PgMetadataStore::Run(Mode mode, Fn&& fn, const bool* delivered) -> decltype(fn(std::declval<PgConn&>())) {
  using R = decltype(fn(std::declval<PgConn&>()));
  for (int attempt = 1;; ++attempt) {
    bool backoff = false;
    {  // the connection goes back to the pool before any backoff
      MH_ASSIGN_OR_RETURN(PgPool::Lease lease, pool_.Acquire());
      PgConn& c = *lease;
      Status failed;
      bool committing = false;
      if (mode == Mode::kWrite) {
        failed = c.Run("BEGIN ISOLATION LEVEL SERIALIZABLE");
      } else if (mode == Mode::kSnapshot) {
        failed = c.Run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      }
      if (failed.ok()) {
        R result = fn(c);
        if (result.ok() && mode == Mode::kStatement) return result;
        if (result.ok()) {
          committing = true;
          failed = c.Run("COMMIT");
          if (failed.ok()) return result;
        } else {
          failed = StatusOf(result);
        }
      }
      const std::string sqlstate = c.last_sqlstate();
      const bool lost = c.broken();
      if (mode != Mode::kStatement && !lost && !committing) (void)c.Run("ROLLBACK");
      if (lost) {
        pool_.DiscardIdle();
        if (committing) {
          return Status::Unavailable("connection to PostgreSQL lost during COMMIT; the change may or may not have "
                                     "been applied: " + failed.message());
        }
      }
      const bool again = (IsPgRetryableSqlstate(sqlstate) || lost) && (delivered == nullptr || !*delivered) &&
                         attempt < options_.max_attempts;
      if (!again) return failed;
      backoff = !lost;
    }
    if (backoff) Backoff(attempt);
  }
}

template <typename Deliver>
Status PgMetadataStore::ListPaged(const std::string& select, const char* key, Deliver&& deliver) {
  bool delivered = false;
  return Run(
      Mode::kSnapshot,
      [&](PgConn& c) {
        return ForEachPage(c, select, key, PgParams(), [&](const PgResult& r, int i) {
          delivered = true;
          deliver(r, i);
          return Status::Ok();
        });
      },
      &delivered);
}

// ---- Accounts ----

Result<Account> PgMetadataStore::CreateUser(const std::string& name, bool is_admin) {
  MH_RETURN_IF_ERROR(CheckName("user name", name));
  return Write([&](PgConn& c) { return InsertAccount(c, name, AccountKind::kUser, is_admin); });
}

Result<Account> PgMetadataStore::CreateOrg(const std::string& name, const std::string& owner_user) {
  MH_RETURN_IF_ERROR(CheckName("organization name", name));
  return Write([&](PgConn& c) -> Result<Account> {
    MH_ASSIGN_OR_RETURN(Account owner, AccountOfKind(c, owner_user, AccountKind::kUser));
    MH_ASSIGN_OR_RETURN(Account org, InsertAccount(c, name, AccountKind::kOrg, false));
    MH_RETURN_IF_ERROR(c.Run("INSERT INTO memberships (org_id, user_id, role) VALUES ($1, $2, $3)",
                             PgParams::Of(org.id, owner.id, OrgRoleName(OrgRole::kAdmin))));
    return org;
  });
}

Result<Account> PgMetadataStore::GetAccount(const std::string& name) {
  return Read([&](PgConn& c) { return AccountByName(c, name); });
}

Result<Account> PgMetadataStore::GetAccountById(int64_t id) {
  return Read([&](PgConn& c) { return AccountById(c, id); });
}

// ---- Memberships ----

Status PgMetadataStore::AddMember(const std::string& org, const std::string& user, OrgRole role) {
  return Write([&](PgConn& c) -> Status {
    MH_ASSIGN_OR_RETURN(Account o, AccountOfKind(c, org, AccountKind::kOrg));
    MH_ASSIGN_OR_RETURN(Account u, AccountOfKind(c, user, AccountKind::kUser));
    return c.Run("INSERT INTO memberships (org_id, user_id, role) VALUES ($1, $2, $3) "
                 "ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
                 PgParams::Of(o.id, u.id, OrgRoleName(role)));
  });
}

Status PgMetadataStore::RemoveMember(const std::string& org, const std::string& user) {
  return Write([&](PgConn& c) -> Status {
    MH_ASSIGN_OR_RETURN(Account o, AccountOfKind(c, org, AccountKind::kOrg));
    MH_ASSIGN_OR_RETURN(Account u, AccountOfKind(c, user, AccountKind::kUser));
    return ModifyExisting(c, "DELETE FROM memberships WHERE org_id = $1 AND user_id = $2",
                          "'" + user + "' is not a member of '" + org + "'", PgParams::Of(o.id, u.id));
  });
}

Result<std::vector<Membership>> PgMetadataStore::ListMembershipsOfUser(int64_t user_id) {
  return Read([&](PgConn& c) -> Result<std::vector<Membership>> {
    MH_ASSIGN_OR_RETURN(PgResult r, c.Exec("SELECT o.name, u.name, m.role FROM memberships m "
                                           "JOIN accounts o ON o.id = m.org_id "
                                           "JOIN accounts u ON u.id = m.user_id "
                                           "WHERE m.user_id = $1 ORDER BY o.name",
                                           PgParams::Of(user_id)));
    std::vector<Membership> out;
    for (int i = 0; i < r.rows(); ++i) {
      Membership m;
      m.org = r.Text(i, 0);
      m.user = r.Text(i, 1);
      MH_ASSIGN_OR_RETURN(m.role, ParseOrgRole(r.Text(i, 2)));
      out.push_back(std::move(m));
    }
    return out;
  });
}

Result<std::optional<OrgRole>> PgMetadataStore::GetMemberRole(int64_t org_id, int64_t user_id) {
  return Read([&](PgConn& c) -> Result<std::optional<OrgRole>> {
    MH_ASSIGN_OR_RETURN(PgResult r, c.Exec("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2",
                                           PgParams::Of(org_id, user_id)));
    if (r.rows() == 0) return std::optional<OrgRole>();
    MH_ASSIGN_OR_RETURN(OrgRole role, ParseOrgRole(r.Text(0, 0)));
    return std::optional<OrgRole>(role);
  });
}

// ---- Tokens ----

Result<Token> PgMetadataStore::CreateToken(int64_t user_id, const std::string& display_name, TokenRole role,
                                           const std::string& secret_sha256_hex) {
  if (display_name.empty()) return Status::InvalidArgument("token display name must not be empty");
  MH_RETURN_IF_ERROR(CheckStorable("token display name", display_name));
  MH_RETURN_IF_ERROR(CheckSha256("token secret hash", secret_sha256_hex));
  return Write([&](PgConn& c) -> Result<Token> {
    MH_ASSIGN_OR_RETURN(Account user, AccountById(c, user_id));
    if (user.kind != AccountKind::kUser) {
      return Status::InvalidArgument("tokens belong to users; '" + user.name + "' is an organization");
    }
    Token t;
    t.user_id = user_id;
    t.display_name = display_name;
    t.role = role;
    t.created_ms = NowMs();
    auto r = c.Exec("INSERT INTO tokens (user_id, display_name, role, secret_sha256, created_ms) "
                    "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    PgParams::Of(user_id, display_name, TokenRoleName(role), secret_sha256_hex, t.created_ms));
    MH_RETURN_IF_ERROR(Explain(r.status(), "a token with this secret already exists"));
    t.id = r->Int64(0, 0);
    return t;
  });
}

Result<Token> PgMetadataStore::FindTokenBySecretHash(const std::string& secret_sha256_hex) {
  if (!IsLowerSha256Hex(secret_sha256_hex)) return Status::NotFound("token not found or revoked");
  return Read([&](PgConn& c) -> Result<Token> {
    MH_ASSIGN_OR_RETURN(PgResult r, c.Exec(std::string(kSelectToken) +
                                               "WHERE secret_sha256 = $1 AND revoked_ms IS NULL",
                                           PgParams::Of(secret_sha256_hex)));
    if (r.rows() == 0) return Status::NotFound("token not found or revoked");
    return ReadToken(r, 0);
  });
}

Result<Token> PgMetadataStore::GetTokenById(int64_t id) {
  return Read([&](PgConn& c) -> Result<Token> {
    MH_ASSIGN_OR_RETURN(PgResult r, c.Exec(std::string(kSelectToken) + "WHERE id = $1", PgParams::Of(id)));
    if (r.rows() == 0) return Status::NotFound(fmt::format("token {} not found", id));
    return ReadToken(r, 0);
  });
}

Status PgMetadataStore::RevokeToken(int64_t user_id, const std::string& display_name) {
  const std::string not_found = "no valid token named '" + display_name + "'";
  if (!StorableText(display_name)) return Status::NotFound(not_found);
  return Write([&](PgConn& c) {
    return ModifyExisting(c,
                          "UPDATE tokens SET revoked_ms = $3 "
                          "WHERE user_id = $1 AND display_name = $2 AND revoked_ms IS NULL",
                          not_found, PgParams::Of(user_id, display_name, NowMs()));
  });
}

Result<std::vector<Token>> PgMetadataStore::ListTokens(int64_t user_id) {
  return Read([&](PgConn& c) -> Result<std::vector<Token>> {
    MH_ASSIGN_OR_RETURN(PgResult r,
                        c.Exec(std::string(kSelectToken) + "WHERE user_id = $1 ORDER BY id", PgParams::Of(user_id)));
    std::vector<Token> out;
    for (int i = 0; i < r.rows(); ++i) {
      MH_ASSIGN_OR_RETURN(Token t, ReadToken(r, i));
      out.push_back(std::move(t));
    }
    return out;
  });
}

// ---- Repositories ----

Result<RepoRecord> PgMetadataStore::CreateRepo(RepoType type, const std::string& ns, const std::string& name,
                                               bool is_private) {
  MH_RETURN_IF_ERROR(CheckName("repository name", name));
  MH_RETURN_IF_ERROR(CheckStorable("repository name", name));
  return Write([&](PgConn& c) -> Result<RepoRecord> {
    MH_ASSIGN_OR_RETURN(Account owner, AccountByName(c, ns));
    MH_RETURN_IF_ERROR(CheckRepoNameFree(c, type, owner, name, 0));
    RepoRecord r;
    r.type = type;
    r.ns = owner.name;
    r.name = name;
    r.is_private = is_private;
    r.created_ms = r.last_modified_ms = NowMs();
    auto ins = c.Exec("INSERT INTO repos (type, owner_id, name, is_private, created_ms, last_modified_ms) "
                      "VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
                      PgParams::Of(RepoTypeName(type), owner.id, name, is_private, r.created_ms));
    MH_RETURN_IF_ERROR(Explain(ins.status(), RepoTakenMessage(type, owner.name, name, name)));
    r.id = ins->Int64(0, 0);
    return r;
  });
}

Result<RepoRecord> PgMetadataStore::GetRepo(RepoType type, const std::string& ns, const std::string& name) {
  const std::string not_found =
      std::string(RepoTypeName(type)) + " repository '" + ns + "/" + name + "' not found";
  if (!StorableText(ns) || !StorableText(name)) return Status::NotFound(not_found);
  return Read([&](PgConn& c) -> Result<RepoRecord> {
    // The namespace resolves as AccountByName does, then the name within it (both case-insensitive,
    // exact spelling first among case twins kept from before schema version 5).
    MH_ASSIGN_OR_RETURN(PgResult r,
                        c.Exec(std::string(kSelectRepo) +
                                   "WHERE r.type = $1 AND r.owner_id = (SELECT id FROM accounts WHERE lower(name) = $2 "
                                   "ORDER BY name = $3 DESC, id LIMIT 1) AND lower(r.name) = $4 "
                                   "ORDER BY r.name = $5 DESC, r.id LIMIT 1",
                               PgParams::Of(RepoTypeName(type), FoldName(ns), ns, FoldName(name), name)));
    if (r.rows() == 0) return Status::NotFound(not_found);
    return ReadRepo(r, 0);
  });
}

Result<RepoRecord> PgMetadataStore::GetRepoById(int64_t id) {
  return Read([&](PgConn& c) { return RepoById(c, id); });
}

Status PgMetadataStore::DeleteRepo(int64_t id) {
  // lfs_links and upload_sessions go with it (ON DELETE CASCADE).
  return Write([&](PgConn& c) {
    return ModifyExisting(c, "DELETE FROM repos WHERE id = $1", RepoNotFoundMessage(id), PgParams::Of(id));
  });
}

Status PgMetadataStore::MoveRepo(int64_t id, const std::string& new_ns, const std::string& new_name) {
  MH_RETURN_IF_ERROR(CheckName("repository name", new_name));
  MH_RETURN_IF_ERROR(CheckStorable("repository name", new_name));
  return Write([&](PgConn& c) -> Status {
    MH_ASSIGN_OR_RETURN(RepoRecord r, RepoById(c, id));
    MH_ASSIGN_OR_RETURN(Account owner, AccountByName(c, new_ns));
    MH_RETURN_IF_ERROR(CheckRepoNameFree(c, r.type, owner, new_name, id));
    // Under its new name the repository is the only one of its folded name: no longer a twin.
    return Explain(c.Run("UPDATE repos SET owner_id = $2, name = $3, case_twin = 0 WHERE id = $1",
                         PgParams::Of(id, owner.id, new_name)),
                   RepoTakenMessage(r.type, owner.name, new_name, new_name));
  });
}

Status PgMetadataStore::SetRepoPrivate(int64_t id, bool is_private) {
  return Write([&](PgConn& c) {
    return ModifyExisting(c, "UPDATE repos SET is_private = $2 WHERE id = $1", RepoNotFoundMessage(id),
                          PgParams::Of(id, is_private));
  });
}

Status PgMetadataStore::TouchRepo(int64_t id, int64_t last_modified_ms) {
  return Write([&](PgConn& c) {
    return ModifyExisting(c, "UPDATE repos SET last_modified_ms = $2 WHERE id = $1", RepoNotFoundMessage(id),
                          PgParams::Of(id, last_modified_ms));
  });
}

Result<std::vector<RepoRecord>> PgMetadataStore::ListRepos(const RepoQuery& q) {
  if (q.offset < 0 || q.limit < 0) return Status::InvalidArgument("offset and limit must not be negative");
  if (q.limit == 0) return std::vector<RepoRecord>();
  // Text no row can hold matches nothing.
  if (!StorableText(q.search) || !StorableText(q.author)) return std::vector<RepoRecord>();
  // Only fixed fragments are appended; every value is a parameter.
  PgParams p;
  std::string sql = std::string(kSelectRepo) + "WHERE r.type = " + p.Add(RepoTypeName(q.type));
  // Names are COLLATE "C", so lower() folds ASCII only, like ToLower; strpos has no wildcards.
  if (!q.search.empty()) sql += " AND strpos(lower(a.name || '/' || r.name), " + p.Add(ToLower(q.search)) + ") > 0";
  if (!q.author.empty()) {
    sql += " AND r.owner_id = (SELECT id FROM accounts WHERE lower(name) = " + p.Add(FoldName(q.author)) +
           " ORDER BY name = " + p.Add(q.author) + " DESC, id LIMIT 1)";
  }
  if (!q.viewer_is_admin) {
    const std::string viewer = p.Add(q.viewer_user_id);  // NULL for anonymous: matches no owner or member
    sql += " AND (NOT r.is_private OR r.owner_id = " + viewer +
           " OR EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = r.owner_id AND m.user_id = " + viewer + "))";
  }
  const char* dir = q.descending ? " DESC" : " ASC";
  sql += std::string(" ORDER BY ") + SortColumn(q.sort) + dir;
  if (q.sort != RepoSort::kId) sql += std::string(", r.id") + dir;  // ties: stable pages
  sql += " LIMIT " + p.Add(q.limit);
  sql += " OFFSET " + p.Add(q.offset);
  return Read([&](PgConn& c) -> Result<std::vector<RepoRecord>> {
    MH_ASSIGN_OR_RETURN(PgResult r, c.Exec(sql, p));
    return ReadRepos(r);
  });
}

// ---- LFS objects ----

Status PgMetadataStore::PutLfsObject(const LfsObject& obj) {
  MH_RETURN_IF_ERROR(CheckSha256("LFS oid", obj.oid));
  if (obj.size < 0) return Status::InvalidArgument("LFS object size must not be negative");
  const int64_t created = obj.created_ms != 0 ? obj.created_ms : NowMs();
  return Write([&](PgConn& c) -> Status {
    MH_ASSIGN_OR_RETURN(PgResult ins, c.Exec("INSERT INTO lfs_objects (oid, size, created_ms) VALUES ($1, $2, $3) "
                                             "ON CONFLICT (oid) DO NOTHING",
                                             PgParams::Of(obj.oid, obj.size, created)));
    if (ins.Affected() != 0) return Status::Ok();
    MH_ASSIGN_OR_RETURN(PgResult sel, c.Exec("SELECT size FROM lfs_objects WHERE oid = $1", PgParams::Of(obj.oid)));
    if (sel.rows() != 0 && sel.Int64(0, 0) != obj.size) {
      return Status::Conflict("LFS object " + obj.oid + " is registered with size " +
                              std::to_string(sel.Int64(0, 0)) + ", not " + std::to_string(obj.size));
    }
    return Status::Ok();
  });
}

Result<LfsObject> PgMetadataStore::GetLfsObject(const std::string& oid) {
  if (!IsLowerSha256Hex(oid)) return Status::NotFound("LFS object " + oid + " not found");
  return Read([&](PgConn& c) -> Result<LfsObject> {
    MH_ASSIGN_OR_RETURN(PgResult r,
                        c.Exec("SELECT oid, size, created_ms FROM lfs_objects WHERE oid = $1", PgParams::Of(oid)));
    if (r.rows() == 0) return Status::NotFound("LFS object " + oid + " not found");
    return LfsObject{r.Text(0, 0), r.Int64(0, 1), r.Int64(0, 2)};
  });
}

Status PgMetadataStore::LinkLfsObject(int64_t repo_id, const std::string& oid) {
  return Write([&](PgConn& c) -> Status {
    MH_RETURN_IF_ERROR(CheckRepoExists(c, repo_id));
    if (!IsLowerSha256Hex(oid)) return Status::NotFound("LFS object " + oid + " not found");
    MH_ASSIGN_OR_RETURN(PgResult obj, c.Exec("SELECT 1 FROM lfs_objects WHERE oid = $1", PgParams::Of(oid)));
    if (obj.rows() == 0) return Status::NotFound("LFS object " + oid + " not found");
    return c.Run("INSERT INTO lfs_links (repo_id, oid, created_ms) VALUES ($1, $2, $3) "
                 "ON CONFLICT (repo_id, oid) DO NOTHING",
                 PgParams::Of(repo_id, oid, NowMs()));
  });
}

Result<bool> PgMetadataStore::IsLfsObjectLinked(int64_t repo_id, const std::string& oid) {
  if (!IsLowerSha256Hex(oid)) return false;
  return Read([&](PgConn& c) -> Result<bool> {
    MH_ASSIGN_OR_RETURN(PgResult r, c.Exec("SELECT 1 FROM lfs_links WHERE repo_id = $1 AND oid = $2",
                                           PgParams::Of(repo_id, oid)));
    return r.rows() != 0;
  });
}

Result<bool> PgMetadataStore::IsLfsObjectReadable(const std::string& oid, std::optional<int64_t> viewer_user_id,
                                                  bool viewer_is_admin) {
  if (!IsLowerSha256Hex(oid)) return false;
  std::string sql = "SELECT 1 FROM lfs_links l JOIN repos r ON r.id = l.repo_id WHERE l.oid = $1";
  if (!viewer_is_admin) {
    // NULL for anonymous: matches no owner or member.
    sql += " AND (NOT r.is_private OR r.owner_id = $2 OR EXISTS "
           "(SELECT 1 FROM memberships m WHERE m.org_id = r.owner_id AND m.user_id = $2))";
  }
  sql += " LIMIT 1";
  return Read([&](PgConn& c) -> Result<bool> {
    MH_ASSIGN_OR_RETURN(PgResult r, viewer_is_admin ? c.Exec(sql, PgParams::Of(oid))
                                                    : c.Exec(sql, PgParams::Of(oid, viewer_user_id)));
    return r.rows() != 0;
  });
}

// ---- Upload sessions ----

Status PgMetadataStore::PutUploadSession(const UploadSession& s) {
  if (!IsUrlSafe(s.id)) return Status::InvalidArgument("upload session id must be non-empty and url-safe");
  MH_RETURN_IF_ERROR(CheckSha256("LFS oid", s.oid));
  if (s.size < 0 || s.part_size < 0 || s.part_count < 0) {
    return Status::InvalidArgument("upload session sizes and counts must not be negative");
  }
  const int64_t created = s.created_ms != 0 ? s.created_ms : NowMs();
  return Write([&](PgConn& c) -> Status {
    MH_RETURN_IF_ERROR(CheckRepoExists(c, s.repo_id));
    MH_ASSIGN_OR_RETURN(PgResult ins,
                        c.Exec("INSERT INTO upload_sessions (id, repo_id, oid, size, part_size, part_count, "
                               "created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
                               PgParams::Of(s.id, s.repo_id, s.oid, s.size, s.part_size, s.part_count, created)));
    if (ins.Affected() != 0) return Status::Ok();
    // Same id again: a retried Put of the same session is fine, anything else is a clash.
    MH_ASSIGN_OR_RETURN(UploadSession old, SessionById(c, s.id));
    bool same = old.repo_id == s.repo_id && old.oid == s.oid && old.size == s.size && old.part_size == s.part_size &&
                old.part_count == s.part_count && (s.created_ms == 0 || old.created_ms == s.created_ms);
    if (!same) return Status::Conflict("upload session '" + s.id + "' already exists with other parameters");
    return Status::Ok();
  });
}

Result<UploadSession> PgMetadataStore::GetUploadSession(const std::string& id) {
  return Read([&](PgConn& c) { return SessionById(c, id); });
}

Status PgMetadataStore::DeleteUploadSession(const std::string& id) {
  const std::string not_found = "upload session '" + id + "' not found";
  if (!IsUrlSafe(id)) return Status::NotFound(not_found);
  return Write([&](PgConn& c) {
    return ModifyExisting(c, "DELETE FROM upload_sessions WHERE id = $1", not_found, PgParams::Of(id));
  });
}

Result<std::vector<UploadSession>> PgMetadataStore::ListUploadSessions() {
  return Read([&](PgConn& c) -> Result<std::vector<UploadSession>> {
    MH_ASSIGN_OR_RETURN(PgResult r, c.Exec(std::string(kSelectSession) + "ORDER BY created_ms, id"));
    std::vector<UploadSession> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(ReadSession(r, i));
    return out;
  });
}

// ---- Chunk store ----

Status PgMetadataStore::PutXorb(const XorbRecord& x, const std::vector<std::string>& chunk_hashes) {
  MH_RETURN_IF_ERROR(CheckSha256("xorb hash", x.hash));
  for (const auto& h : chunk_hashes) MH_RETURN_IF_ERROR(CheckSha256("chunk hash", h));
  const int64_t created = x.created_ms != 0 ? x.created_ms : NowMs();
  return Write([&](PgConn& c) -> Status {
    MH_ASSIGN_OR_RETURN(PgResult ins,
                        c.Exec("INSERT INTO xorbs (hash, stored_bytes, raw_bytes, num_chunks, created_ms) "
                               "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (hash) DO NOTHING",
                               PgParams::Of(x.hash, x.stored_bytes, x.raw_bytes, x.num_chunks, created)));
    if (ins.Affected() == 0) {
      MH_ASSIGN_OR_RETURN(PgResult del, c.Exec("SELECT deleting FROM xorbs WHERE hash = $1", PgParams::Of(x.hash)));
      if (del.rows() != 0 && del.Bool(0, 0)) {
        return Status::Unavailable("xorb " + x.hash + " is being garbage-collected; retry the upload");
      }
    }
    if (chunk_hashes.empty()) return Status::Ok();
    // In index order, so a chunk repeated within the xorb keeps its first index too.
    return c.Run("INSERT INTO chunks (hash, xorb_hash, chunk_index) "
                 "SELECT t.h, $2, t.i - 1 FROM unnest($1::text[]) WITH ORDINALITY AS t(h, i) ORDER BY t.i "
                 "ON CONFLICT (hash) DO NOTHING",
                 PgParams::Of(PgTextArray{chunk_hashes}, x.hash));
  });
}

Result<XorbRecord> PgMetadataStore::GetXorb(const std::string& hash) {
  if (!IsLowerSha256Hex(hash)) return Status::NotFound("xorb " + hash + " not found");
  return Read([&](PgConn& c) -> Result<XorbRecord> {
    MH_ASSIGN_OR_RETURN(PgResult r, c.Exec(std::string(kSelectXorb) + "WHERE hash = $1 AND NOT deleting",
                                           PgParams::Of(hash)));
    if (r.rows() == 0) return Status::NotFound("xorb " + hash + " not found");
    return ReadXorb(r, 0);
  });
}

Result<std::vector<std::optional<ChunkLocation>>> PgMetadataStore::FindChunks(
    const std::vector<std::string>& hashes) {
  const std::vector<std::string> wanted = UniqueHex(hashes);  // anything else is unknown anyway
  return Read([&](PgConn& c) -> Result<std::vector<std::optional<ChunkLocation>>> {
    std::unordered_map<std::string, ChunkLocation> found;
    if (!wanted.empty()) {
      MH_ASSIGN_OR_RETURN(PgResult r, c.Exec("SELECT hash, xorb_hash, chunk_index FROM chunks WHERE hash = ANY($1)",
                                             PgParams::Of(PgTextArray{wanted})));
      for (int i = 0; i < r.rows(); ++i) found.emplace(r.Text(i, 0), ChunkLocation{r.Text(i, 1), r.Int64(i, 2)});
    }
    std::vector<std::optional<ChunkLocation>> out;
    out.reserve(hashes.size());
    for (const auto& h : hashes) {
      auto it = found.find(h);
      out.push_back(it != found.end() ? std::optional<ChunkLocation>(it->second) : std::nullopt);
    }
    return out;
  });
}

Status PgMetadataStore::DeleteXorb(const std::string& hash) {
  if (!IsLowerSha256Hex(hash)) return Status::Ok();  // never recorded
  return Write([&](PgConn& c) -> Status {
    MH_RETURN_IF_ERROR(c.Run("DELETE FROM chunks WHERE xorb_hash = $1", PgParams::Of(hash)));
    return c.Run("DELETE FROM xorbs WHERE hash = $1", PgParams::Of(hash));
  });
}

Status PgMetadataStore::ListXorbs(const std::function<void(const XorbRecord&)>& fn) {
  return ListPaged(std::string(kSelectXorb) + "WHERE NOT deleting AND ", "hash",
                   [&](const PgResult& r, int i) { fn(ReadXorb(r, i)); });
}

Status PgMetadataStore::PutFile(const FileRecord& f) {
  MH_RETURN_IF_ERROR(CheckSha256("file sha256", f.sha256));
  MH_RETURN_IF_ERROR(CheckSha256("xet file hash", f.xet_hash));
  if (f.size < 0) return Status::InvalidArgument("file size must not be negative");
  const int64_t created = f.created_ms != 0 ? f.created_ms : NowMs();
  return Write([&](PgConn& c) {
    return c.Run("INSERT INTO files (sha256, xet_hash, size, terms, created_ms) "
                 "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING",
                 PgParams::Of(f.sha256, f.xet_hash, f.size, PgBytes{f.terms}, created));
  });
}

Result<FileRecord> PgMetadataStore::GetFile(const std::string& sha256) {
  if (!IsLowerSha256Hex(sha256)) return Status::NotFound("file " + sha256 + " not found");
  return Read([&](PgConn& c) -> Result<FileRecord> {
    MH_ASSIGN_OR_RETURN(PgResult r, c.Exec(std::string(kSelectFile) + "WHERE sha256 = $1", PgParams::Of(sha256)));
    if (r.rows() == 0) return Status::NotFound("file " + sha256 + " not found");
    return ReadFileRow(r, 0);
  });
}

Result<FileRecord> PgMetadataStore::GetFileByXetHash(const std::string& xet_hash) {
  if (!IsLowerSha256Hex(xet_hash)) return Status::NotFound("file with xet hash " + xet_hash + " not found");
  return Read([&](PgConn& c) -> Result<FileRecord> {
    MH_ASSIGN_OR_RETURN(PgResult r, c.Exec(std::string(kSelectFile) + "WHERE xet_hash = $1 ORDER BY sha256 LIMIT 1",
                                           PgParams::Of(xet_hash)));
    if (r.rows() == 0) return Status::NotFound("file with xet hash " + xet_hash + " not found");
    return ReadFileRow(r, 0);
  });
}

Status PgMetadataStore::DeleteFile(const std::string& sha256) {
  if (!IsLowerSha256Hex(sha256)) return Status::Ok();  // never recorded
  return Write([&](PgConn& c) -> Status {
    MH_RETURN_IF_ERROR(c.Run("DELETE FROM files WHERE sha256 = $1", PgParams::Of(sha256)));
    return c.Run("DELETE FROM xorb_files WHERE sha256 = $1", PgParams::Of(sha256));
  });
}

Result<std::vector<std::string>> PgMetadataStore::FilesWithXorb(const std::string& xorb_hash, int64_t limit) {
  if (!IsLowerSha256Hex(xorb_hash)) return std::vector<std::string>();
  // A negative limit means no limit (LIMIT NULL), as SQLite's LIMIT -1.
  const std::optional<int64_t> lim = limit >= 0 ? std::optional<int64_t>(limit) : std::nullopt;
  return Read([&](PgConn& c) -> Result<std::vector<std::string>> {
    MH_ASSIGN_OR_RETURN(PgResult r,
                        c.Exec("SELECT sha256 FROM xorb_files WHERE xorb_hash = $1 ORDER BY sha256 LIMIT $2",
                               PgParams::Of(xorb_hash, lim)));
    std::vector<std::string> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.Text(i, 0));
    return out;
  });
}

Status PgMetadataStore::ListFiles(const std::function<void(const FileRecord&)>& fn) {
  return ListPaged(std::string(kSelectFile) + "WHERE ", "sha256",
                   [&](const PgResult& r, int i) { fn(ReadFileRow(r, i)); });
}

Result<std::vector<RepoRecord>> PgMetadataStore::ListAllRepos() {
  return Read([&](PgConn& c) -> Result<std::vector<RepoRecord>> {
    MH_ASSIGN_OR_RETURN(PgResult r, c.Exec(std::string(kSelectRepo) + "ORDER BY r.id"));
    return ReadRepos(r);
  });
}

// ---- Garbage collection support ----
// Each of these is one SERIALIZABLE transaction (Write), so a GC pass in one process and
// uploads in others interleave only in ways equivalent to some serial order; a loser of a
// conflict is run again from the start.

Status PgMetadataStore::PutFileChecked(const FileRecord& f, const std::vector<std::string>& xorb_hashes) {
  MH_RETURN_IF_ERROR(CheckSha256("file sha256", f.sha256));
  MH_RETURN_IF_ERROR(CheckSha256("xet file hash", f.xet_hash));
  if (f.size < 0) return Status::InvalidArgument("file size must not be negative");
  for (const auto& h : xorb_hashes) MH_RETURN_IF_ERROR(CheckSha256("xorb hash", h));
  const int64_t created = f.created_ms != 0 ? f.created_ms : NowMs();
  const std::vector<std::string> xorbs = UniqueHex(xorb_hashes);
  return Write([&](PgConn& c) -> Status {
    if (!xorbs.empty()) {
      MH_ASSIGN_OR_RETURN(PgResult live, c.Exec("SELECT hash FROM xorbs WHERE hash = ANY($1) AND NOT deleting",
                                                PgParams::Of(PgTextArray{xorbs})));
      std::unordered_set<std::string> present;
      for (int i = 0; i < live.rows(); ++i) present.insert(live.Text(i, 0));
      for (const auto& h : xorbs) {
        if (present.count(h) == 0) {
          return Status::Unavailable("xorb " + h +
                                     " this file reuses was garbage-collected meanwhile; retry the upload");
        }
      }
    }
    MH_ASSIGN_OR_RETURN(PgResult ins, c.Exec("INSERT INTO files (sha256, xet_hash, size, terms, created_ms) "
                                             "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING",
                                             PgParams::Of(f.sha256, f.xet_hash, f.size, PgBytes{f.terms}, created)));
    if (ins.Affected() == 0) {
      // Already recorded: the stored terms (and their xorb_files rows) stay; the grace period renews.
      return c.Run("UPDATE files SET created_ms = GREATEST(created_ms, $2) WHERE sha256 = $1",
                   PgParams::Of(f.sha256, created));
    }
    if (xorbs.empty()) return Status::Ok();
    return c.Run("INSERT INTO xorb_files (xorb_hash, sha256) SELECT h, $2 FROM unnest($1::text[]) AS t(h) "
                 "ON CONFLICT DO NOTHING",
                 PgParams::Of(PgTextArray{xorbs}, f.sha256));
  });
}

Result<std::vector<std::string>> PgMetadataStore::DeleteFilesOlderThan(const std::vector<std::string>& sha256s,
                                                                       int64_t created_before_ms) {
  const std::vector<std::string> candidates = UniqueHex(sha256s);  // others were never recorded
  if (candidates.empty()) return std::vector<std::string>();
  return Write([&](PgConn& c) -> Result<std::vector<std::string>> {
    MH_ASSIGN_OR_RETURN(PgResult del,
                        c.Exec("DELETE FROM files WHERE sha256 = ANY($1) AND created_ms < $2 RETURNING sha256",
                               PgParams::Of(PgTextArray{candidates}, created_before_ms)));
    std::unordered_set<std::string> gone_set;
    for (int i = 0; i < del.rows(); ++i) gone_set.insert(del.Text(i, 0));
    std::vector<std::string> deleted;
    for (const auto& oid : candidates) {
      if (gone_set.count(oid) != 0) deleted.push_back(oid);
    }
    if (deleted.empty()) return deleted;
    const PgParams gone = PgParams::Of(PgTextArray{deleted});
    MH_RETURN_IF_ERROR(c.Run("DELETE FROM xorb_files WHERE sha256 = ANY($1)", gone));
    // Without the object, "this repo has it" would make the LFS batch API skip an upload.
    MH_RETURN_IF_ERROR(c.Run("DELETE FROM lfs_links WHERE oid = ANY($1)", gone));
    MH_RETURN_IF_ERROR(c.Run("DELETE FROM lfs_objects WHERE oid = ANY($1)", gone));
    return deleted;
  });
}

Result<std::vector<std::string>> PgMetadataStore::MarkXorbsDeleting(
    const std::vector<std::string>& hashes, int64_t created_before_ms, int64_t files_since_ms,
    const std::function<Result<std::vector<std::string>>(const FileRecord&)>& xorbs_of) {
  for (const auto& h : hashes) MH_RETURN_IF_ERROR(CheckSha256("xorb hash", h));
  const std::vector<std::string> wanted = UniqueHex(hashes);
  return Write([&](PgConn& c) -> Result<std::vector<std::string>> {
    // Xorbs named by files recorded since the caller's mark began stay (files_by_created).
    std::unordered_set<std::string> recent;
    MH_RETURN_IF_ERROR(ForEachPage(c, std::string(kSelectFile) + "WHERE created_ms >= $1 AND ", "sha256",
                                   PgParams::Of(files_since_ms), [&](const PgResult& r, int i) -> Status {
                                     MH_ASSIGN_OR_RETURN(std::vector<std::string> named, xorbs_of(ReadFileRow(r, i)));
                                     recent.insert(named.begin(), named.end());
                                     return Status::Ok();
                                   }));
    std::vector<std::string> candidates;
    for (const auto& h : wanted) {
      if (recent.count(h) == 0) candidates.push_back(h);
    }
    if (candidates.empty()) return candidates;
    MH_ASSIGN_OR_RETURN(PgResult rows, c.Exec("SELECT hash, created_ms, deleting FROM xorbs WHERE hash = ANY($1)",
                                              PgParams::Of(PgTextArray{candidates})));
    std::unordered_map<std::string, std::pair<int64_t, bool>> known;
    for (int i = 0; i < rows.rows(); ++i) {
      known.emplace(rows.Text(i, 0), std::make_pair(rows.Int64(i, 1), rows.Bool(i, 2)));
    }
    std::vector<std::string> marked, update, tombstone;
    for (const auto& h : candidates) {
      auto it = known.find(h);
      if (it == known.end()) {
        tombstone.push_back(h);  // a stored object nobody recorded
      } else if (it->second.first >= created_before_ms && !it->second.second) {
        continue;  // recorded since: young
      } else {
        update.push_back(h);
      }
      marked.push_back(h);
    }
    if (!update.empty()) {
      MH_RETURN_IF_ERROR(
          c.Run("UPDATE xorbs SET deleting = TRUE WHERE hash = ANY($1)", PgParams::Of(PgTextArray{update})));
    }
    if (!tombstone.empty()) {
      MH_RETURN_IF_ERROR(c.Run("INSERT INTO xorbs (hash, stored_bytes, raw_bytes, num_chunks, created_ms, deleting) "
                               "SELECT h, 0, 0, 0, $2, TRUE FROM unnest($1::text[]) AS t(h)",
                               PgParams::Of(PgTextArray{tombstone}, NowMs())));
    }
    if (!marked.empty()) {
      MH_RETURN_IF_ERROR(c.Run("DELETE FROM chunks WHERE xorb_hash = ANY($1)", PgParams::Of(PgTextArray{marked})));
    }
    return marked;
  });
}

Result<std::vector<std::string>> PgMetadataStore::NoteOrphanXorbs(const std::vector<std::string>& hashes,
                                                                  int64_t now_ms, int64_t seen_before_ms,
                                                                  bool update) {
  for (const auto& h : hashes) MH_RETURN_IF_ERROR(CheckSha256("xorb hash", h));
  const std::vector<std::string> seen = UniqueHex(hashes);
  auto run = [&](PgConn& c) -> Result<std::vector<std::string>> {
    std::vector<std::string> old;
    if (!seen.empty()) {
      MH_ASSIGN_OR_RETURN(PgResult r,
                          c.Exec("SELECT hash FROM orphan_xorbs WHERE hash = ANY($1) AND first_seen_ms < $2",
                                 PgParams::Of(PgTextArray{seen}, seen_before_ms)));
      std::unordered_set<std::string> aged;
      for (int i = 0; i < r.rows(); ++i) aged.insert(r.Text(i, 0));
      for (const auto& h : seen) {
        if (aged.count(h) != 0) old.push_back(h);
      }
    }
    if (update) {
      if (!seen.empty()) {
        MH_RETURN_IF_ERROR(c.Run("INSERT INTO orphan_xorbs (hash, first_seen_ms) SELECT h, $2 "
                                 "FROM unnest($1::text[]) AS t(h) ON CONFLICT (hash) DO NOTHING",
                                 PgParams::Of(PgTextArray{seen}, now_ms)));
      }
      // No longer orphans (recorded or removed since).
      MH_RETURN_IF_ERROR(c.Run("DELETE FROM orphan_xorbs WHERE NOT (hash = ANY($1))", PgParams::Of(PgTextArray{seen})));
    }
    return old;
  };
  if (update) return Write(run);
  return Read(run);
}

Status PgMetadataStore::ListDeletingXorbs(const std::function<void(const std::string& hash)>& fn) {
  return ListPaged("SELECT hash FROM xorbs WHERE deleting AND ", "hash",
                   [&](const PgResult& r, int i) { fn(r.Text(i, 0)); });
}

// ---- import from SQLite ----------------------------------------------------------------------

namespace {

enum class Col { kInt, kNullableInt, kText, kBool, kBytes };
struct TableSpec {
  const char* name;
  bool identity;  // an id column generated by PostgreSQL: copied with OVERRIDING SYSTEM VALUE
  std::vector<std::pair<const char*, Col>> cols;
};

// Every table of schema version 5, parents before children (foreign keys).
const std::vector<TableSpec>& ImportTables() {
  static const std::vector<TableSpec> t = {
      {"accounts", true, {{"id", Col::kInt}, {"name", Col::kText}, {"kind", Col::kText}, {"fullname", Col::kText},
                          {"is_admin", Col::kBool}, {"created_ms", Col::kInt}, {"case_twin", Col::kInt}}},
      {"memberships", false, {{"org_id", Col::kInt}, {"user_id", Col::kInt}, {"role", Col::kText}}},
      {"tokens", true, {{"id", Col::kInt}, {"user_id", Col::kInt}, {"display_name", Col::kText}, {"role", Col::kText},
                        {"secret_sha256", Col::kText}, {"created_ms", Col::kInt}, {"revoked_ms", Col::kNullableInt}}},
      {"repos", true, {{"id", Col::kInt}, {"type", Col::kText}, {"owner_id", Col::kInt}, {"name", Col::kText},
                       {"is_private", Col::kBool}, {"created_ms", Col::kInt}, {"last_modified_ms", Col::kInt},
                       {"case_twin", Col::kInt}}},
      {"lfs_objects", false, {{"oid", Col::kText}, {"size", Col::kInt}, {"created_ms", Col::kInt}}},
      {"lfs_links", false, {{"repo_id", Col::kInt}, {"oid", Col::kText}, {"created_ms", Col::kInt}}},
      {"upload_sessions", false, {{"id", Col::kText}, {"repo_id", Col::kInt}, {"oid", Col::kText}, {"size", Col::kInt},
                                  {"part_size", Col::kInt}, {"part_count", Col::kInt}, {"created_ms", Col::kInt}}},
      {"xorbs", false, {{"hash", Col::kText}, {"stored_bytes", Col::kInt}, {"raw_bytes", Col::kInt},
                        {"num_chunks", Col::kInt}, {"created_ms", Col::kInt}, {"deleting", Col::kBool}}},
      {"chunks", false, {{"hash", Col::kText}, {"xorb_hash", Col::kText}, {"chunk_index", Col::kInt}}},
      {"files", false, {{"sha256", Col::kText}, {"xet_hash", Col::kText}, {"size", Col::kInt}, {"terms", Col::kBytes},
                        {"created_ms", Col::kInt}}},
      {"orphan_xorbs", false, {{"hash", Col::kText}, {"first_seen_ms", Col::kInt}}},
      {"xorb_files", false, {{"xorb_hash", Col::kText}, {"sha256", Col::kText}}},
  };
  return t;
}

}  // namespace

Result<int64_t> PgMetadataStore::ImportFromSqlite(const std::string& sqlite_path) {
  // Read through the SQLite store's own migrations first, so an older embedded folder is brought to
  // the current schema before it is copied.
  { MH_RETURN_IF_ERROR(SqliteMetadataStore::Open(sqlite_path).status()); }
  MH_ASSIGN_OR_RETURN(auto src, SqliteConn::Open(sqlite_path, 5000));
  MH_ASSIGN_OR_RETURN(int64_t version, src->QueryInt("PRAGMA user_version"));
  if (version != kSchemaVersion) {
    return Status::InvalidArgument(fmt::format("{} has metadata schema version {}, expected {}", sqlite_path, version,
                                               kSchemaVersion));
  }
  MH_RETURN_IF_ERROR(src->Exec("BEGIN"));  // one consistent snapshot of the source
  return Run(Mode::kWrite, [&](PgConn& c) -> Result<int64_t> {
    MH_ASSIGN_OR_RETURN(PgResult n, c.Exec("SELECT count(*) FROM accounts"));
    if (n.Int64(0, 0) != 0) {
      return Status::InvalidArgument("the PostgreSQL database already has accounts: import only into a new database");
    }
    int64_t rows = 0;
    for (const TableSpec& t : ImportTables()) {
      std::string cols, marks, select = "SELECT ";
      for (size_t i = 0; i < t.cols.size(); ++i) {
        cols += (i ? ", " : "") + std::string(t.cols[i].first);
        marks += fmt::format("{}${}", i ? ", " : "", i + 1);
      }
      select += cols + " FROM " + t.name;
      std::string insert = fmt::format("INSERT INTO {} ({}) {}VALUES ({})", t.name, cols,
                                       t.identity ? "OVERRIDING SYSTEM VALUE " : "", marks);
      MH_ASSIGN_OR_RETURN(SqliteStmt st, src->Prepare(select));
      while (true) {
        MH_ASSIGN_OR_RETURN(bool row, st.Step());
        if (!row) break;
        PgParams p;
        for (size_t i = 0; i < t.cols.size(); ++i) {
          const int col = int(i);
          switch (t.cols[i].second) {
            case Col::kInt: p.Add(st.Int64(col)); break;
            case Col::kNullableInt:
              p.Add(st.IsNull(col) ? std::optional<int64_t>() : std::optional<int64_t>(st.Int64(col)));
              break;
            case Col::kText: p.Add(st.Text(col)); break;
            case Col::kBool: p.Add(st.Bool(col)); break;
            case Col::kBytes: p.Add(PgBytes{st.Blob(col)}); break;
          }
        }
        MH_RETURN_IF_ERROR(c.Run(insert, p));
        ++rows;
      }
    }
    // Ids continue after the highest one SQLite ever used (AUTOINCREMENT keeps deleted repos' ids).
    for (const char* table : {"accounts", "tokens", "repos"}) {
      int64_t next = 0;
      MH_ASSIGN_OR_RETURN(SqliteStmt mx, src->Prepare(fmt::format("SELECT coalesce(max(id), 0) FROM {}", table)));
      MH_ASSIGN_OR_RETURN(bool row, mx.Step());
      if (row) next = mx.Int64(0);
      MH_ASSIGN_OR_RETURN(SqliteStmt seq, src->Prepare("SELECT seq FROM sqlite_sequence WHERE name = ?1"));
      seq.BindAll(std::string(table));
      MH_ASSIGN_OR_RETURN(bool has, seq.Step());
      if (has) next = std::max(next, seq.Int64(0));
      if (next > 0) {
        MH_RETURN_IF_ERROR(c.Run(fmt::format("SELECT setval(pg_get_serial_sequence('{}', 'id'), $1)", table),
                                 PgParams::Of(next)));
      }
    }
    return rows;
  });
}

}  // namespace modelhub
