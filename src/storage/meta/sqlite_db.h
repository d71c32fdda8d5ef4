// Thin RAII layer over the SQLite C API, used by SqliteMetadataStore: a connection
// with a per-connection cache of prepared statements, a statement handle that
// resets itself, a transaction guard that rolls back unless committed, a fixed
// pool of connections, and the one mapping from SQLite result codes to Status.
//
// Thread-safety: a SqliteConn and the SqliteStmt/SqliteTxn objects made from it
// belong to one thread at a time (connections are opened SQLITE_OPEN_NOMUTEX);
// SqlitePool::Acquire may be called from any thread and is how a connection
// moves between threads.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace modelhub {

// Maps a SQLite result code to a Status (the only place that does):
// BUSY, LOCKED -> Unavailable (retryable); CONSTRAINT -> Conflict;
// CORRUPT, NOTADB -> Corruption; IOERR, FULL, CANTOPEN, READONLY, PERM -> IOError;
// anything else -> Internal. `what` names the operation; db (may be null) adds
// SQLite's own message.
Status SqliteError(int rc, sqlite3* db, std::string_view what);

// A prepared statement borrowed from a SqliteConn's cache. Bind parameters
// (1-based), Step through rows, read columns; the statement is reset and its
// bindings cleared when this object dies. A bind failure is remembered and
// returned by the next Step/Run.
class SqliteStmt {
 public:
  SqliteStmt(sqlite3_stmt* stmt, sqlite3* db) : stmt_(stmt), db_(db) {}
  SqliteStmt(SqliteStmt&& o) noexcept;
  SqliteStmt& operator=(SqliteStmt&&) = delete;
  SqliteStmt(const SqliteStmt&) = delete;
  SqliteStmt& operator=(const SqliteStmt&) = delete;
  ~SqliteStmt();

  void Bind(int idx, int64_t v);
  void Bind(int idx, int v) { Bind(idx, int64_t{v}); }
  void Bind(int idx, bool v) { Bind(idx, int64_t{v ? 1 : 0}); }
  void Bind(int idx, std::string_view v);
  void Bind(int idx, const std::string& v) { Bind(idx, std::string_view(v)); }
  void Bind(int idx, const char* v) { Bind(idx, std::string_view(v)); }
  void Bind(int idx, std::optional<int64_t> v);  // nullopt binds NULL
  void BindBlob(int idx, std::string_view v);

  // Binds args to parameters 1..N in order.
  template <typename... Args>
  void BindAll(const Args&... args) {
    int idx = 0;
    (Bind(++idx, args), ...);
  }

  // true: a row is available; false: done. Errors mapped by SqliteError.
  Result<bool> Step();
  // Steps to completion, ignoring any rows.
  Status Run();

  int64_t Int64(int col) const;
  bool Bool(int col) const { return Int64(col) != 0; }
  std::string Text(int col) const;
  std::string Blob(int col) const;
  bool IsNull(int col) const;

 private:
  sqlite3_stmt* stmt_;  // owned by the connection's cache
  sqlite3* db_;
  int bind_rc_ = 0;  // first failing sqlite3_bind_* result, 0 if none
};

class SqliteConn {
 public:
  // Opens (creating if needed) the database at path, read-write, NOMUTEX, with
  // extended result codes and the given busy timeout. Applies no pragmas.
  static Result<std::unique_ptr<SqliteConn>> Open(const std::string& path, int busy_timeout_ms);
  explicit SqliteConn(sqlite3* db) : db_(db) {}  // takes ownership of db
  SqliteConn(const SqliteConn&) = delete;
  SqliteConn& operator=(const SqliteConn&) = delete;
  ~SqliteConn();

  // Prepares sql once per connection and hands out the cached statement.
  // The same sql must not be prepared again while an earlier SqliteStmt for it
  // is alive.
  Result<SqliteStmt> Prepare(std::string_view sql);
  // Runs one or more parameterless statements (pragmas, DDL).
  Status Exec(const char* sql);
  // Runs a single-row, single-column query (e.g. a pragma) and returns column 0 as int.
  Result<int64_t> QueryInt(const char* sql);

  int64_t Changes() const;
  int64_t LastInsertRowid() const;
  sqlite3* raw() const { return db_.get(); }

 private:
  struct DbCloser {
    void operator()(sqlite3* db) const;
  };
  struct StmtFinalizer {
    void operator()(sqlite3_stmt* s) const;
  };

  // Declared in this order so statements are finalized before the handle closes.
  std::unique_ptr<sqlite3, DbCloser> db_;
  std::unordered_map<std::string, std::unique_ptr<sqlite3_stmt, StmtFinalizer>> cache_;
};

// Transaction guard: Begin() starts a transaction (BEGIN IMMEDIATE takes the
// write lock up front, which avoids SQLITE_BUSY on a later read-to-write
// upgrade); the destructor rolls back unless Commit() succeeded.
class SqliteTxn {
 public:
  enum class Mode { kDeferred, kImmediate };
  static Result<SqliteTxn> Begin(SqliteConn& conn, Mode mode);
  SqliteTxn(SqliteTxn&& o) noexcept : conn_(o.conn_) { o.conn_ = nullptr; }
  SqliteTxn& operator=(SqliteTxn&&) = delete;
  SqliteTxn(const SqliteTxn&) = delete;
  SqliteTxn& operator=(const SqliteTxn&) = delete;
  ~SqliteTxn();

  // On failure the transaction is rolled back (by the destructor).
  Status Commit();

 private:
  explicit SqliteTxn(SqliteConn* conn) : conn_(conn) {}
  SqliteConn* conn_;  // null once committed or moved from
};

// A fixed set of connections to one database. Acquire() blocks until one is
// free; the Lease gives it back when it dies. The pool must outlive its leases.
class SqlitePool {
 public:
  explicit SqlitePool(std::vector<std::unique_ptr<SqliteConn>> conns) : free_(std::move(conns)) {}
  SqlitePool(const SqlitePool&) = delete;
  SqlitePool& operator=(const SqlitePool&) = delete;

  class Lease {
   public:
    Lease(SqlitePool* pool, std::unique_ptr<SqliteConn> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() {
      if (conn_) pool_->Release(std::move(conn_));
    }
    SqliteConn& operator*() const { return *conn_; }
    SqliteConn* operator->() const { return conn_.get(); }

   private:
    SqlitePool* pool_;
    std::unique_ptr<SqliteConn> conn_;
  };

  Lease Acquire();

 private:
  void Release(std::unique_ptr<SqliteConn> conn);

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<SqliteConn>> free_;  // guarded by mu_
};

}  // namespace modelhub
