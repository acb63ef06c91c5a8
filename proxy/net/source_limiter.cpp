#include "proxy/net/source_limiter.hpp"

#include <algorithm>
#include <utility>

namespace vmsgate::net_io {
namespace {

// Keeps the first `prefix` bits of `bytes` and zeroes the rest.
template <typename Bytes>
Bytes masked(Bytes bytes, unsigned prefix) noexcept {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const unsigned first_bit = static_cast<unsigned>(i) * 8;
    if (prefix >= first_bit + 8) continue;
    const unsigned keep = prefix > first_bit ? prefix - first_bit : 0;
    bytes[i] = static_cast<unsigned char>(bytes[i] & (0xffu << (8 - keep)));
  }
  return bytes;
}

}  // namespace

void source_limiter::set_prefixes(unsigned v4_prefix, unsigned v6_prefix) noexcept {
  v4_prefix_.store(std::min(v4_prefix, 32u), std::memory_order_relaxed);
  v6_prefix_.store(std::min(v6_prefix, 128u), std::memory_order_relaxed);
}

net::ip::address source_limiter::source_of(const net::ip::address& address) const noexcept {
  if (address.is_v4()) {
    return net::ip::address_v4(masked(address.to_v4().to_bytes(), v4_prefix_.load(std::memory_order_relaxed)));
  }
  const auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) {
    const auto v4 = net::ip::make_address_v4(net::ip::v4_mapped, v6);
    return net::ip::address_v4(masked(v4.to_bytes(), v4_prefix_.load(std::memory_order_relaxed)));
  }
  // The scope id is dropped with the host bits: fe80::1%eth0 and fe80::1%eth1 share
  // a /64 as far as this cap is concerned.
  return net::ip::address_v6(masked(v6.to_bytes(), v6_prefix_.load(std::memory_order_relaxed)));
}

source_limiter::permit::permit(permit&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      source_(other.source_),
      granted_(std::exchange(other.granted_, false)) {}

source_limiter::permit& source_limiter::permit::operator=(permit&& other) noexcept {
  if (this != &other) {
    reset();
    owner_ = std::exchange(other.owner_, nullptr);
    source_ = other.source_;
    granted_ = std::exchange(other.granted_, false);
  }
  return *this;
}

void source_limiter::permit::reset() noexcept {
  if (owner_ != nullptr) owner_->release(source_);
  owner_ = nullptr;
  granted_ = false;
}

source_limiter::permit source_limiter::acquire(const net::ip::address& source) {
  permit p;
  const std::uint64_t limit = limit_.load(std::memory_order_relaxed);
  if (limit == 0) {
    p.granted_ = true;  // uncounted: nothing to give back
    return p;
  }
  const auto key = source_of(source);
  std::lock_guard lock(mutex_);
  auto& count = counts_[key];
  if (count >= limit) {
    // operator[] inserted a zero for a first-time source only when limit is 0,
    // which returned above; a refused source always already has an entry.
    return p;
  }
  ++count;
  p.owner_ = this;
  p.source_ = key;
  p.granted_ = true;
  return p;
}

void source_limiter::release(const net::ip::address& source) noexcept {
  std::lock_guard lock(mutex_);
  const auto it = counts_.find(source);
  if (it == counts_.end()) return;
  // Forget an address as soon as it has nothing in progress: the map is bounded by
  // concurrent handshakes, not by every address ever seen.
  if (--it->second == 0) counts_.erase(it);
}

std::size_t source_limiter::tracked_sources() const {
  std::lock_guard lock(mutex_);
  return counts_.size();
}

std::uint64_t source_limiter::in_progress(const net::ip::address& source) const {
  std::lock_guard lock(mutex_);
  const auto it = counts_.find(source_of(source));
  return it == counts_.end() ? 0 : it->second;
}

}  // namespace vmsgate::net_io
