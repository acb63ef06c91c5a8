// The table of end reasons (proxy/net/end_reason.hpp) against the `end` table of
// docs/logs.md, which operators read: every name the gateway can log is documented,
// and every documented one exists.

#include "proxy/net/end_reason.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace vmsgate::net_io {
namespace {

std::set<std::string> documented_ends() {
  std::ifstream in(std::string(VMSGATE_SOURCE_DIR) + "/docs/logs.md");
  std::set<std::string> out;
  std::string line;
  bool in_table = false;
  while (std::getline(in, line)) {
    if (line.rfind("| end | level |", 0) == 0) {
      in_table = true;
      continue;
    }
    if (!in_table) continue;
    if (line.empty() || line[0] != '|') break;
    const std::string first = line.substr(1, line.find('|', 1) - 1);
    static const std::regex name("`([a-z_]+)`");
    for (std::sregex_iterator it(first.begin(), first.end(), name), end; it != end; ++it) out.insert((*it)[1]);
  }
  return out;
}

TEST(EndReason, EveryNameIsDocumentedAndEveryDocumentedNameExists) {
  const std::set<std::string> documented = documented_ends();
  ASSERT_FALSE(documented.empty()) << "no `end` table found in docs/logs.md";
  std::set<std::string> named;
  for (const std::string_view n : end_reason_names) named.emplace(n);
  EXPECT_EQ(named, documented);
}

TEST(EndReason, NamesAreUniqueAndRoundTrip) {
  for (std::size_t i = 0; i < end_reason_names.size(); ++i) {
    const auto r = static_cast<end_reason>(i);
    EXPECT_EQ(end_reason_named(name(r)), r) << name(r);
  }
  EXPECT_FALSE(end_reason_named("no_such_end").has_value());
}

// log.connections: errors leaves out exactly the ends docs/logs.md lists as such.
TEST(EndReason, OnlyOrderlyEndsCountAsEndedWell) {
  std::set<std::string> well;
  for (std::size_t i = 0; i < end_reason_names.size(); ++i) {
    if (ended_well(static_cast<end_reason>(i))) well.emplace(end_reason_names[i]);
  }
  EXPECT_EQ(well, (std::set<std::string>{"client_closed", "backend_closed", "client_reset", "backend_reset",
                                         "closed_before_handshake"}));
}

}  // namespace
}  // namespace vmsgate::net_io
