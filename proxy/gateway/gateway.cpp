#include "proxy/gateway/gateway.hpp"

#include <thread>

#include "proxy/common/log.hpp"
#include "proxy/gateway/notify.hpp"
#include "proxy/gateway/run.hpp"
#include "proxy/tls/ktls.hpp"

namespace vmsgate::app {
namespace {

unsigned worker_count(unsigned configured) {
  if (configured != 0) return configured;
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

}  // namespace

gateway::gateway(const config::config& cfg) : cfg_(cfg) {
  const auto& ktls = tls::kernel_tls();
  log::line(log::level::info, "kernel_tls").field("available", ktls.available).field("detail", ktls.detail);
  tickets_ = std::make_shared<tls::ticket_keyring>(load_ticket_keys(cfg_));
  const unsigned n = worker_count(cfg_.workers);
  for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<net_io::worker>(i, global_));
  // Staged and committed like a reload, so both take one path.
  commit(stage_all(cfg_), cfg_);
  start_admin();
  acme_ = std::make_unique<acme_renewals>(control_, acme_answers_, [this](const char* trigger) { return swap_certificates(trigger); });
  acme_->listen_http(cfg_);  // port 80 is bound before privileges drop
  monitoring_->set_acme_source([this] { return acme_->status(); });
  drop_privileges();
}

gateway::~gateway() {
  for (auto& w : workers_) w->stop();
  for (auto& w : workers_) w->join();
}

void gateway::start_admin() {
  monitoring_ = std::make_unique<monitoring>(control_, cfg_, routes_);
  admin::handlers h = monitoring_->handlers();
  try {
    admin_ = std::make_unique<admin::server>(control_, resolve(cfg_.admin.listen, "admin.listen"), std::move(h));
  } catch (const boost::system::system_error& e) {
    throw startup_error(1, "admin: cannot listen on " + cfg_.admin.listen.str() + ": " +
                               listen_failure(e.code(), cfg_.admin.listen.port));
  }
  log::line(log::level::info, "admin_listening").field("address", endpoint_label(admin_->local_endpoint()));
}

std::uint64_t gateway::open_connections() const {
  std::uint64_t n = 0;
  for (const auto& w : workers_) n += w->open_sessions();
  return n;
}

int gateway::run() {
  admin_->start();
  monitoring_->start();
  for (auto& w : workers_) w->start();
  signals_.add(SIGTERM);
  signals_.add(SIGINT);
  signals_.add(SIGHUP);
  net::co_spawn(control_, handle_signals(), net::detached);
  // Any of them sent while starting has waited, blocked (see hold_stop_signals); now
  // it reaches signals_ and is handled once control_ runs, after the ready line.
  release_stop_signals();
  net::co_spawn(control_, watch_files(), net::detached);
  net::co_spawn(control_, rotate_ticket_keys(), net::detached);
  net::co_spawn(control_, return_memory(), net::detached);
  acme_->configure(cfg_);
  log::line(log::level::info, "ready").field("routes", static_cast<std::uint64_t>(cfg_.routes.size()));
  notify::ready("serving " + std::to_string(cfg_.routes.size()) + " routes");
  if (const auto every = notify::watchdog_interval()) net::co_spawn(control_, keep_watchdog(*every), net::detached);
  control_.run();
  return 0;
}

net::awaitable<void> gateway::handle_signals() {
  for (;;) {
    auto [ec, sig] = co_await signals_.async_wait(use_nothrow);
    if (ec) co_return;
    if (sig == SIGHUP) {
      reload("SIGHUP");
      continue;
    }
    log::line(log::level::info, "signal").field("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    co_await drain();
    co_return;
  }
}

// Stop accepting, let open connections finish for up to drain_timeout, then close
// the rest and stop every worker.
net::awaitable<void> gateway::drain() {
  notify::stopping();
  log::line(log::level::info, "drain_started").field("open_connections", open_connections());
  draining_ = true;
  watch_timer_.cancel();
  rotate_timer_.cancel();
  trim_timer_.cancel();
  acme_->stop();
  for (auto& w : workers_) w->stop_accepting();
  monitoring_->stop();  // /readyz says 503 while draining
  const auto deadline = std::chrono::steady_clock::now() + cfg_.limits.drain_timeout;
  net::steady_timer tick(control_);
  while (open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
    tick.expires_after(std::chrono::milliseconds(50));
    co_await tick.async_wait(use_nothrow);
  }
  const auto left = open_connections();
  if (left > 0) {
    for (auto& w : workers_) w->close_all();
    const auto grace = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (open_connections() > 0 && std::chrono::steady_clock::now() < grace) {
      tick.expires_after(std::chrono::milliseconds(20));
      co_await tick.async_wait(use_nothrow);
    }
  }
  log::line(log::level::info, "drain_finished").field("open_connections", left);
  for (auto& w : workers_) w->stop();
  admin_->stop();
  signals_.cancel();
  watchdog_timer_.cancel();
  // Nothing on the control thread is left to wait for: an ACME request still in
  // flight (up to 30 s) must not hold the exit.
  control_.stop();
}

// WATCHDOG=1 from the control loop itself: if it stops turning (a reload stuck,
// a deadlock), systemd sees the silence and restarts the service. It goes on
// through the drain, and ends when the drain does.
net::awaitable<void> gateway::keep_watchdog(std::chrono::microseconds every) {
  for (;;) {
    notify::watchdog();
    watchdog_timer_.expires_after(every);
    const auto [ec] = co_await watchdog_timer_.async_wait(use_nothrow);
    if (ec) co_return;
  }
}

}  // namespace vmsgate::app
