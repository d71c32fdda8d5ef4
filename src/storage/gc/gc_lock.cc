#include "storage/gc/gc_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "common/time_util.h"

namespace modelhub {

Result<GcFence> GcFence::Shared(const std::string& data_dir, int64_t timeout_ms) {
  if (data_dir.empty()) return GcFence();
  return Acquire(data_dir, /*exclusive=*/false, timeout_ms, {});
}

Result<GcFence> GcFence::Exclusive(const std::string& data_dir, int64_t timeout_ms, const std::function<void()>& on_wait) {
  if (data_dir.empty()) return Status::InvalidArgument("GcFence::Exclusive needs a data folder");
  return Acquire(data_dir, /*exclusive=*/true, timeout_ms, on_wait);
}

Result<GcFence> GcFence::Acquire(const std::string& data_dir, bool exclusive, int64_t timeout_ms,
                                 const std::function<void()>& on_wait) {
  const std::string path = LockPath(data_dir);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoStatus(errno, "open " + path);
  // Polling rather than a blocking flock: a blocked call cannot time out, and neither side
  // should wait forever on the other (a stuck GC must not hang every commit).
  const int op = (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
  const int64_t deadline = timeout_ms < 0 ? -1 : NowMs() + timeout_ms;
  auto delay = std::chrono::milliseconds(1);
  bool waited = false;
  while (true) {
    if (::flock(fd.get(), op) == 0) return GcFence(std::move(fd));
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) return Status::IOError("flock " + path + ": " + std::strerror(errno));
    if (!waited && on_wait) on_wait();
    waited = true;
    if (deadline >= 0 && NowMs() >= deadline) {
      return Status::Unavailable(exclusive ? "commits or pushes kept " + path + " busy; try again later"
                                           : "garbage collection is sweeping; retry in a moment");
    }
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(exclusive ? 20 : 50));
  }
}

}  // namespace modelhub
