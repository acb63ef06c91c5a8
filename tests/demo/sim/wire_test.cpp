// The simulators' small parsers: a request's query numbers.

#include <gtest/gtest.h>

#include "demo/sim/wire.hpp"

namespace vmsgate::test {
namespace {

TEST(SimWire, QueryNumberTellsAbsentFromMalformed) {
  EXPECT_EQ(sim::query_number("/live", "camera", 1), 1u);
  EXPECT_EQ(sim::query_number("/live?other=3", "camera", 1), 1u);
  EXPECT_EQ(sim::query_number("/live?cameras=3", "camera", 1), 1u);
  EXPECT_EQ(sim::query_number("/live?camera=3", "camera", 1), 3u);
  EXPECT_EQ(sim::query_number("/live?x=1&camera=12&y", "camera", 1), 12u);
  EXPECT_EQ(sim::query_number("/live?camera=4294967297", "camera", 1), 4294967297u);
  for (const char* bad : {"/live?camera=", "/live?camera=abc", "/live?camera=2x", "/live?camera=-1",
                          "/live?camera=99999999999999999999999"})
    EXPECT_FALSE(sim::query_number(bad, "camera", 1)) << bad;
}

}  // namespace
}  // namespace vmsgate::test
