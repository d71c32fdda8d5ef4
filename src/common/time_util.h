// Clock helpers. Thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace modelhub {

int64_t NowMs();
int64_t NowS();
// "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC), the date format every Hub client parses.
std::string IsoTimeMs(int64_t unix_ms);

}  // namespace modelhub
