#include "storage/meta/pg_conn.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "common/strings.h"

namespace modelhub {
namespace {

// Type OIDs from PostgreSQL's catalog (pg_type.dat); stable across releases.
constexpr unsigned kBoolOid = 16;
constexpr unsigned kByteaOid = 17;
constexpr unsigned kInt8Oid = 20;
constexpr unsigned kTextOid = 25;
constexpr unsigned kTextArrayOid = 1009;

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// The one mapping from a PostgreSQL failure to a Status. connection_lost: libpq
// saw the socket fail (it reports no SQLSTATE for that).
Status PgError(std::string_view sqlstate, bool connection_lost, const std::string& message, std::string_view what) {
  std::string msg = std::string(what) + ": " + message;
  if (!sqlstate.empty()) msg += " (SQLSTATE " + std::string(sqlstate) + ")";
  if (connection_lost || StartsWith(sqlstate, "08") || sqlstate == "57P01" || sqlstate == "57P02" ||
      sqlstate == "57P03") {
    return Status::Unavailable("PostgreSQL is unreachable or restarting; " + msg);
  }
  if (IsPgRetryableSqlstate(sqlstate) || sqlstate == "55P03" || sqlstate == "57014" || sqlstate == "53200" ||
      sqlstate == "53300") {
    return Status::Unavailable(msg);  // contention, timeouts, too many connections: try again later
  }
  if (StartsWith(sqlstate, "23")) return Status::Conflict(msg);         // integrity constraint violation
  if (StartsWith(sqlstate, "22")) return Status::InvalidArgument(msg);  // data exception (bad encoding...)
  if (sqlstate == "XX001" || sqlstate == "XX002") return Status::Corruption(msg);
  if (sqlstate == "53100") return Status::NoSpace(msg);  // disk_full on the database server
  if (StartsWith(sqlstate, "58") || StartsWith(sqlstate, "53")) return Status::IOError(msg);  // I/O, resources
  return Status::Internal(msg);
}

std::string TrimMessage(const char* m) { return m != nullptr ? Trim(m) : std::string("(no message)"); }

}  // namespace

bool IsPgRetryableSqlstate(std::string_view sqlstate) { return sqlstate == "40001" || sqlstate == "40P01"; }

// ---- PgParams ----

std::string PgParams::Push(unsigned type_oid, std::optional<std::string> value, bool binary) {
  types_.push_back(type_oid);
  values_.push_back(std::move(value));
  formats_.push_back(binary ? 1 : 0);
  return "$" + std::to_string(values_.size());
}

std::string PgParams::Add(int64_t v) { return Push(kInt8Oid, std::to_string(v), false); }
std::string PgParams::Add(bool v) { return Push(kBoolOid, std::string(v ? "t" : "f"), false); }
std::string PgParams::Add(std::optional<int64_t> v) {
  return Push(kInt8Oid, v ? std::optional<std::string>(std::to_string(*v)) : std::nullopt, false);
}
std::string PgParams::Add(std::string_view v) { return Push(kTextOid, std::string(v), true); }
std::string PgParams::Add(PgBytes v) { return Push(kByteaOid, std::string(v.bytes), true); }

std::string PgParams::Add(PgTextArray v) {
  // Text-format array literal: every element double-quoted, '"' and '\' escaped.
  std::string lit = "{";
  for (size_t i = 0; i < v.items.size(); ++i) {
    if (i != 0) lit += ',';
    lit += '"';
    for (char c : v.items[i]) {
      if (c == '"' || c == '\\') lit += '\\';
      lit += c;
    }
    lit += '"';
  }
  lit += '}';
  return Push(kTextArrayOid, std::move(lit), false);
}

// ---- PgResult ----

void PgResult::Clear::operator()(pg_result* r) const { PQclear(r); }

int PgResult::rows() const { return PQntuples(res_.get()); }

bool PgResult::IsNull(int row, int col) const { return PQgetisnull(res_.get(), row, col) != 0; }

int64_t PgResult::Int64(int row, int col) const {
  if (IsNull(row, col)) return 0;
  return std::strtoll(PQgetvalue(res_.get(), row, col), nullptr, 10);
}

bool PgResult::Bool(int row, int col) const {
  const char* v = PQgetvalue(res_.get(), row, col);
  return !IsNull(row, col) && v[0] == 't';
}

std::string PgResult::Text(int row, int col) const {
  return std::string(PQgetvalue(res_.get(), row, col), static_cast<size_t>(PQgetlength(res_.get(), row, col)));
}

std::string PgResult::Bytes(int row, int col) const {
  if (IsNull(row, col)) return {};
  size_t n = 0;
  unsigned char* raw =
      PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(res_.get(), row, col)), &n);
  if (raw == nullptr) return {};
  std::string out(reinterpret_cast<const char*>(raw), n);
  PQfreemem(raw);
  return out;
}

int64_t PgResult::Affected() const {
  const char* n = PQcmdTuples(res_.get());
  return n != nullptr && *n != '\0' ? std::strtoll(n, nullptr, 10) : 0;
}

// ---- PgConn ----

void PgConn::Finish::operator()(pg_conn* c) const { PQfinish(c); }

namespace {
void IgnoreNotice(void*, const char*) {}  // NOTICEs would go to stderr otherwise
}  // namespace

Result<std::unique_ptr<PgConn>> PgConn::Connect(const std::string& url, int connect_timeout_s) {
  // Later keywords override earlier ones: the URL (expanded from dbname) may set its own
  // timeout and name, but not the encoding, which must be UTF-8 (StorableText relies on it).
  const std::string timeout = std::to_string(connect_timeout_s);
  const char* keys[] = {"connect_timeout", "application_name", "dbname", "client_encoding", nullptr};
  const char* values[] = {timeout.c_str(), "modelhub", url.c_str(), "UTF8", nullptr};
  auto conn = std::make_unique<PgConn>(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
  if (!conn->conn_) return Status::Internal("libpq could not allocate a connection");
  if (PQstatus(conn->conn_.get()) != CONNECTION_OK) {
    return Status::Unavailable("cannot connect to PostgreSQL (" + conn->Describe() +
                               "): " + TrimMessage(PQerrorMessage(conn->conn_.get())));
  }
  PQsetNoticeProcessor(conn->conn_.get(), IgnoreNotice, nullptr);
  if (PQserverVersion(conn->conn_.get()) < 120000) {
    return Status::NotImplemented("PostgreSQL " + std::to_string(PQserverVersion(conn->conn_.get()) / 10000) +
                                  " at " + conn->Describe() + " is too old; modelhub needs 12 or newer");
  }
  return conn;
}

Result<PgResult> PgConn::Exec(std::string_view sql, const PgParams& params) {
  last_sqlstate_.clear();
  const std::string text(sql);  // libpq wants a NUL-terminated string
  const int n = params.size();
  std::vector<const char*> values(n);
  std::vector<int> lengths(n);
  for (int i = 0; i < n; ++i) {
    const auto& v = params.values_[i];
    values[i] = v ? v->data() : nullptr;
    lengths[i] = v ? static_cast<int>(v->size()) : 0;
  }
  PgResult res(PQexecParams(conn_.get(), text.c_str(), n, params.types_.data(), values.data(), lengths.data(),
                            params.formats_.data(), /*resultFormat=text*/ 0));
  pg_result* raw = res.res_.get();
  ExecStatusType st = raw != nullptr ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return res;
  const char* state = raw != nullptr ? PQresultErrorField(raw, PG_DIAG_SQLSTATE) : nullptr;
  last_sqlstate_ = state != nullptr ? state : "";
  const char* primary = raw != nullptr ? PQresultErrorField(raw, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string message = TrimMessage(primary != nullptr ? primary : PQerrorMessage(conn_.get()));
  // Name the statement by its first words only: the SQL text is fixed, the values are not in it.
  const size_t start = std::min(text.find_first_not_of(" \n"), text.size());
  std::string what = text.substr(start, text.find_first_of("(\n", start, 2) - start);
  if (what.size() > 48) what = what.substr(0, 48) + "...";
  return PgError(last_sqlstate_, broken(), message, "PostgreSQL " + what);
}

Status PgConn::Run(std::string_view sql, const PgParams& params) { return Exec(sql, params).status(); }

bool PgConn::broken() const { return PQstatus(conn_.get()) != CONNECTION_OK; }

std::string PgConn::Describe() const {
  pg_conn* c = conn_.get();
  auto str = [](const char* s) { return std::string(s != nullptr ? s : ""); };
  return str(PQuser(c)) + "@" + str(PQhost(c)) + ":" + str(PQport(c)) + "/" + str(PQdb(c));
}

// ---- PgPool ----

Result<PgPool::Lease> PgPool::Acquire() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !idle_.empty() || open_ < max_conns_; });
  if (!idle_.empty()) {
    std::unique_ptr<PgConn> c = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(c));
  }
  ++open_;
  lock.unlock();
  auto conn = PgConn::Connect(url_, connect_timeout_s_);
  if (!conn.ok()) {
    lock.lock();
    --open_;
    cv_.notify_one();
    return conn.status();
  }
  return Lease(this, std::move(conn).value());
}

void PgPool::Release(std::unique_ptr<PgConn> conn) {
  std::unique_ptr<PgConn> closing;  // closed outside the lock
  {
    std::lock_guard lock(mu_);
    if (conn->broken()) {
      closing = std::move(conn);
      --open_;
    } else {
      idle_.push_back(std::move(conn));
    }
  }
  cv_.notify_one();
}

void PgPool::DiscardIdle() {
  std::vector<std::unique_ptr<PgConn>> closing;
  {
    std::lock_guard lock(mu_);
    closing.swap(idle_);
    open_ -= static_cast<int>(closing.size());
  }
  cv_.notify_all();
}

}  // namespace modelhub
