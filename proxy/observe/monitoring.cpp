#include "proxy/observe/monitoring.hpp"

#include "proxy/metrics/families.hpp"
#include "proxy/observe/route_record.hpp"

namespace vmsgate::app {

struct monitoring::reminder {
  explicit reminder(net::io_context& ioc) : timer(ioc) {}
  std::vector<certificate_record> certs;
  std::vector<crl_record> crls;
  net::steady_timer timer;
  bool stopped = false;
};

namespace {

// An operator who misses one warning sees the next a day later, until renewal.
constexpr std::chrono::hours reminder_interval{24};

net::awaitable<void> remind_daily(std::shared_ptr<monitoring::reminder> r) {
  while (!r->stopped) {
    log_expiring(r->certs, std::chrono::system_clock::now());
    r->timer.expires_after(reminder_interval);
    co_await r->timer.async_wait(use_nothrow);
  }
}

}  // namespace

monitoring::monitoring(net::io_context& ioc, const config::config& cfg, const std::vector<route_record>& routes)
    : routes_(routes),
      reminder_(std::make_shared<reminder>(ioc)),
      readiness_(ioc, routes, prober_options{cfg.admin.probe_interval, cfg.limits.connect_timeout}) {
  reminder_->certs = collect_certificates(cfg);
  reminder_->crls = collect_crls(cfg);
  reloads_.last_success_seconds.store(
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
}

monitoring::~monitoring() { stop(); }

admin::handlers monitoring::handlers() {
  admin::handlers h;
  h.metrics = [this] {
    admin::response r;
    r.content_type = std::string(metrics::text_content_type);
    r.body = render_metrics(routes_, reminder_->certs, reloads_, readiness_.status(), reminder_->crls,
                            acme_ ? acme_() : std::vector<acme_status>{});
    return r;
  };
  h.ready = [this] { return to_response(readiness_.verdict()); };
  return h;
}

void monitoring::start() {
  readiness_.start();
  net::co_spawn(reminder_->timer.get_executor(), remind_daily(reminder_), net::detached);
}

void monitoring::stop() {
  readiness_.stop();
  reminder_->stopped = true;
  reminder_->timer.cancel();
}

void monitoring::set_config(const config::config& cfg) {
  reminder_->certs = collect_certificates(cfg);
  reminder_->crls = collect_crls(cfg);
}

}  // namespace vmsgate::app
