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

std::optional<int64_t> ParseIsoTimeMs(std::string_view s) {
  // Reads n decimal digits at s[at...] (the caller checked the length).
  auto digits = [&](size_t at, size_t n) -> std::optional<int> {
    int v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s.back() != 'Z') {
    return std::nullopt;
  }
  auto year = digits(0, 4), month = digits(5, 2), day = digits(8, 2);
  auto hour = digits(11, 2), minute = digits(14, 2), second = digits(17, 2);
  if (!year || !month || !day || !hour || !minute || !second || *hour > 23 || *minute > 59 || *second > 59) {
    return std::nullopt;
  }
  int ms = 0;
  if (s.size() > 20) {
    // ".f" to ".fffffffff" between the seconds and the 'Z'.
    size_t n = s.size() - 21;
    if (s[19] != '.' || n < 1 || n > 9) return std::nullopt;
    auto frac = digits(20, n);
    if (!frac) return std::nullopt;
    ms = *frac;
    for (size_t i = n; i < 3; ++i) ms *= 10;
    for (size_t i = 3; i < n; ++i) ms /= 10;
  }
  using namespace std::chrono;
  year_month_day date{std::chrono::year(*year), std::chrono::month(unsigned(*month)), std::chrono::day(unsigned(*day))};
  if (!date.ok()) return std::nullopt;
  int64_t days = sys_days(date).time_since_epoch().count();
  return ((days * 24 + *hour) * 60 + *minute) * 60000 + int64_t(*second) * 1000 + ms;
}

}  // namespace modelhub
