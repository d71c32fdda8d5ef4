#include "common/time_util.h"

#include <chrono>
#include <ctime>

#include <fmt/format.h>

namespace modelhub {

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

int64_t NowS() { return NowMs() / 1000; }

std::string IsoTimeMs(int64_t unix_ms) {
  time_t secs = static_cast<time_t>(unix_ms / 1000);
  struct tm tm_utc;
  gmtime_r(&secs, &tm_utc);
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z", tm_utc.tm_year + 1900, tm_utc.tm_mon + 1,
                     tm_utc.tm_mday, tm_utc.tm_hour, tm_utc.tm_min, tm_utc.tm_sec, int(unix_ms % 1000));
}

}  // namespace modelhub
