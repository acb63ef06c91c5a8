#pragma once
// The per-client-address cap on concurrent TLS handshakes
// (limits.max_handshakes_per_source), so that one noisy or hostile address cannot
// take every handshake slot a site's cameras need.
//
// One limiter is shared by all workers. It is touched twice per connection, when
// the handshake starts and when it ends, never per buffer, so a mutex around a small
// map costs nothing measurable; the map holds only addresses with a handshake in
// progress, so it stays as small as the number of concurrent handshakes.
//
// A "source" is an address prefix, not an address: one IPv6 customer is usually
// given a whole /64 (2^64 addresses), so counting single IPv6 addresses would cap
// nothing. IPv6 sources are keyed by their first `v6_prefix` bits (64 unless
// limits.source_prefix_v6 says otherwise), IPv4 by their first `v4_prefix` (32).

#include <algorithm>
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

  static constexpr unsigned default_v4_prefix = 32;
  static constexpr unsigned default_v6_prefix = 64;

  // 0 means unlimited: every permit is granted without taking the lock.
  explicit source_limiter(std::uint64_t max_per_source = 0, unsigned v4_prefix = default_v4_prefix,
                          unsigned v6_prefix = default_v6_prefix) noexcept
      : limit_(max_per_source), v4_prefix_(std::min(v4_prefix, 32u)), v6_prefix_(std::min(v6_prefix, 128u)) {}
  source_limiter(const source_limiter&) = delete;
  source_limiter& operator=(const source_limiter&) = delete;

  // Thread-safe. A new limit applies to handshakes that start afterwards; permits
  // already granted are released correctly whatever the limit became.
  void set_limit(std::uint64_t max_per_source) noexcept { limit_.store(max_per_source, std::memory_order_relaxed); }
  std::uint64_t limit() const noexcept { return limit_.load(std::memory_order_relaxed); }
  // Thread-safe, like set_limit: prefixes apply to handshakes that start afterwards
  // (a permit remembers the key it was counted under). Clamped to 32 and 128.
  void set_prefixes(unsigned v4_prefix, unsigned v6_prefix) noexcept;

  // The key `source` is counted under: its prefix, with the host bits zeroed.
  net::ip::address source_of(const net::ip::address& address) const noexcept;

  // At handshake start. An IPv4-mapped IPv6 address counts as its IPv4 address, so
  // a dual-stack listener cannot be used to double a client's share.
  permit acquire(const net::ip::address& source);

  // Addresses with at least one handshake in progress (for tests and metrics).
  std::size_t tracked_sources() const;
  // Handshakes in progress from the source (prefix) of `address`.
  std::uint64_t in_progress(const net::ip::address& source) const;

 private:
  void release(const net::ip::address& source) noexcept;

  std::atomic<std::uint64_t> limit_;
  std::atomic<unsigned> v4_prefix_;
  std::atomic<unsigned> v6_prefix_;
  mutable std::mutex mutex_;
  std::unordered_map<net::ip::address, std::uint64_t> counts_;
};

}  // namespace vmsgate::net_io
