#include "proxy/net/backoff.hpp"

#include <algorithm>

namespace vmsgate::net_io {

backoff::backoff(std::size_t backends, clock::duration initial, clock::duration max)
    : state_(backends), initial_(initial), max_(max) {}

bool backoff::backing_off(std::size_t backend, clock::time_point now) const { return now < state_[backend].retry_at; }

std::vector<std::size_t> backoff::order(clock::time_point now) const {
  std::vector<std::size_t> out;
  out.reserve(state_.size());
  for (std::size_t i = 0; i < state_.size(); ++i)
    if (!backing_off(i, now)) out.push_back(i);
  for (std::size_t i = 0; i < state_.size(); ++i)
    if (backing_off(i, now)) out.push_back(i);
  return out;
}

void backoff::succeeded(std::size_t backend) { state_[backend] = entry{}; }

void backoff::failed(std::size_t backend, clock::time_point now) {
  entry& e = state_[backend];
  e.delay = e.delay == clock::duration::zero() ? initial_ : std::min(e.delay * 2, max_);
  e.retry_at = now + e.delay;
}

}  // namespace vmsgate::net_io
