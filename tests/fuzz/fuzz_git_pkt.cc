// fuzz_git_pkt: api/git_pkt.h — RedactPushResult over arbitrary bytes (git's push output is trusted,
// but the function must hold for anything). Invariants: either nullopt, or a well-framed result that
// redacting again leaves unchanged, no larger than the input plus one length field per packet.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/git_pkt.h"
#include "fuzz_util.h"

using namespace modelhub;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t len) {
  std::string_view in(reinterpret_cast<const char*>(data), len);
  auto out = RedactPushResult(in);
  if (!out) return 0;
  auto again = RedactPushResult(*out);
  FUZZ_CHECK(again.has_value(), "the redacted output does not parse: {}", fuzz::Quote(*out));
  FUZZ_CHECK(*again == *out, "redacting twice changes the output: {} vs {}", fuzz::Quote(*out), fuzz::Quote(*again));
  return 0;
}
