#pragma once
// A counter written by one thread (its worker) and read by another (the scrape).
// The add is a plain load and store, not a locked read-modify-write: with a single
// writer nothing is lost, and the hot path pays no bus lock. Readers may see a value
// a moment old, which a scrape does not mind.

#include <atomic>
#include <cstdint>

namespace vmsgate::metrics {

class local_counter {
 public:
  void add(std::uint64_t n = 1) noexcept { value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void sub(std::uint64_t n = 1) noexcept { value_.store(value_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
  std::uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

}  // namespace vmsgate::metrics
