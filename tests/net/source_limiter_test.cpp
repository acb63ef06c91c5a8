// limits.max_handshakes_per_source: the limiter shared by every worker.

#include "proxy/net/source_limiter.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace vmsgate::net_io {
namespace {

const auto alice = net::ip::make_address("192.0.2.1");
const auto bob = net::ip::make_address("192.0.2.2");

TEST(SourceLimiter, UnlimitedGrantsEverythingAndTracksNothing) {
  source_limiter l;
  std::vector<source_limiter::permit> held;
  for (int i = 0; i < 1000; ++i) {
    held.push_back(l.acquire(alice));
    ASSERT_TRUE(held.back());
  }
  EXPECT_EQ(l.tracked_sources(), 0u);
}

TEST(SourceLimiter, RefusesBeyondTheCapPerAddressOnly) {
  source_limiter l(2);
  auto a1 = l.acquire(alice);
  auto a2 = l.acquire(alice);
  auto a3 = l.acquire(alice);
  EXPECT_TRUE(a1);
  EXPECT_TRUE(a2);
  EXPECT_FALSE(a3) << "a third concurrent handshake from one address";
  auto b1 = l.acquire(bob);
  EXPECT_TRUE(b1) << "another address is not starved by the first";
  EXPECT_EQ(l.in_progress(alice), 2u);
  EXPECT_EQ(l.in_progress(bob), 1u);
}

TEST(SourceLimiter, EndingAHandshakeFreesItsSlotAndForgetsIdleAddresses) {
  source_limiter l(1);
  {
    auto a = l.acquire(alice);
    ASSERT_TRUE(a);
    EXPECT_FALSE(l.acquire(alice));
    EXPECT_EQ(l.tracked_sources(), 1u);
  }
  EXPECT_EQ(l.tracked_sources(), 0u) << "the map must not grow with every address ever seen";
  auto again = l.acquire(alice);
  EXPECT_TRUE(again);
  again.reset();
  again.reset();  // twice is harmless
  EXPECT_EQ(l.in_progress(alice), 0u);
}

TEST(SourceLimiter, RefusedPermitReleasesNothing) {
  source_limiter l(1);
  auto a = l.acquire(alice);
  { auto refused = l.acquire(alice); }
  EXPECT_EQ(l.in_progress(alice), 1u) << "a refused permit gave back a slot it never had";
}

TEST(SourceLimiter, MovedPermitReleasesOnce) {
  source_limiter l(2);
  auto a = l.acquire(alice);
  source_limiter::permit b = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_TRUE(b);
  source_limiter::permit c;
  c = std::move(b);
  EXPECT_EQ(l.in_progress(alice), 1u);
  c = l.acquire(bob);  // assigning over a granted permit releases the old slot
  EXPECT_EQ(l.in_progress(alice), 0u);
  EXPECT_EQ(l.in_progress(bob), 1u);
}

TEST(SourceLimiter, V4MappedAddressCountsAsItsV4Address) {
  source_limiter l(1);
  auto a = l.acquire(alice);
  auto mapped = l.acquire(net::ip::make_address("::ffff:192.0.2.1"));
  EXPECT_FALSE(mapped) << "a dual-stack listener doubled one client's share";
  auto v6 = l.acquire(net::ip::make_address("2001:db8::1"));
  EXPECT_TRUE(v6);
}

TEST(SourceLimiter, LoweringTheLimitKeepsCountsRight) {
  source_limiter l(0);
  auto uncounted = l.acquire(alice);
  l.set_limit(1);
  auto counted = l.acquire(alice);
  EXPECT_TRUE(counted);
  EXPECT_FALSE(l.acquire(alice));
  uncounted.reset();  // granted while unlimited: must not free the counted slot
  EXPECT_EQ(l.in_progress(alice), 1u);
  l.set_limit(0);
  counted.reset();
  EXPECT_EQ(l.tracked_sources(), 0u);
}

// One IPv6 customer holds a whole /64: changing the last 64 bits must not buy more
// handshakes. (Before sources were keyed by prefix, all eight were granted.)
TEST(SourceLimiter, OneIpv6Slash64IsOneSource) {
  source_limiter l(2);
  std::vector<source_limiter::permit> held;
  int granted = 0;
  for (int i = 1; i <= 8; ++i) {
    held.push_back(l.acquire(net::ip::make_address("2001:db8:1:2::" + std::to_string(i))));
    granted += held.back() ? 1 : 0;
  }
  EXPECT_EQ(granted, 2) << "eight addresses of one /64 each got their own share";
  EXPECT_EQ(l.tracked_sources(), 1u);
  EXPECT_EQ(l.in_progress(net::ip::make_address("2001:db8:1:2:ffff:ffff:ffff:ffff")), 2u);
  EXPECT_TRUE(l.acquire(net::ip::make_address("2001:db8:1:3::1"))) << "the next /64 is another source";
  held.clear();
  EXPECT_EQ(l.tracked_sources(), 0u);
}

TEST(SourceLimiter, PrefixesAreConfigurable) {
  source_limiter l(1, 24, 128);
  auto a = l.acquire(net::ip::make_address("198.51.100.7"));
  ASSERT_TRUE(a);
  EXPECT_FALSE(l.acquire(net::ip::make_address("198.51.100.200"))) << "same /24";
  EXPECT_TRUE(l.acquire(net::ip::make_address("198.51.101.7"))) << "another /24";
  EXPECT_FALSE(l.acquire(net::ip::make_address("::ffff:198.51.100.9"))) << "v4-mapped counts as its IPv4 /24";
  auto b = l.acquire(net::ip::make_address("2001:db8::1"));
  EXPECT_TRUE(b);
  EXPECT_TRUE(l.acquire(net::ip::make_address("2001:db8::2"))) << "/128: one address is one source";

  // A reload changes the prefixes; a permit taken before gives back what it took,
  // under the key it was counted under.
  l.set_prefixes(16, 48);
  auto c = l.acquire(net::ip::make_address("198.51.0.1"));
  EXPECT_TRUE(c);
  EXPECT_FALSE(l.acquire(net::ip::make_address("198.51.200.1"))) << "same /16";
  a.reset();
  b.reset();
  c.reset();
  EXPECT_EQ(l.tracked_sources(), 0u);
  l.set_prefixes(99, 999);  // clamped, not undefined shifts
  EXPECT_EQ(l.source_of(net::ip::make_address("2001:db8::1")), net::ip::make_address("2001:db8::1"));
  EXPECT_EQ(l.source_of(net::ip::make_address("10.1.2.3")), net::ip::make_address("10.1.2.3"));
  l.set_prefixes(0, 0);
  EXPECT_EQ(l.source_of(net::ip::make_address("10.1.2.3")), net::ip::make_address("0.0.0.0"));
  EXPECT_EQ(l.source_of(net::ip::make_address("2001:db8::1")), net::ip::make_address("::"));
}

// Workers acquire and release concurrently; the count never exceeds the cap and
// ends at zero. Run under TSan in CI for the data race half of the claim.
TEST(SourceLimiter, ConcurrentWorkersNeverExceedTheCap) {
  constexpr std::uint64_t cap = 3;
  source_limiter l(cap);
  std::atomic<std::uint64_t> held{0};
  std::atomic<std::uint64_t> peak{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        auto p = l.acquire(alice);
        if (!p) continue;
        const auto now = held.fetch_add(1) + 1;
        auto seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
        held.fetch_sub(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(peak.load(), cap);
  EXPECT_EQ(l.tracked_sources(), 0u);
}

}  // namespace
}  // namespace vmsgate::net_io
