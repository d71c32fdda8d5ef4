// ByteBudget: a server-wide budget of memory, in bytes, that requests draw on while they hold
// request data in memory (a counting semaphore of bytes). A request takes a Lease, grows it
// before it buffers more and gives it back when done, so the sum over all requests in flight
// stays within the capacity whatever their number.
//
// Thread-safe. A Lease belongs to one request (one thread at a time).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "common/status.h"

namespace modelhub {

class ByteBudget {
 public:
  explicit ByteBudget(int64_t capacity) : capacity_(capacity) {}
  ByteBudget(const ByteBudget&) = delete;
  ByteBudget& operator=(const ByteBudget&) = delete;

  int64_t capacity() const { return capacity_; }
  int64_t in_use() const;

  // Holds part of the budget; releases it on destruction. Move-only.
  class Lease {
   public:
    Lease() = default;
    ~Lease() { ShrinkTo(0); }
    Lease(Lease&& o) noexcept : budget_(o.budget_), held_(o.held_) { o.held_ = 0; }
    Lease& operator=(Lease&& o) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

    // Grows the lease to hold at least `bytes` in total, waiting up to `wait` for other leases
    // to shrink, and leaving at least `reserve` bytes of the capacity unused. (Small leases pass
    // the size of a large one as `reserve`: however many small leases wait to grow, one large
    // lease can always be granted, so a request that holds a small lease while it waits for a
    // large one cannot be starved by the others doing the same.) On failure the lease keeps what
    // it held: Unavailable (retryable: 503 with Retry-After) if the budget stayed short for
    // `wait`; TooLarge if `bytes` + `reserve` exceeds the whole capacity.
    Status GrowTo(int64_t bytes, std::chrono::milliseconds wait, int64_t reserve = 0);
    // Gives back what it holds above `bytes`.
    void ShrinkTo(int64_t bytes);
    int64_t held() const { return held_; }

   private:
    friend class ByteBudget;
    explicit Lease(ByteBudget* b) : budget_(b) {}
    ByteBudget* budget_ = nullptr;
    int64_t held_ = 0;
  };

  Lease NewLease() { return Lease(this); }

 private:
  const int64_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable freed_;
  int64_t used_ = 0;  // guarded by mu_
};

}  // namespace modelhub
