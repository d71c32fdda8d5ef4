// Thin RAII layer over libpq, used by PgMetadataStore: a parameter list for
// PQexecParams, a result, a connection that remembers the SQLSTATE of its last
// failure, a pool that reconnects, and the one mapping from libpq failures to
// Status.
//
// Thread-safety: a PgConn and the PgResults made from it belong to one thread
// at a time; PgPool::Acquire may be called from any thread and is how a
// connection moves between threads (libpq itself is thread-safe as long as a
// connection is not shared).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

struct pg_conn;
struct pg_result;

namespace modelhub {

// A bytea parameter (sent as raw bytes).
struct PgBytes {
  std::string_view bytes;
};

// A text[] parameter. Elements may hold any byte except NUL (the caller checks).
struct PgTextArray {
  const std::vector<std::string>& items;
};

// Parameters $1..$N of one statement, each with an explicit type so the server
// never has to guess. Integers and booleans travel as text, text and bytea as
// length-delimited binary (a NUL byte is never silently cut off: PostgreSQL
// rejects it in text, which maps to InvalidArgument).
class PgParams {
 public:
  PgParams() = default;
  template <typename... Args>
  static PgParams Of(const Args&... args) {
    PgParams p;
    (p.Add(args), ...);
    return p;
  }

  // Each Add returns the placeholder ("$3") to splice into the SQL text.
  std::string Add(int64_t v);
  std::string Add(int v) { return Add(int64_t{v}); }
  std::string Add(bool v);
  std::string Add(std::optional<int64_t> v);  // nullopt: NULL
  std::string Add(std::string_view v);
  std::string Add(const std::string& v) { return Add(std::string_view(v)); }
  std::string Add(const char* v) { return Add(std::string_view(v)); }
  std::string Add(PgBytes v);
  std::string Add(PgTextArray v);

  int size() const { return static_cast<int>(values_.size()); }

 private:
  friend class PgConn;
  std::string Push(unsigned type_oid, std::optional<std::string> value, bool binary);

  std::vector<unsigned> types_;
  std::vector<std::optional<std::string>> values_;
  std::vector<int> formats_;  // 0 text, 1 binary
};

// The rows of a successful statement (text format). Accessors take 0-based row
// and column numbers that the caller's SQL fixes; NULL reads as 0 / "" / false.
class PgResult {
 public:
  explicit PgResult(pg_result* res) : res_(res) {}
  int rows() const;
  int64_t Int64(int row, int col) const;
  bool Bool(int row, int col) const;
  std::string Text(int row, int col) const;
  std::string Bytes(int row, int col) const;  // a bytea column
  bool IsNull(int row, int col) const;
  // Rows affected by INSERT/UPDATE/DELETE (0 for other statements).
  int64_t Affected() const;

 private:
  friend class PgConn;
  struct Clear {
    void operator()(pg_result* r) const;
  };
  std::unique_ptr<pg_result, Clear> res_;
};

class PgConn {
 public:
  // Connects with a libpq connection string or URI ("postgresql://user:pass@host:port/db?...").
  // connect_timeout_s applies unless the URL sets connect_timeout. Unavailable (retryable)
  // if the server cannot be reached or refuses the connection, with libpq's reason.
  static Result<std::unique_ptr<PgConn>> Connect(const std::string& url, int connect_timeout_s);
  explicit PgConn(pg_conn* conn) : conn_(conn) {}  // takes ownership
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  // Runs one statement with PQexecParams. Errors mapped by PgError; on failure
  // last_sqlstate() tells what PostgreSQL reported ("" if it said nothing).
  Result<PgResult> Exec(std::string_view sql, const PgParams& params = {});
  // Same, for statements whose rows do not matter (BEGIN, DDL, ...).
  Status Run(std::string_view sql, const PgParams& params = {});

  // True once libpq has seen the connection fail (server gone, socket closed).
  bool broken() const;
  const std::string& last_sqlstate() const { return last_sqlstate_; }
  // "user@host:port/db" for messages (never the password).
  std::string Describe() const;

 private:
  struct Finish {
    void operator()(pg_conn* c) const;
  };
  std::unique_ptr<pg_conn, Finish> conn_;
  std::string last_sqlstate_;
};

// SQLSTATEs after which the whole transaction may simply be run again.
bool IsPgRetryableSqlstate(std::string_view sqlstate);  // 40001 serialization, 40P01 deadlock

// A bounded set of connections to one database, opened on demand. Acquire()
// hands out an idle connection or opens a new one (blocking while max_conns are
// in use); a connection found broken is closed when its lease ends instead of
// going back. The pool must outlive its leases.
class PgPool {
 public:
  PgPool(std::string url, int max_conns, int connect_timeout_s)
      : url_(std::move(url)), max_conns_(max_conns), connect_timeout_s_(connect_timeout_s) {}
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  class Lease {
   public:
    Lease(PgPool* pool, std::unique_ptr<PgConn> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& o) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() {
      if (conn_) pool_->Release(std::move(conn_));
    }
    PgConn& operator*() const { return *conn_; }
    PgConn* operator->() const { return conn_.get(); }

   private:
    PgPool* pool_;
    std::unique_ptr<PgConn> conn_;
  };

  // Unavailable (retryable) if a new connection is needed and cannot be made.
  Result<Lease> Acquire();
  // Closes every idle connection: after one was found broken (a server restart,
  // say) the others are most likely dead too, and each would cost a failed attempt.
  void DiscardIdle();

 private:
  void Release(std::unique_ptr<PgConn> conn);

  const std::string url_;
  const int max_conns_;
  const int connect_timeout_s_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<PgConn>> idle_;  // guarded by mu_
  int open_ = 0;                               // guarded by mu_: idle + leased + connecting
};

}  // namespace modelhub
