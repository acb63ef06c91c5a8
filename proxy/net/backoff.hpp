#pragma once
// Failover that remembers: a backend that refused or timed out is skipped for a
// short, growing back-off, so a dead primary does not cost every new connection a
// connect timeout. Once its back-off has passed it is tried again in its place in
// the priority order, and the first success clears it. Pure: time comes in as a
// parameter, so the order is tested with a fake clock.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace vmsgate::net_io {

class backoff {
 public:
  using clock = std::chrono::steady_clock;

  explicit backoff(std::size_t backends, clock::duration initial = std::chrono::seconds(1),
                   clock::duration max = std::chrono::seconds(30));

  // Backends to try now, best first: those not backing off in priority order, then,
  // so that a connection is never refused while some backend might answer, those
  // backing off in priority order.
  std::vector<std::size_t> order(clock::time_point now) const;

  void succeeded(std::size_t backend);
  void failed(std::size_t backend, clock::time_point now);

  bool backing_off(std::size_t backend, clock::time_point now) const;
  clock::duration current_delay(std::size_t backend) const;

 private:
  // Times as counts of clock ticks since the clock's epoch; zero: never failed.
  struct entry {
    std::atomic<clock::rep> retry_at{0};
    std::atomic<clock::rep> delay{0};
  };
  std::size_t size_;
  std::unique_ptr<entry[]> state_;
  clock::duration initial_;
  clock::duration max_;
  std::mutex changing_;
};

}  // namespace vmsgate::net_io
