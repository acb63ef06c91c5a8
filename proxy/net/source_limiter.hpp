#pragma once
// The per-client-address cap on concurrent TLS handshakes
// (limits.max_handshakes_per_source), so that one noisy or hostile address cannot
// take every handshake slot a site's cameras need.
//
// One limiter is shared by all workers. It is touched twice per connection, when
// the handshake starts and when it ends, never per buffer, so a mutex around a small
// map costs nothing measurable; the map holds only addresses with a handshake in
// progress, so it stays as small as the number of concurrent handshakes.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "proxy/common/asio.hpp"

namespace vmsgate::net_io {

class source_limiter {
 public:
  // What a caller holds for the length of one handshake. Destroying (or resetting)
  // a granted permit gives the slot back; a refused one holds nothing.
  class permit {
   public:
    permit() = default;
    ~permit() { reset(); }
    permit(permit&& other) noexcept;
    permit& operator=(permit&& other) noexcept;
    permit(const permit&) = delete;
    permit& operator=(const permit&) = delete;

    explicit operator bool() const noexcept { return granted_; }
    void reset() noexcept;

   private:
    friend class source_limiter;
    source_limiter* owner_ = nullptr;  // set only when a slot was counted in the map
    net::ip::address source_;
    bool granted_ = false;
  };

  // 0 means unlimited: every permit is granted without taking the lock.
  explicit source_limiter(std::uint64_t max_per_source = 0) noexcept : limit_(max_per_source) {}
  source_limiter(const source_limiter&) = delete;
  source_limiter& operator=(const source_limiter&) = delete;

  // Thread-safe. A new limit applies to handshakes that start afterwards; permits
  // already granted are released correctly whatever the limit became.
  void set_limit(std::uint64_t max_per_source) noexcept { limit_.store(max_per_source, std::memory_order_relaxed); }
  std::uint64_t limit() const noexcept { return limit_.load(std::memory_order_relaxed); }

  // At handshake start. An IPv4-mapped IPv6 address counts as its IPv4 address, so
  // a dual-stack listener cannot be used to double a client's share.
  permit acquire(const net::ip::address& source);

  // Addresses with at least one handshake in progress (for tests and metrics).
  std::size_t tracked_sources() const;
  // Handshakes in progress from `source` that count against the limit.
  std::uint64_t in_progress(const net::ip::address& source) const;

 private:
  void release(const net::ip::address& source) noexcept;

  std::atomic<std::uint64_t> limit_;
  mutable std::mutex mutex_;
  std::unordered_map<net::ip::address, std::uint64_t> counts_;
};

}  // namespace vmsgate::net_io
