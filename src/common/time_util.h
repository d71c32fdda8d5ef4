// Clock helpers. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace modelhub {

int64_t NowMs();
int64_t NowS();
// "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC), the date format every Hub client parses.
std::string IsoTimeMs(int64_t unix_ms);
// The inverse, for timestamps from elsewhere (S3 listings): "YYYY-MM-DDTHH:MM:SS[.f...]Z" with 1 to 9
// fraction digits (cut to milliseconds), UTC only; nullopt for anything else, never an assertion.
std::optional<int64_t> ParseIsoTimeMs(std::string_view s);

}  // namespace modelhub
