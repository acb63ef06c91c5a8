// Failover that remembers (issue 3): the order in which a route's backends are tried,
// driven by a fake clock, since the back-off is pure and takes the time as a value.

#include "proxy/net/backoff.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace vmsgate::net_io {
namespace {

using namespace std::chrono_literals;
using order_t = std::vector<std::size_t>;

// A fake clock: a fixed, arbitrary starting point moved on by hand.
struct fake_clock {
  backoff::clock::time_point now = backoff::clock::time_point{} + 1000h;
  void advance(backoff::clock::duration d) { now += d; }
};

TEST(Backoff, FreshBackendsAreTriedInPriorityOrder) {
  backoff b(3);
  fake_clock c;
  EXPECT_EQ(b.order(c.now), (order_t{0, 1, 2}));
  for (std::size_t i = 0; i < 3; ++i) EXPECT_FALSE(b.backing_off(i, c.now));
}

TEST(Backoff, FailedPrimaryIsSkippedUntilItsBackoffPasses) {
  backoff b(2, 1s, 30s);
  fake_clock c;
  b.failed(0, c.now);
  EXPECT_TRUE(b.backing_off(0, c.now));
  EXPECT_EQ(b.order(c.now), (order_t{1, 0}));
  c.advance(999ms);
  EXPECT_EQ(b.order(c.now), (order_t{1, 0})) << "still backing off just before the delay";
  c.advance(1ms);
  EXPECT_FALSE(b.backing_off(0, c.now));
  EXPECT_EQ(b.order(c.now), (order_t{0, 1})) << "retried in its place once the back-off has passed";
}

TEST(Backoff, FailoverInTheMiddleKeepsTheOthersInOrder) {
  backoff b(4);
  fake_clock c;
  b.failed(1, c.now);
  EXPECT_EQ(b.order(c.now), (order_t{0, 2, 3, 1}));
}

TEST(Backoff, DelayGrowsAndCaps) {
  backoff b(1, 1s, 30s);
  fake_clock c;
  const std::vector<backoff::clock::duration> expected{1s, 2s, 4s, 8s, 16s, 30s, 30s, 30s};
  for (const auto d : expected) {
    // Each retry happens once the previous back-off has passed, and fails again.
    b.failed(0, c.now);
    EXPECT_EQ(b.current_delay(0), d);
    EXPECT_TRUE(b.backing_off(0, c.now + d - 1ms));
    EXPECT_FALSE(b.backing_off(0, c.now + d));
    c.advance(d);
  }
}

TEST(Backoff, CapBelowTwiceTheInitialDelayHolds) {
  backoff b(1, 300ms, 500ms);
  fake_clock c;
  b.failed(0, c.now);
  EXPECT_EQ(b.current_delay(0), 300ms);
  b.failed(0, c.now);
  EXPECT_EQ(b.current_delay(0), 500ms);
  b.failed(0, c.now);
  EXPECT_EQ(b.current_delay(0), 500ms);
}

TEST(Backoff, SuccessClearsTheBackoffAndTheGrowth) {
  backoff b(2, 1s, 30s);
  fake_clock c;
  b.failed(0, c.now);
  b.failed(0, c.now);
  b.failed(0, c.now);
  EXPECT_EQ(b.current_delay(0), 4s);
  b.succeeded(0);
  EXPECT_FALSE(b.backing_off(0, c.now));
  EXPECT_EQ(b.current_delay(0), backoff::clock::duration::zero());
  EXPECT_EQ(b.order(c.now), (order_t{0, 1}));
  // The next failure starts over from the initial delay.
  b.failed(0, c.now);
  EXPECT_EQ(b.current_delay(0), 1s);
}

TEST(Backoff, AllBackingOffAreStillTriedInPriorityOrder) {
  backoff b(3, 1s, 30s);
  fake_clock c;
  // Failed in reverse order, with different delays: the order stays by priority.
  b.failed(2, c.now);
  b.failed(1, c.now);
  b.failed(1, c.now);
  b.failed(0, c.now);
  b.failed(0, c.now);
  b.failed(0, c.now);
  EXPECT_EQ(b.order(c.now), (order_t{0, 1, 2}));
  for (std::size_t i = 0; i < 3; ++i) EXPECT_TRUE(b.backing_off(i, c.now));
  // The one whose back-off passes first goes ahead of those still backing off.
  c.advance(1s);
  EXPECT_EQ(b.order(c.now), (order_t{2, 0, 1}));
  c.advance(1s);
  EXPECT_EQ(b.order(c.now), (order_t{1, 2, 0}));
  c.advance(2s);
  EXPECT_EQ(b.order(c.now), (order_t{0, 1, 2}));
}

TEST(Backoff, FailuresOfOneBackendDoNotTouchAnother) {
  backoff b(2, 1s, 30s);
  fake_clock c;
  b.failed(0, c.now);
  b.failed(0, c.now);
  EXPECT_EQ(b.current_delay(1), backoff::clock::duration::zero());
  b.failed(1, c.now);
  EXPECT_EQ(b.current_delay(1), 1s);
  EXPECT_EQ(b.current_delay(0), 2s);
}

TEST(Backoff, RouteWithOneBackendAlwaysTriesIt) {
  backoff b(1);
  fake_clock c;
  b.failed(0, c.now);
  EXPECT_EQ(b.order(c.now), (order_t{0}));
}

}  // namespace
}  // namespace vmsgate::net_io
