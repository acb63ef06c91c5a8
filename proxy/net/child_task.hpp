#pragma once
// A coroutine run beside its caller on the same executor and joined before the
// caller's state goes away: what a session needs from `a && b` and `a || b`, without
// the awaitable operators' cost. Those spawn both sides as new coroutine threads and
// keep per-branch cancellation state, memory that every idle connection would hold
// for hours. Cancellation stays the session's own: fail() cancels its sockets and
// timers, and every loop checks the session's flag.

#include <exception>
#include <utility>

#include "proxy/common/asio.hpp"

namespace vmsgate::net_io {

class child_task {
 public:
  explicit child_task(net::io_context& ioc) : done_(ioc) {}
  child_task(const child_task&) = delete;
  child_task& operator=(const child_task&) = delete;

  // Starts `child`; `on_error` runs if it ends by an exception (it is not rethrown:
  // the session ends through on_error instead).
  template <class OnError>
  void start(net::awaitable<void> child, OnError on_error) {
    // co_spawn may run the child's first steps inline, but it posts the completion
    // when the child ends there, so running_ is set before the handler can clear
    // it; set after co_spawn, it stays false if co_spawn throws, and join() returns.
    net::co_spawn(done_.get_executor(), std::move(child), [this, on_error](std::exception_ptr e) mutable {
      running_ = false;
      if (e) on_error();
      done_.cancel();
    });
    running_ = true;
  }

  // Returns once the child has finished. Must be awaited before this object (and
  // whatever the child uses) is destroyed.
  net::awaitable<void> join() {
    while (running_) {
      done_.expires_at(net::steady_timer::time_point::max());
      co_await done_.async_wait(use_nothrow);
    }
  }

 private:
  net::steady_timer done_;
  bool running_ = false;
};

}  // namespace vmsgate::net_io
