#include "storage/meta/sqlite_db.h"

#include <sqlite3.h>

#include <limits>

namespace modelhub {

Status SqliteError(int rc, sqlite3* db, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  // sqlite3_errmsg describes the most recent failure on db, which is rc's when
  // the caller reports right after the failing call (connections are not shared).
  msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(std::move(msg));
    case SQLITE_CONSTRAINT:
      return Status::Conflict(std::move(msg));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(std::move(msg));
    case SQLITE_FULL:  // the disk (or quota) holding the database is full
      return Status::NoSpace(std::move(msg));
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return Status::IOError(std::move(msg));
    default:
      return Status::Internal(std::move(msg));
  }
}

// ---- SqliteStmt ----

SqliteStmt::SqliteStmt(SqliteStmt&& o) noexcept : stmt_(o.stmt_), db_(o.db_), bind_rc_(o.bind_rc_) {
  o.stmt_ = nullptr;
}

SqliteStmt::~SqliteStmt() {
  if (stmt_ == nullptr) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void SqliteStmt::Bind(int idx, int64_t v) {
  int rc = sqlite3_bind_int64(stmt_, idx, v);
  if (rc != SQLITE_OK && bind_rc_ == 0) bind_rc_ = rc;
}

void SqliteStmt::Bind(int idx, std::string_view v) {
  int rc = v.size() > size_t(std::numeric_limits<int>::max())
               ? SQLITE_TOOBIG
               : sqlite3_bind_text(stmt_, idx, v.data(), int(v.size()), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_rc_ == 0) bind_rc_ = rc;
}

void SqliteStmt::BindBlob(int idx, std::string_view v) {
  int rc = v.size() > size_t(std::numeric_limits<int>::max())
               ? SQLITE_TOOBIG
               : sqlite3_bind_blob(stmt_, idx, v.data(), int(v.size()), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_rc_ == 0) bind_rc_ = rc;
}

void SqliteStmt::Bind(int idx, std::optional<int64_t> v) {
  if (v) return Bind(idx, *v);
  int rc = sqlite3_bind_null(stmt_, idx);
  if (rc != SQLITE_OK && bind_rc_ == 0) bind_rc_ = rc;
}

Result<bool> SqliteStmt::Step() {
  if (bind_rc_ != 0) return SqliteError(bind_rc_, nullptr, "bind");
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(rc, db_, "step");
}

Status SqliteStmt::Run() {
  while (true) {
    MH_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Status::Ok();
  }
}

int64_t SqliteStmt::Int64(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string SqliteStmt::Text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (p == nullptr) return {};
  return std::string(p, size_t(sqlite3_column_bytes(stmt_, col)));
}

std::string SqliteStmt::Blob(int col) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
  if (p == nullptr) return {};
  return std::string(p, size_t(sqlite3_column_bytes(stmt_, col)));
}

bool SqliteStmt::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

// ---- SqliteConn ----

void SqliteConn::DbCloser::operator()(sqlite3* db) const { sqlite3_close_v2(db); }
void SqliteConn::StmtFinalizer::operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }

SqliteConn::~SqliteConn() {
  cache_.clear();  // finalize statements before the handle closes
}

Result<std::unique_ptr<SqliteConn>> SqliteConn::Open(const std::string& path, int busy_timeout_ms) {
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  // sqlite3_open_v2 allocates a handle even on most failures; it must be closed either way.
  auto conn = std::make_unique<SqliteConn>(raw);
  if (rc != SQLITE_OK) return SqliteError(rc, raw, "open " + path);
  rc = sqlite3_busy_timeout(raw, busy_timeout_ms);
  if (rc != SQLITE_OK) return SqliteError(rc, raw, "busy_timeout");
  return conn;
}

Result<SqliteStmt> SqliteConn::Prepare(std::string_view sql) {
  auto it = cache_.find(std::string(sql));
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_.get(), sql.data(), int(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt,
                                nullptr);
    if (rc != SQLITE_OK) return SqliteError(rc, db_.get(), "prepare");
    it = cache_.emplace(std::string(sql), std::unique_ptr<sqlite3_stmt, StmtFinalizer>(stmt)).first;
  }
  return SqliteStmt(it->second.get(), db_.get());
}

Status SqliteConn::Exec(const char* sql) {
  int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteError(rc, db_.get(), "exec");
  return Status::Ok();
}

Result<int64_t> SqliteConn::QueryInt(const char* sql) {
  MH_ASSIGN_OR_RETURN(SqliteStmt stmt, Prepare(sql));
  MH_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Status::Internal(std::string("no row from: ") + sql);
  return stmt.Int64(0);
}

int64_t SqliteConn::Changes() const { return sqlite3_changes64(db_.get()); }
int64_t SqliteConn::LastInsertRowid() const { return sqlite3_last_insert_rowid(db_.get()); }

// ---- SqliteTxn ----

Result<SqliteTxn> SqliteTxn::Begin(SqliteConn& conn, Mode mode) {
  MH_RETURN_IF_ERROR(conn.Exec(mode == Mode::kImmediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED"));
  return SqliteTxn(&conn);
}

SqliteTxn::~SqliteTxn() {
  if (conn_ == nullptr) return;
  // Failure here leaves nothing to do: SQLite rolls back an open transaction
  // itself when a statement fails badly, and the next BEGIN would report it.
  (void)conn_->Exec("ROLLBACK");
}

Status SqliteTxn::Commit() {
  MH_RETURN_IF_ERROR(conn_->Exec("COMMIT"));
  conn_ = nullptr;
  return Status::Ok();
}

// ---- SqlitePool ----

SqlitePool::Lease SqlitePool::Acquire() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return !free_.empty(); });
  std::unique_ptr<SqliteConn> conn = std::move(free_.back());
  free_.pop_back();
  return Lease(this, std::move(conn));
}

void SqlitePool::Release(std::unique_ptr<SqliteConn> conn) {
  {
    std::lock_guard lock(mu_);
    free_.push_back(std::move(conn));
  }
  cv_.notify_one();
}

}  // namespace modelhub
