// GcFence: the lock that keeps a garbage collection's sweep apart from writers
// that make LFS objects reachable (commit API, git push).
//
// One file, <data>/gc.lock, locked with flock(2): writers hold it shared from
// the moment they check that the LFS objects they reference exist until their
// ref update is done; `modelhub admin gc` holds it exclusive while it re-marks
// and deletes metadata rows. flock locks belong to the open file, so every
// fence opens its own descriptor: threads of one process and separate
// processes (the server, `modelhub admin`) exclude each other alike, and a
// crashed holder's lock goes away with its process.
//
// Calling sequence (writer):
//   MH_ASSIGN_OR_RETURN(GcFence fence, GcFence::Shared(data_dir));
//   ... check the objects exist, move the ref ...
//   // fence released when it goes out of scope
//
// Thread-safety: a GcFence is owned by one thread; the functions may be called
// from any number of threads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/fs.h"
#include "common/status.h"

namespace modelhub {

class GcFence {
 public:
  // An unlocked fence (what Shared returns for an empty data_dir: tests and
  // tools without a data folder).
  GcFence() = default;
  GcFence(GcFence&&) noexcept = default;
  GcFence& operator=(GcFence&&) noexcept = default;
  ~GcFence() = default;  // closing the descriptor releases the lock

  // Waits (polling, up to timeout_ms) while a GC sweep holds the lock, then
  // holds it shared. Unavailable (retryable) if the sweep outlasts the timeout;
  // IOError if the lock file cannot be opened.
  static Result<GcFence> Shared(const std::string& data_dir, int64_t timeout_ms = 120'000);
  // Waits (polling, up to timeout_ms; < 0: forever) until no writer holds the
  // lock, then holds it exclusive. Unavailable on timeout. on_wait is called
  // once if the lock is not free at the first try (to tell the user why).
  static Result<GcFence> Exclusive(const std::string& data_dir, int64_t timeout_ms, const std::function<void()>& on_wait = {});

  bool held() const { return fd_.valid(); }
  static std::string LockPath(const std::string& data_dir) { return data_dir + "/gc.lock"; }

 private:
  explicit GcFence(UniqueFd fd) : fd_(std::move(fd)) {}
  static Result<GcFence> Acquire(const std::string& data_dir, bool exclusive, int64_t timeout_ms,
                                 const std::function<void()>& on_wait);

  UniqueFd fd_;
};

}  // namespace modelhub
