// Filesystem helpers with the durability rules of docs/architecture.md:
// atomic files are written to a temporary name, fsynced, renamed into place,
// and the directory is fsynced. Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>
#include <system_error>

#include "common/status.h"

namespace modelhub {

// The one mapping from an OS error number to a Status: ENOSPC and EDQUOT (disk or quota full)
// give NoSpace, everything else IOError; the message is "<what>: <strerror>". Call right after
// the failing call with errno (or the error a function returned).
Status ErrnoStatus(int err, const std::string& what);
// The same for the error codes of std::filesystem.
Status ErrorCodeStatus(const std::error_code& ec, const std::string& what);
// True for the errors that mean "out of space" (ENOSPC, EDQUOT).
bool IsNoSpaceErrno(int err);

Status MakeDirs(const std::string& dir);
Result<std::string> ReadFile(const std::string& path);  // whole file; small files only
Status WriteFileAtomic(const std::string& path, const std::string& data, int mode = 0644);
Status FsyncDir(const std::string& dir);
Status FsyncFd(int fd, const std::string& what);
bool PathExists(const std::string& path);
Status RemoveAll(const std::string& path);
std::string Dirname(const std::string& path);
// Random hex string of n bytes (2n hex chars) from the OS CSPRNG.
std::string RandomHex(size_t n_bytes);
std::string RandomBytes(size_t n_bytes);

// RAII file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Writes all of data to fd, retrying on EINTR/short writes.
Status WriteAll(int fd, const char* data, size_t n);

}  // namespace modelhub
