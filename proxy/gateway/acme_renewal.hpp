#pragma once
// Certificates that renew themselves: for each route with `acme:`, a task on the
// gateway's control thread that sleeps until the certificate is due, orders a new
// one from the route's ACME CA (RFC 8555), answers the CA's validation (tls-alpn-01
// on the route's own listener, or http-01 on a plain one), checks what it got
// against the route's role, writes it in place and reloads, all or nothing, through
// the same path as SIGHUP. A failure leaves the certificate in use, is logged and
// counted, and is tried again later with a growing back-off.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "proxy/admin/server.hpp"
#include "proxy/common/asio.hpp"
#include "proxy/config/config.hpp"
#include "proxy/observe/metrics_export.hpp"
#include "proxy/tls/acme_answers.hpp"

namespace vmsgate::app {

// When a certificate valid from `not_before` to `not_after` is due: renew_before
// (or its fraction of the lifetime; a third by default) before notAfter, and up to
// a fiftieth of the lifetime (at most an hour) earlier still by `jitter` (0..1), so
// that routes and instances do not all ask the CA at once.
std::chrono::system_clock::time_point renewal_due(std::chrono::system_clock::time_point not_before,
                                                  std::chrono::system_clock::time_point not_after,
                                                  const config::acme_config& acme, double jitter);

// The wait after `failures` orders in a row failed: 10 s doubling to an hour, spread
// by ±20% with `jitter` (0..1), and never shorter than the CA's Retry-After.
std::chrono::seconds failure_backoff(int failures, double jitter, std::optional<std::chrono::seconds> retry_after);

class acme_renewals {
 public:
  // `reload` runs the gateway's reload with the given trigger and says whether it
  // succeeded. Everything runs on `control`'s one thread.
  acme_renewals(net::io_context& control, std::shared_ptr<tls::acme_answers> answers,
                std::function<bool(const char*)> reload);
  ~acme_renewals();
  acme_renewals(const acme_renewals&) = delete;
  acme_renewals& operator=(const acme_renewals&) = delete;

  // Binds the http-01 listeners of `cfg`, at start while ports below 1024 may
  // still be bound; throws startup_error. A reload keeps these.
  void listen_http(const config::config& cfg);

  // Starts, updates or ends the renewal of each route with acme: at start and after
  // each successful reload.
  void configure(const config::config& cfg);

  // Ends every renewal (an order under way is abandoned); for the drain.
  void stop();

  std::vector<acme_status> status() const;

  struct task;

 private:
  struct outcome;
  net::awaitable<void> keep_renewed(std::shared_ptr<task> t);
  net::awaitable<void> renew_once(task& t);
  net::awaitable<std::chrono::system_clock::time_point> plan(task& t);
  net::awaitable<outcome> order(task& t);
  outcome install(task& t, const config::route_config& route, const std::string& chain_pem, EVP_PKEY* key);
  static void replace_pair(const config::route_config& route, const std::string& new_cert, const std::string& new_key,
                           const std::string& old_key);
  void note_failure(task& t, const outcome& result);
  void note_success(task& t, double seconds);
  void publish(const config::route_config& route, const std::string& name, const std::string& token,
               const std::string& key_authorization);
  void withdraw(const std::string& name, const std::string& token);
  std::optional<std::string> http_answer(std::string_view token) const;

  net::io_context& control_;
  std::shared_ptr<tls::acme_answers> answers_;
  std::function<bool(const char*)> reload_;
  std::map<std::string, std::shared_ptr<task>> tasks_;  // by route name
  std::map<std::string, std::string, std::less<>> http_tokens_;  // token -> key authorization
  std::vector<std::unique_ptr<admin::server>> http_servers_;
  std::vector<config::endpoint> http_addresses_;
  bool stopped_ = false;
};

}  // namespace vmsgate::app
