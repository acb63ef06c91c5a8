#include "proxy/net/watchdog.hpp"

#include "proxy/net/conduit.hpp"

namespace vmsgate::net_io {

watchdog::watchdog(conduit& owner, net::io_context& ioc, clock::time_point deadline, clock::duration idle_timeout)
    : owner_(owner), timer_(ioc), deadline_(deadline), idle_timeout_(idle_timeout) {}

void watchdog::arm() noexcept {
  try {
    timer_.expires_at(deadline_);
    timer_.async_wait([this](const error_code& ec) { on_fire(ec); });
    armed_ = true;
  } catch (...) {
    owner_.fail(end_reason::internal_error);  // no memory for the wait: nothing would end this session
  }
}

void watchdog::stop() noexcept {
  stopped_ = true;
  timer_.cancel();
}

void watchdog::set_deadline(clock::time_point t) noexcept {
  const bool earlier = t < deadline_;
  deadline_ = t;
  if (earlier) timer_.cancel();
}

void watchdog::start_attempt(clock::duration limit) noexcept {
  attempt_running_ = true;
  attempt_expired_ = false;
  set_deadline(clock::now() + limit);
}

bool watchdog::end_attempt() noexcept {
  attempt_running_ = false;
  return attempt_expired_;
}

void watchdog::on_fire(const error_code& ec) noexcept {
  armed_ = false;
  // stopped_: the timer may have fired just as the session ended.
  if (owner_.aborted() || stopped_) return;
  // Cancelled: set_deadline moved the deadline earlier. Early: activity moved it on.
  if (ec || clock::now() < deadline_) return arm();
  if (attempt_running_) {
    // One backend had its time: end its attempt; connect_backend goes on to the
    // next, and a backstop stays in case nothing follows.
    attempt_running_ = false;
    attempt_expired_ = true;
    deadline_ = clock::now() + owner_.route().settings->connect_timeout;
    error_code ignored;
    owner_.backend().cancel(ignored);
    return arm();
  }
  switch (phase_) {
    case phase::handshake: owner_.fail(end_reason::handshake_timeout); break;
    case phase::connect: owner_.fail(end_reason::connect_timeout); break;
    case phase::pump: owner_.fail(end_reason::idle_timeout); break;
  }
}

}  // namespace vmsgate::net_io
