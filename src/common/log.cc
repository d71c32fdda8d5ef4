#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

#include "common/time_util.h"

namespace modelhub {

namespace {
std::atomic<int> g_level{int(LogLevel::kInfo)};
const char* LevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "?";
}
}  // namespace

void SetLogLevel(LogLevel level) { g_level = int(level); }
bool LogEnabled(LogLevel level) { return int(level) >= g_level.load(std::memory_order_relaxed); }

void LogLine(LogLevel level, std::string_view msg) {
  std::string line = IsoTimeMs(NowMs());
  line += ' ';
  line += LevelName(level);
  line += ' ';
  line += msg;
  line += '\n';
  [[maybe_unused]] ssize_t n = ::write(2, line.data(), line.size());
}

}  // namespace modelhub
