#include "proxy/net/backoff.hpp"

#include <algorithm>

namespace vmsgate::net_io {

backoff::backoff(std::size_t backends, clock::duration initial, clock::duration max)
    : size_(backends), state_(std::make_unique<entry[]>(backends)), initial_(initial), max_(max) {}

bool backoff::backing_off(std::size_t backend, clock::time_point now) const {
  return now.time_since_epoch().count() < state_[backend].retry_at.load(std::memory_order_relaxed);
}

backoff::clock::duration backoff::current_delay(std::size_t backend) const {
  return clock::duration(state_[backend].delay.load(std::memory_order_relaxed));
}

std::vector<std::size_t> backoff::order(clock::time_point now) const {
  std::vector<std::size_t> out;
  out.reserve(size_);
  for (std::size_t i = 0; i < size_; ++i)
    if (!backing_off(i, now)) out.push_back(i);
  for (std::size_t i = 0; i < size_; ++i)
    if (backing_off(i, now)) out.push_back(i);
  return out;
}

void backoff::succeeded(std::size_t backend) {
  entry& e = state_[backend];
  if (e.delay.load(std::memory_order_relaxed) == 0) return;  // the usual case: nothing to clear
  const std::lock_guard lock(changing_);
  e.delay.store(0, std::memory_order_relaxed);
  e.retry_at.store(0, std::memory_order_relaxed);
}

void backoff::failed(std::size_t backend, clock::time_point now) {
  entry& e = state_[backend];
  const std::lock_guard lock(changing_);
  const clock::duration previous(e.delay.load(std::memory_order_relaxed));
  const clock::duration delay = previous == clock::duration::zero() ? initial_ : std::min(previous * 2, max_);
  e.delay.store(delay.count(), std::memory_order_relaxed);
  e.retry_at.store((now + delay).time_since_epoch().count(), std::memory_order_relaxed);
}

}  // namespace vmsgate::net_io
