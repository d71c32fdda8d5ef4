#include "common/time_util.h"

#include <gtest/gtest.h>

namespace modelhub {
namespace {

TEST(TimeUtil, ParseIsoTimeMsInvertsIsoTimeMs) {
  for (int64_t ms : {int64_t(0), int64_t(951782400123), int64_t(1784003038063), int64_t(4102444799999)}) {
    EXPECT_EQ(ParseIsoTimeMs(IsoTimeMs(ms)), ms) << IsoTimeMs(ms);
  }
  EXPECT_EQ(ParseIsoTimeMs("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseIsoTimeMs("2000-02-29T00:00:00.1Z"), 951782400100);
  EXPECT_EQ(ParseIsoTimeMs("2000-02-29T00:00:00.123456789Z"), 951782400123);  // cut, not rounded
  EXPECT_EQ(ParseIsoTimeMs("1969-12-31T23:59:59.000Z"), -1000);
}

TEST(TimeUtil, ParseIsoTimeMsRejectsWhatIsNotOneUtcInstant) {
  for (const char* s : {"", "2026-01-01", "2026-01-01T00:00:00", "2026-01-01T00:00:00+01:00", "2026-01-01 00:00:00Z",
                        "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z", "2026-01-01T24:00:00Z",
                        "2026-01-01T00:60:00Z", "2026-01-01T00:00:60Z", "2026-01-01T00:00:00.Z",
                        "2026-01-01T00:00:00.1234567890Z", "2026-01-01T00:00:00,1Z", "2026-01-0aT00:00:00Z",
                        "+026-01-01T00:00:00Z", "2026-01-01T00:00:00.-1Z"}) {
    EXPECT_EQ(ParseIsoTimeMs(s), std::nullopt) << s;
  }
}

}  // namespace
}  // namespace modelhub
