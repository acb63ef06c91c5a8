#include "proxy/net/source_limiter.hpp"

#include <utility>

namespace vmsgate::net_io {
namespace {

net::ip::address normalised(const net::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6());
  return a;
}

}  // namespace

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
  const auto key = normalised(source);
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
  const auto it = counts_.find(normalised(source));
  return it == counts_.end() ? 0 : it->second;
}

}  // namespace vmsgate::net_io
