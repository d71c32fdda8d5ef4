// fuzz_range: ParseRange (net/http.h), the Range header of resolve/raw and of
// signed LFS downloads, against any body size.
//
// Input: "<size>\n<header text>". A first line that is not a non-negative
// integer makes the size its own length, so every input is used. Bodies are
// never negative in modelhub (blob sizes, LFS pointer sizes), so neither is size.
//
// Checks: a returned range satisfies 0 <= first <= last < size; errors are
// RangeNotSatisfiable; multi-range and other units are "serve whole"; and a
// plain single range ("bytes=A-B", "bytes=A-", "bytes=-N") gives exactly the
// RFC 7233 answer.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/strings.h"
#include "fuzz_util.h"
#include "net/http.h"

namespace modelhub {
namespace {

bool AllDigits(std::string_view s) {
  if (s.empty() || s.size() > 18) return false;  // 18 digits always fit in int64
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// The expected answer for a strict single-range header, or nothing if the
// header is not one (then only the invariants are checked).
// nullopt inside: RangeNotSatisfiable expected.
std::optional<std::optional<ByteRange>> Reference(std::string_view h, int64_t size) {
  if (h.rfind("bytes=", 0) != 0) return std::nullopt;
  std::string_view spec = h.substr(6);
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
  if (a.empty()) {  // suffix
    if (!AllDigits(b)) return std::nullopt;
    int64_t n = *ParseInt64(b);
    if (n == 0 || size == 0) return std::optional<std::optional<ByteRange>>(std::optional<ByteRange>());
    return std::optional<std::optional<ByteRange>>(ByteRange{size > n ? size - n : 0, size - 1});
  }
  if (!AllDigits(a) || !(b.empty() || AllDigits(b))) return std::nullopt;
  int64_t first = *ParseInt64(a);
  if (!b.empty() && *ParseInt64(b) < first) return std::nullopt;  // invalid spec: left to the implementation
  if (first >= size) return std::optional<std::optional<ByteRange>>(std::optional<ByteRange>());
  int64_t last = b.empty() ? size - 1 : std::min(*ParseInt64(b), size - 1);
  return std::optional<std::optional<ByteRange>>(ByteRange{first, last});
}

}  // namespace
}  // namespace modelhub

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t len) {
  using namespace modelhub;
  using fuzz::Quote;
  std::string_view in(reinterpret_cast<const char*>(data), len);
  auto nl = in.find('\n');
  std::string_view first_line = in.substr(0, nl);
  std::string_view header = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  auto parsed_size = ParseInt64(first_line);
  int64_t size = parsed_size && *parsed_size >= 0 ? *parsed_size : int64_t(first_line.size());

  auto r = ParseRange(header, size);
  if (!r.ok()) {
    FUZZ_CHECK(r.status().code() == Code::kRangeNotSatisfiable, "header {} size {}: unexpected error {}",
               Quote(header), size, r.status().ToString());
  } else if (r->has_value()) {
    const ByteRange& br = **r;
    FUZZ_CHECK(0 <= br.first && br.first <= br.last && br.last < size, "header {} size {}: range {}-{}",
               Quote(header), size, br.first, br.last);
  }

  std::string trimmed = Trim(header);
  if (trimmed.rfind("bytes=", 0) != 0) {
    FUZZ_CHECK(r.ok() && !r->has_value(), "header {} is not a bytes range but was not ignored", Quote(header));
  } else if (trimmed.find(',') != std::string::npos) {
    FUZZ_CHECK(r.ok() && !r->has_value(), "multi-range header {} was not served whole", Quote(header));
  }

  if (auto want = Reference(header, size)) {
    if (!want->has_value()) {
      FUZZ_CHECK(!r.ok(), "header {} size {}: expected 416", Quote(header), size);
    } else {
      FUZZ_CHECK(r.ok() && r->has_value() && (*r)->first == (*want)->first && (*r)->last == (*want)->last,
                 "header {} size {}: expected {}-{}, got {}", Quote(header), size, (*want)->first, (*want)->last,
                 !r.ok() ? r.status().ToString()
                         : r->has_value() ? fmt::format("{}-{}", (*r)->first, (*r)->last) : std::string("whole"));
    }
  }
  return 0;
}
