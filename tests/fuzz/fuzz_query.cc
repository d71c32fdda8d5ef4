// fuzz_query: the URL and base64 decoders (net/http.h ParseQueryString,
// common/strings.h UrlDecode, Base64Decode, Base64UrlDecode). They see query
// strings, path segments, form bodies (paths-info), base64 file contents of
// NDJSON commits and preupload samples.
//
// Input: any bytes, fed whole to every decoder. Checks round trips: whatever a
// decoder accepts, encoding it and decoding again gives the same bytes; and
// every byte string survives encode-then-decode.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/strings.h"
#include "fuzz_util.h"
#include "net/http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t len) {
  using namespace modelhub;
  using fuzz::Quote;
  std::string_view in(reinterpret_cast<const char*>(data), len);

  // Query strings: re-encoding the parsed pairs parses back to the same pairs.
  auto pairs = ParseQueryString(in);
  size_t amps = 0;
  for (char c : in) amps += c == '&';
  FUZZ_CHECK(pairs.size() <= amps + 1, "{}: {} pairs from {} '&'", Quote(in), pairs.size(), amps);
  std::string again;
  for (const auto& [k, v] : pairs) {
    if (!again.empty()) again += '&';
    again += UrlEncode(k) + "=" + UrlEncode(v);
  }
  auto pairs2 = ParseQueryString(again);
  FUZZ_CHECK(pairs2 == pairs, "query {} re-encoded as {} parses differently", Quote(in), Quote(again));

  // Percent-decoding, with and without form semantics.
  for (bool form : {false, true}) {
    auto d = UrlDecode(in, form);
    if (!d) continue;
    FUZZ_CHECK(d->size() <= in.size(), "UrlDecode({}) grew to {} bytes", Quote(in), d->size());
    for (bool keep_slash : {false, true}) {
      std::string enc = UrlEncode(*d, keep_slash);
      auto d2 = UrlDecode(enc, form);
      FUZZ_CHECK(d2 && *d2 == *d, "UrlDecode(UrlEncode(x)) != x for x = {} (encoded {})", Quote(*d), Quote(enc));
    }
  }
  {
    std::string enc = UrlEncode(in);
    auto d = UrlDecode(enc);
    FUZZ_CHECK(d && *d == in, "UrlDecode(UrlEncode(x)) != x for x = {}", Quote(in));
  }

  // Base64: standard (padded) and URL-safe (unpadded).
  if (auto d = Base64Decode(in)) {
    FUZZ_CHECK(d->size() <= in.size() * 3 / 4, "Base64Decode({}) gave {} bytes", Quote(in), d->size());
    std::string enc = Base64Encode(*d);
    auto d2 = Base64Decode(enc);
    FUZZ_CHECK(d2 && *d2 == *d, "Base64Decode(Base64Encode(x)) != x for x = {} (from {})", Quote(*d), Quote(in));
  }
  if (auto d = Base64UrlDecode(in)) {
    std::string enc = Base64UrlEncode(*d);
    auto d2 = Base64UrlDecode(enc);
    FUZZ_CHECK(d2 && *d2 == *d, "Base64UrlDecode(Base64UrlEncode(x)) != x for x = {} (from {})", Quote(*d),
               Quote(in));
  }
  {
    std::string enc = Base64Encode(in);
    FUZZ_CHECK(enc.size() == (in.size() + 2) / 3 * 4, "Base64Encode of {} bytes gave {} chars", in.size(),
               enc.size());
    auto d = Base64Decode(enc);
    FUZZ_CHECK(d && *d == in, "Base64Decode(Base64Encode(x)) != x for x = {}", Quote(in));
    std::string uenc = Base64UrlEncode(in);
    auto ud = Base64UrlDecode(uenc);
    FUZZ_CHECK(ud && *ud == in, "Base64UrlDecode(Base64UrlEncode(x)) != x for x = {}", Quote(in));
  }
  return 0;
}
