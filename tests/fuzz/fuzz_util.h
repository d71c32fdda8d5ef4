// Helpers shared by the libFuzzer targets in tests/fuzz/.
//
// FUZZ_CHECK reports a broken invariant and aborts, whatever the build type,
// so libFuzzer saves the input as a crash artifact. It is for harness code
// only: product code never asserts on request data (docs/architecture.md).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace modelhub::fuzz {

// s with non-printable bytes escaped (\n, \xNN), at most max_bytes of it.
inline std::string Quote(std::string_view s, size_t max_bytes = 300) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < max_bytes; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\\' || c == '"') {
      out += '\\';
      out += char(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += char(c);
    }
  }
  if (s.size() > max_bytes) out += fmt::format("...\" ({} bytes)", s.size());
  else out += '"';
  return out;
}

[[noreturn]] inline void Fail(const char* file, int line, const char* cond, const std::string& detail) {
  std::fprintf(stderr, "\nFUZZ_CHECK failed at %s:%d: %s\n  %s\n", file, line, cond, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace modelhub::fuzz

// FUZZ_CHECK(condition, fmt-format-string, args...)
#define FUZZ_CHECK(cond, ...)                                                            \
  do {                                                                                   \
    if (!(cond)) ::modelhub::fuzz::Fail(__FILE__, __LINE__, #cond, fmt::format(__VA_ARGS__)); \
  } while (0)
