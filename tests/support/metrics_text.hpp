#pragma once
// Reading the Prometheus text format in tests: one sample's value, or a family's
// samples summed, without a full parser.

#include <optional>
#include <string>
#include <string_view>

namespace vmsgate::test {

// The value of the sample whose series is exactly `series` (the name and the
// label set as written, e.g. `vmsgate_connections_total{route="rec"}`).
std::optional<double> sample(std::string_view text, std::string_view series);

// The sum of every sample of metric `name` (exact name, any labels) whose label
// text contains `label_filter` (e.g. `route="rec"`; empty: all of them).
double sum_samples(std::string_view text, std::string_view name, std::string_view label_filter = {});

// Fetches /metrics from the admin port; empty on failure.
std::string scrape(std::uint16_t admin_port);

}  // namespace vmsgate::test
