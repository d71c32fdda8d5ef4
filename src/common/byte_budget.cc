#include "common/byte_budget.h"

#include <fmt/format.h>

namespace modelhub {

int64_t ByteBudget::in_use() const {
  std::lock_guard<std::mutex> lock(mu_);
  return used_;
}

ByteBudget::Lease& ByteBudget::Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    ShrinkTo(0);
    budget_ = o.budget_;
    held_ = o.held_;
    o.held_ = 0;
  }
  return *this;
}

Status ByteBudget::Lease::GrowTo(int64_t bytes, std::chrono::milliseconds wait, int64_t reserve) {
  if (bytes <= held_) return Status::Ok();
  ByteBudget& b = *budget_;
  if (bytes + reserve > b.capacity_) {
    return Status::TooLarge(
        fmt::format("The request needs {} bytes of memory, more than the server's budget of {} bytes", bytes,
                    b.capacity_));
  }
  int64_t more = bytes - held_;
  std::unique_lock<std::mutex> lock(b.mu_);
  if (!b.freed_.wait_for(lock, wait, [&] { return b.used_ + more + reserve <= b.capacity_; })) {
    return Status::Unavailable(fmt::format(
        "The server is busy: requests in flight hold its memory budget for request data ({} bytes); retry shortly",
        b.capacity_));
  }
  b.used_ += more;
  held_ = bytes;
  return Status::Ok();
}

void ByteBudget::Lease::ShrinkTo(int64_t bytes) {
  if (budget_ == nullptr || bytes >= held_) return;
  if (bytes < 0) bytes = 0;
  {
    std::lock_guard<std::mutex> lock(budget_->mu_);
    budget_->used_ -= held_ - bytes;
  }
  held_ = bytes;
  budget_->freed_.notify_all();
}

}  // namespace modelhub
