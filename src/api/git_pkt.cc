#include "api/git_pkt.h"

#include <fmt/format.h>

#include "common/strings.h"

namespace modelhub {

namespace {

std::optional<size_t> PktLength(std::string_view hex4) {
  size_t n = 0;
  for (char c : hex4) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return std::nullopt;
    n = n * 16 + size_t(d);
  }
  return n;
}

}  // namespace

std::optional<std::string> RedactPushResult(std::string_view out) {
  constexpr size_t kMaxPkt = 65520;  // git's LARGE_PACKET_MAX
  std::string result;
  result.reserve(out.size());
  size_t i = 0;
  while (i < out.size()) {
    if (out.size() - i < 4) return std::nullopt;
    auto len = PktLength(out.substr(i, 4));
    if (!len) return std::nullopt;
    if (*len < 4) {  // flush, delim, response-end: no payload
      if (*len == 3) return std::nullopt;
      result.append(out.substr(i, 4));
      i += 4;
      continue;
    }
    if (*len > out.size() - i) return std::nullopt;
    std::string_view payload = out.substr(i + 4, *len - 4);
    i += *len;
    if (payload.empty() || (payload[0] != 2 && payload[0] != 3)) {
      result += fmt::format("{:04x}", payload.size() + 4);
      result.append(payload);
      continue;
    }
    std::string text = std::string(1, payload[0]) + RedactPaths(payload.substr(1));
    if (text.size() + 4 > kMaxPkt) text.resize(kMaxPkt - 4);
    result += fmt::format("{:04x}", text.size() + 4);
    result += text;
  }
  return result;
}

}  // namespace modelhub
