#pragma once
// A histogram written by one worker and read by the scrape, like local_counter: no
// locked instruction on the hot path. Bucket bounds are fixed when it is built.

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

#include "proxy/metrics/local_counter.hpp"

namespace vmsgate::metrics {

class local_histogram {
 public:
  // `bounds` are the buckets' upper bounds in seconds, ascending; +Inf is implied.
  explicit local_histogram(std::span<const double> bounds);

  void observe(double seconds) noexcept;

  std::span<const double> bounds() const noexcept { return bounds_; }
  // Non-cumulative count of bucket i; i == bounds().size() is the +Inf bucket.
  std::uint64_t bucket(std::size_t i) const noexcept { return buckets_[i].get(); }
  std::uint64_t count() const noexcept { return count_.get(); }
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }

 private:
  std::span<const double> bounds_;
  std::vector<local_counter> buckets_;
  local_counter count_;
  std::atomic<double> sum_{0.0};
};

// Bucket layouts that fit the work (CONTRACT.md, issue 5).
namespace buckets {
// 0.25 ms to 10 s: a resumed handshake on loopback to a full RSA one across a WAN.
extern const std::vector<double> handshake;
// 1 s to 24 h: a probe to a day-long video stream.
extern const std::vector<double> connection;
// 0.1 ms to 5 s: a local backend to the default connect timeout.
extern const std::vector<double> backend_connect;
}  // namespace buckets

}  // namespace vmsgate::metrics
