#include "proxy/net/buffer_pool.hpp"

namespace vmsgate::net_io {

buffer_pool::lease buffer_pool::take() {
  ++outstanding_;
  if (free_.empty()) return lease(*this, std::unique_ptr<std::byte[]>(new std::byte[buffer_size]));
  auto b = std::move(free_.back());
  free_.pop_back();
  return lease(*this, std::move(b));
}

void buffer_pool::give_back(std::unique_ptr<std::byte[]> b) noexcept {
  --outstanding_;
  // Past the cap the buffer is freed: a burst should not pin its peak memory forever.
  if (free_.size() < max_idle_) {
    try {
      free_.push_back(std::move(b));
    } catch (...) {
      // Allocation failure growing the free list: dropping the buffer is the safe answer.
    }
  }
}

}  // namespace vmsgate::net_io
