// Status and Result<T>: errors as values across module boundaries.
//
// Every fallible function in modelhub returns Status or Result<T>. A Status
// carries a coarse code (what kind of failure), an optional Hub error code (the
// string clients read from the X-Error-Code header, e.g. "RepoNotFound"), a
// human-readable message and a retryable bit. Exactly one function
// (api/hub.cc: HttpStatusFor) maps codes to HTTP statuses.
//
// Thread-safety: values; safe to copy between threads.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace modelhub {

enum class Code {
  kOk = 0,
  kNotFound,
  kInvalidArgument,
  kConflict,            // already exists
  kPreconditionFailed,  // compare-and-swap lost (stale parentCommit)
  kCorruption,
  kIOError,
  kUnavailable,
  kUnauthorized,  // no or bad credentials
  kForbidden,     // credentials fine, rights missing
  kTooLarge,
  kRangeNotSatisfiable,
  kNotImplemented,
  kInternal,
  kNoSpace,  // the server's disk (or quota) is full: ENOSPC, EDQUOT, SQLITE_FULL, ... (HTTP 507)
};

const char* CodeName(Code c);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message, std::string hub_code = {}, bool retryable = false)
      : code_(code), message_(std::move(message)), hub_code_(std::move(hub_code)), retryable_(retryable) {}

  static Status Ok() { return Status(); }
  static Status NotFound(std::string msg, std::string hub_code = {}) {
    return Status(Code::kNotFound, std::move(msg), std::move(hub_code));
  }
  static Status InvalidArgument(std::string msg, std::string hub_code = {}) {
    return Status(Code::kInvalidArgument, std::move(msg), std::move(hub_code));
  }
  static Status Conflict(std::string msg, std::string hub_code = {}) {
    return Status(Code::kConflict, std::move(msg), std::move(hub_code));
  }
  static Status PreconditionFailed(std::string msg) { return Status(Code::kPreconditionFailed, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status IOError(std::string msg, bool retryable = false) {
    return Status(Code::kIOError, std::move(msg), {}, retryable);
  }
  static Status Unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg), {}, true); }
  static Status Unauthorized(std::string msg) { return Status(Code::kUnauthorized, std::move(msg)); }
  static Status Forbidden(std::string msg) { return Status(Code::kForbidden, std::move(msg)); }
  static Status TooLarge(std::string msg) { return Status(Code::kTooLarge, std::move(msg)); }
  static Status RangeNotSatisfiable(std::string msg) { return Status(Code::kRangeNotSatisfiable, std::move(msg)); }
  static Status NotImplemented(std::string msg) { return Status(Code::kNotImplemented, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(Code::kInternal, std::move(msg)); }
  // msg is for the server log (it may name files); clients are told only that the disk is full.
  static Status NoSpace(std::string msg) { return Status(Code::kNoSpace, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& hub_code() const { return hub_code_; }
  bool retryable() const { return retryable_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsNoSpace() const { return code_ == Code::kNoSpace; }

  // Returns a copy with the Hub error code replaced (e.g. NotFound -> "EntryNotFound").
  Status WithHubCode(std::string hub_code) const {
    Status s = *this;
    s.hub_code_ = std::move(hub_code);
    return s;
  }
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
  std::string hub_code_;
  bool retryable_ = false;
};

// Result<T>: either a value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace modelhub

// Early-return helpers. Keep their use to function bodies.
#define MH_CONCAT_INNER(a, b) a##b
#define MH_CONCAT(a, b) MH_CONCAT_INNER(a, b)
#define MH_RETURN_IF_ERROR(expr)                      \
  do {                                                \
    ::modelhub::Status mh_status_ = (expr);           \
    if (!mh_status_.ok()) return mh_status_;          \
  } while (0)
#define MH_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
#define MH_ASSIGN_OR_RETURN(lhs, expr) MH_ASSIGN_OR_RETURN_IMPL(MH_CONCAT(mh_result_, __LINE__), lhs, expr)
