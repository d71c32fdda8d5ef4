#include "common/fs.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/strings.h"

namespace modelhub {

namespace {
Status Errno(const std::string& what) { return ErrnoStatus(errno, what); }
}  // namespace

bool IsNoSpaceErrno(int err) { return err == ENOSPC || err == EDQUOT; }

Status ErrnoStatus(int err, const std::string& what) {
  std::string msg = what + ": " + std::strerror(err);
  if (IsNoSpaceErrno(err)) return Status::NoSpace(std::move(msg));
  return Status::IOError(std::move(msg));
}

Status ErrorCodeStatus(const std::error_code& ec, const std::string& what) {
  if (ec.category() == std::generic_category() || ec.category() == std::system_category()) {
    return ErrnoStatus(ec.value(), what);
  }
  return Status::IOError(what + ": " + ec.message());
}

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Status MakeDirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ErrorCodeStatus(ec, "mkdir " + dir);
  return Status::Ok();
}

Result<std::string> ReadFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return Status::NotFound("no such file: " + path);
    return Errno("open " + path);
  }
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("read " + path);
    }
    if (n == 0) break;
    out.append(buf, size_t(n));
  }
  return out;
}

Status WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Errno("write");
    }
    data += w;
    n -= size_t(w);
  }
  return Status::Ok();
}

Status FsyncFd(int fd, const std::string& what) {
  if (::fsync(fd) != 0) return Errno("fsync " + what);
  return Status::Ok();
}

Status FsyncDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Errno("open dir " + dir);
  return FsyncFd(fd.get(), dir);
}

Status WriteFileAtomic(const std::string& path, const std::string& data, int mode) {
  std::string tmp = path + ".tmp." + RandomHex(6);
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (!fd.valid()) return Errno("create " + tmp);
    Status s = WriteAll(fd.get(), data.data(), data.size());
    if (s.ok()) s = FsyncFd(fd.get(), tmp);
    if (!s.ok()) {
      ::unlink(tmp.c_str());
      return s;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = Errno("rename " + tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  return FsyncDir(Dirname(path));
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

Status RemoveAll(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return ErrorCodeStatus(ec, "remove " + path);
  return Status::Ok();
}

std::string Dirname(const std::string& path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

std::string RandomBytes(size_t n_bytes) {
  std::string out(n_bytes, '\0');
  size_t got = 0;
  while (got < n_bytes) {
    ssize_t r = ::getrandom(out.data() + got, n_bytes - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      std::abort();  // the kernel CSPRNG failing is not recoverable
    }
    got += size_t(r);
  }
  return out;
}

std::string RandomHex(size_t n_bytes) { return HexEncode(RandomBytes(n_bytes)); }

}  // namespace modelhub
