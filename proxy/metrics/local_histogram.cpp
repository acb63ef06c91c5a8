#include "proxy/metrics/local_histogram.hpp"

#include <algorithm>

namespace vmsgate::metrics {

local_histogram::local_histogram(std::span<const double> bounds) : bounds_(bounds), buckets_(bounds.size() + 1) {}

void local_histogram::observe(double seconds) noexcept {
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), seconds);
  buckets_[static_cast<std::size_t>(it - bounds_.begin())].add();
  count_.add();
  sum_.store(sum_.load(std::memory_order_relaxed) + seconds, std::memory_order_relaxed);
}

namespace buckets {
const std::vector<double> handshake{0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                    0.05,    0.1,    0.25,  0.5,    1.0,   2.5,  5.0, 10.0};
const std::vector<double> connection{1, 10, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400};
const std::vector<double> backend_connect{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                          0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   2.5, 5.0};
}  // namespace buckets

}  // namespace vmsgate::metrics
