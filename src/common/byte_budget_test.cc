#include "common/byte_budget.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace modelhub {

using std::chrono::milliseconds;

TEST(ByteBudget, LeasesShareTheCapacity) {
  ByteBudget b(100);
  auto a = b.NewLease();
  auto c = b.NewLease();
  ASSERT_TRUE(a.GrowTo(60, milliseconds(0)).ok());
  EXPECT_EQ(b.in_use(), 60);
  Status s = c.GrowTo(50, milliseconds(20));
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_TRUE(s.retryable());
  EXPECT_EQ(c.held(), 0);
  ASSERT_TRUE(c.GrowTo(40, milliseconds(0)).ok());
  EXPECT_EQ(b.in_use(), 100);
  a.ShrinkTo(10);
  EXPECT_EQ(b.in_use(), 50);
  EXPECT_EQ(b.NewLease().GrowTo(101, milliseconds(0)).code(), Code::kTooLarge);
  {
    ByteBudget::Lease moved = std::move(c);
    EXPECT_EQ(moved.held(), 40);
  }
  EXPECT_EQ(b.in_use(), 10);
}

TEST(ByteBudget, SmallLeasesLeaveRoomForOneLargeOne) {
  ByteBudget b(100);
  std::vector<ByteBudget::Lease> small;
  for (int i = 0; i < 10; ++i) {
    small.push_back(b.NewLease());
    Status s = small.back().GrowTo(10, milliseconds(0), /*reserve=*/60);
    EXPECT_EQ(s.ok(), i < 4) << i;
  }
  EXPECT_EQ(b.in_use(), 40);
  // One of the small ones grows to a large lease: granted at once.
  EXPECT_TRUE(small[0].GrowTo(70, milliseconds(0)).ok());
  EXPECT_EQ(b.in_use(), 100);
}

TEST(ByteBudget, AWaitingLeaseGetsWhatAnotherGivesBack) {
  ByteBudget b(100);
  auto a = b.NewLease();
  ASSERT_TRUE(a.GrowTo(100, milliseconds(0)).ok());
  std::thread t([&] {
    std::this_thread::sleep_for(milliseconds(50));
    a.ShrinkTo(0);
  });
  auto c = b.NewLease();
  EXPECT_TRUE(c.GrowTo(70, milliseconds(10000)).ok());
  t.join();
  EXPECT_EQ(b.in_use(), 70);
}

}  // namespace modelhub
