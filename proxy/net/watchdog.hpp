#pragma once
// A session's deadlines: the handshake's, the connect's, the idle timeout, and one
// backend attempt's. One timer callback, not a coroutine beside the session: an idle
// connection holds one pending timer operation instead of a coroutine thread, its
// frames and a join timer. It sleeps until the deadline it armed for; activity moves
// the deadline on without re-arming (touch), and the callback re-arms when it wakes
// early.
//
// An attempt on one backend (its TCP connect, or on originate routes its TLS
// handshake) has a deadline of its own: when it passes, the watchdog ends the attempt
// (cancels the backend socket's waits), not the session, and the next backend is
// tried.

#include <chrono>

#include "proxy/common/asio.hpp"

namespace vmsgate::net_io {

class conduit;

class watchdog {
 public:
  using clock = std::chrono::steady_clock;
  enum class phase { handshake, connect, pump };

  watchdog(conduit& owner, net::io_context& ioc, clock::time_point deadline, clock::duration idle_timeout);
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;

  void arm() noexcept;
  // The session has ended: the callback, if pending, does nothing more. Await
  // until !armed() before the session goes (the callback points at it).
  void stop() noexcept;
  bool armed() const noexcept { return armed_; }
  void cancel() noexcept { timer_.cancel(); }

  void enter(phase p) noexcept { phase_ = p; }
  void touch() noexcept { deadline_ = clock::now() + idle_timeout_; }
  clock::time_point deadline() const noexcept { return deadline_; }
  // Moves the deadline; an earlier one wakes the timer to re-arm.
  void set_deadline(clock::time_point t) noexcept;
  // Moves it later only (no re-arm: the timer wakes at the old one and sleeps on).
  void at_least_until(clock::time_point t) noexcept {
    if (deadline_ < t) deadline_ = t;
  }
  void start_attempt(clock::duration limit) noexcept;
  bool end_attempt() noexcept;  // true if the attempt's deadline ended it
  bool attempt_expired() const noexcept { return attempt_expired_; }

 private:
  void on_fire(const error_code& ec) noexcept;

  conduit& owner_;
  net::steady_timer timer_;
  clock::time_point deadline_;
  clock::duration idle_timeout_;
  phase phase_ = phase::handshake;
  bool armed_ = false;    // its handler is pending, and holds the session
  bool stopped_ = false;  // the session has ended
  bool attempt_running_ = false;
  bool attempt_expired_ = false;
};

}  // namespace vmsgate::net_io
