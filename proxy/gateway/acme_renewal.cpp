#include "proxy/gateway/acme_renewal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include <boost/json.hpp>

#include "proxy/acme/certs.hpp"
#include "proxy/acme/jws.hpp"
#include "proxy/acme/order.hpp"
#include "proxy/common/coroutine_frames.hpp"
#include "proxy/common/log.hpp"
#include "proxy/gateway/acme_http.hpp"
#include "proxy/gateway/route_build.hpp"
#include "proxy/pki/builder.hpp"
#include "proxy/pki/files.hpp"
#include "proxy/tls/certificate.hpp"
#include "proxy/tls/peer_verify.hpp"
#include "proxy/tls/policy.hpp"


namespace vmsgate::app {
namespace {

using std::chrono::system_clock;
using namespace std::chrono_literals;

// How long one order may take in all, and one request to the CA.
constexpr auto order_budget = 10min;
constexpr auto request_timeout = 30s;
// A task wakes at least this often to look at its certificate again (a file replaced
// by hand, the CA's renewal window moved).
constexpr auto longest_sleep = 6h;
// After a certificate was installed, the next order waits at least this long: a
// renew_before longer than the lifetime must not order again and again.
constexpr auto after_success = 1h;
// How often the CA's renewal window (RFC 9773) is asked for.
constexpr auto renewal_info_every = 6h;

double random_fraction() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

double epoch_seconds(system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

std::string iso_time(system_clock::time_point t) {
  const std::time_t s = system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&s, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

struct leaf_dates {
  system_clock::time_point not_before;
  system_clock::time_point not_after;
  tls::x509_ptr cert;
};

// The route's certificate as it is on disk now; nullopt when there is none.
std::optional<leaf_dates> read_leaf(const std::string& path) {
  std::string why;
  auto chain = tls::load_certificates(path, why);
  if (chain.empty()) return std::nullopt;
  const auto facts = tls::inspect(chain.front().get());
  return leaf_dates{facts.not_before, facts.not_after, std::move(chain.front())};
}

std::string reason_of(const std::exception& e) {
  if (const auto* se = dynamic_cast<const boost::system::system_error*>(&e)) return se->code().message();
  return e.what();
}

}  // namespace

system_clock::time_point renewal_due(system_clock::time_point not_before, system_clock::time_point not_after,
                                     const config::acme_config& acme, double jitter) {
  if (not_after <= not_before) return not_before;  // dates that make no sense: due now
  const auto lifetime = not_after - not_before;
  system_clock::duration before = lifetime / 3;
  if (acme.renew_before_fraction) {
    before = std::chrono::duration_cast<system_clock::duration>(lifetime * std::clamp(*acme.renew_before_fraction, 0.0, 1.0));
  } else if (acme.renew_before) {
    // Compared in milliseconds first: a term of centuries overflows nanoseconds.
    if (*acme.renew_before >= std::chrono::duration_cast<std::chrono::milliseconds>(lifetime)) return not_before;
    before = *acme.renew_before;
  }
  const system_clock::duration spread = std::min<system_clock::duration>(lifetime / 50, 1h);
  return not_after - before - std::chrono::duration_cast<system_clock::duration>(spread * std::clamp(jitter, 0.0, 1.0));
}

std::chrono::seconds failure_backoff(int failures, double jitter, std::optional<std::chrono::seconds> retry_after) {
  std::chrono::seconds delay = 10s;
  for (int i = 1; i < failures && delay < 1h; ++i) delay *= 2;
  delay = std::min<std::chrono::seconds>(delay, 1h);
  const double spread = 0.8 + 0.4 * std::clamp(jitter, 0.0, 1.0);
  delay = std::chrono::seconds(static_cast<std::int64_t>(static_cast<double>(delay.count()) * spread));
  if (retry_after) delay = std::max(delay, std::min<std::chrono::seconds>(*retry_after, 24h));
  return std::max<std::chrono::seconds>(delay, 1s);
}

struct acme_renewals::task {
  explicit task(net::io_context& ioc) : timer(ioc) {}
  config::route_config route;
  tls::role_policy policy;
  net::steady_timer timer;
  bool stopped = false;
  bool ordering = false;
  acme_status stats;
  double jitter = random_fraction();
  int failures_in_row = 0;
  system_clock::time_point backoff_until{};  // after failures: no attempt before this
  system_clock::time_point rested_until{};   // after a success: no scheduled renewal before this
  system_clock::time_point renewal_info_checked{};
  std::optional<system_clock::time_point> renewal_info_point;  // chosen in the CA's window
  bool warned_always_due = false;
  // The new certificate is in place but the reload that serves it failed: the
  // next attempt reloads again rather than order anew.
  bool awaiting_swap = false;
  // configure() asked for another look while the task was not yet asleep (in plan,
  // fetching the CA's window): it must not then sleep on the old plan.
  bool wake = false;
};

struct acme_renewals::outcome {
  bool ok = false;
  bool installed = false;  // the files were replaced (the reload may still have failed)
  std::string detail;
  std::optional<std::chrono::seconds> retry_after;
};

acme_renewals::acme_renewals(net::io_context& control, std::shared_ptr<tls::acme_answers> answers,
                             std::function<bool(const char*)> reload)
    : control_(control), answers_(std::move(answers)), reload_(std::move(reload)) {}

acme_renewals::~acme_renewals() { stop(); }

void acme_renewals::listen_http(const config::config& cfg) {
  for (const auto& rc : cfg.routes) {
    if (!rc.acme || !rc.acme->http_listen) continue;
    const auto& where = *rc.acme->http_listen;
    if (std::any_of(http_addresses_.begin(), http_addresses_.end(),
                    [&](const config::endpoint& e) { return config::same_address(e, where); }))
      continue;
    admin::handlers h;
    h.acme_challenge = [this](std::string_view token) { return http_answer(token); };
    admin::server_options opts;
    opts.max_connections = 32;
    try {
      http_servers_.push_back(std::make_unique<admin::server>(
          control_, resolve(where, "route " + rc.name + " acme.http_listen"), std::move(h), opts));
    } catch (const boost::system::system_error& e) {
      throw startup_error(1, "route " + rc.name + ": acme.http_listen: cannot listen on " + where.str() + ": " +
                                 listen_failure(e.code(), where.port));
    }
    http_servers_.back()->start();
    http_addresses_.push_back(where);
    log::line(log::level::info, "acme_http_listening")
        .field("route", rc.name)
        .field("address", endpoint_label(http_servers_.back()->local_endpoint()));
  }
}

void acme_renewals::configure(const config::config& cfg) {
  if (stopped_) return;
  std::map<std::string, std::shared_ptr<task>> next;
  for (const auto& rc : cfg.routes) {
    if (!rc.acme || rc.mode != config::mode::terminate) continue;
    const auto* role = cfg.find_role(rc.role);
    if (role == nullptr) continue;
    if (rc.acme->http_listen && std::none_of(http_addresses_.begin(), http_addresses_.end(), [&](const auto& e) {
          return config::same_address(e, *rc.acme->http_listen);
        }))
      log::line(log::level::warning, "reload_needs_restart")
          .field("route", rc.name)
          .field("detail", "a new acme.http_listen address is bound only on restart; http-01 validations of this "
                           "route fail until then");
    auto found = tasks_.find(rc.name);
    std::shared_ptr<task> t;
    if (found != tasks_.end()) {
      t = found->second;
    } else {
      t = std::make_shared<task>(control_);
      t->stats.route = rc.name;
    }
    t->route = rc;
    t->policy = to_policy(*role);
    next[rc.name] = t;
    if (found == tasks_.end()) {
      net::co_spawn(control_, keep_renewed(t), net::detached);
    } else if (!t->ordering) {
      t->wake = true;  // look at the certificate again: it may have been replaced
      t->timer.cancel();
    }
  }
  for (auto& [name, t] : tasks_) {
    if (next.contains(name)) continue;
    t->stopped = true;
    t->timer.cancel();
  }
  tasks_ = std::move(next);
}

void acme_renewals::stop() {
  stopped_ = true;
  for (auto& [name, t] : tasks_) {
    t->stopped = true;
    t->timer.cancel();
  }
  for (auto& s : http_servers_) s->stop();
}

std::vector<acme_status> acme_renewals::status() const {
  std::vector<acme_status> out;
  for (const auto& [name, t] : tasks_) out.push_back(t->stats);
  return out;
}

std::optional<std::string> acme_renewals::http_answer(std::string_view token) const {
  const auto found = http_tokens_.find(token);
  if (found == http_tokens_.end()) return std::nullopt;
  return found->second;
}

void acme_renewals::publish(const config::route_config& route, const std::string& name, const std::string& token,
                            const std::string& key_authorization) {
  if (route.acme->challenge == config::acme_challenge::http_01) {
    http_tokens_[token] = key_authorization;
  } else {
    auto made = acme::make_alpn_certificate(name, key_authorization);
    answers_->put(name, std::move(made.cert), std::move(made.key));
  }
  log::line(log::level::info, "acme_challenge_ready")
      .field("route", route.name)
      .field("name", name)
      .field("challenge", route.acme->challenge == config::acme_challenge::http_01 ? "http-01" : "tls-alpn-01");
}

void acme_renewals::withdraw(const std::string& name, const std::string& token) {
  http_tokens_.erase(token);
  answers_->remove(name);
}

net::awaitable<void> acme_renewals::keep_renewed(std::shared_ptr<task> t) {
  t->stats.next_renewal_seconds = epoch_seconds(system_clock::now());
  while (!t->stopped) {
    // Nothing may end this loop but stop(): an exception would end the route's
    // renewals for good, silently. It is logged and counted as a failure instead.
    std::string fault;
    try {
      co_await renew_once(*t);
    } catch (const std::exception& e) {
      fault = e.what();
    }
    if (fault.empty() || t->stopped) continue;
    t->ordering = false;
    note_failure(*t, {false, false, "unexpected: " + fault, std::nullopt});
  }
}

void acme_renewals::note_failure(task& t, const outcome& result) {
  ++t.stats.failures;
  ++t.failures_in_row;
  const auto wait = failure_backoff(t.failures_in_row, random_fraction(), result.retry_after);
  t.backoff_until = system_clock::now() + wait;
  t.stats.next_renewal_seconds = epoch_seconds(t.backoff_until);
  log::line(log::level::error, "acme_order_failed")
      .field("route", t.route.name)
      .field("detail", result.detail + (result.installed ? "" : "; the current certificate stays in use"))
      .field("failures_in_row", static_cast<std::uint64_t>(t.failures_in_row))
      .field("retry_in_seconds", static_cast<std::uint64_t>(wait.count()));
}

void acme_renewals::note_success(task& t, double seconds) {
  ++t.stats.successes;
  t.failures_in_row = 0;
  t.awaiting_swap = false;
  t.backoff_until = {};
  t.rested_until = system_clock::now() + after_success;
  t.stats.next_renewal_seconds = epoch_seconds(t.rested_until);
  t.renewal_info_point.reset();
  t.renewal_info_checked = {};
  log::line(log::level::info, "acme_renewed").field("route", t.route.name).field("seconds", seconds);
}

// One turn: sleep until due (or until configure() wakes the task), then order, or
// only reload when a certificate already installed is not served yet.
net::awaitable<void> acme_renewals::renew_once(task& t) {
  const auto due = co_await plan(t);
  if (t.stopped) co_return;
  const auto now = system_clock::now();
  if (due > now) {
    t.stats.next_renewal_seconds = epoch_seconds(due);
    if (t.wake) co_return;
    t.timer.expires_after(std::min<system_clock::duration>(due - now, longest_sleep));
    co_await t.timer.async_wait(use_nothrow);
    co_return;
  }
  t.stats.next_renewal_seconds = epoch_seconds(now);
  const auto started = std::chrono::steady_clock::now();
  outcome result;
  if (t.awaiting_swap) {
    result.installed = true;
    result.ok = reload_("acme");
    if (!result.ok) result.detail = "the new certificate is in place, but the reload that serves it failed again";
  } else {
    t.ordering = true;
    result = co_await order(t);
    t.ordering = false;
  }
  if (t.stopped) co_return;
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  t.awaiting_swap = result.installed && !result.ok;
  if (result.ok)
    note_success(t, seconds);
  else
    note_failure(t, result);
}

// When the route's certificate is due: at once when there is none; else its
// renew_before, or earlier when the CA's renewal window says so.
net::awaitable<system_clock::time_point> acme_renewals::plan(task& t) {
  t.wake = false;
  const auto now = system_clock::now();
  if (t.awaiting_swap) co_return std::max(now, t.backoff_until);
  const auto leaf = read_leaf(t.route.cert);
  if (!leaf) co_return std::max(now, t.backoff_until);
  // A certificate the route's names or role no longer accept (a name added, the
  // role's CA or key size changed) is due at once, however recent.
  const auto findings = tls::check_files(t.policy, tls::load_ca(t.policy.ca_path), t.route.name, tls::usage::server,
                                         t.route.server_names, t.route.cert, t.route.key, now);
  if (tls::has_error(findings)) {
    if (t.backoff_until <= now)
      for (const auto& f : findings)
        if (f.level == tls::severity::error)
          log::line(log::level::warning, "acme_certificate_outdated")
              .field("route", t.route.name)
              .field("detail", f.message + " [" + f.rule + "]; ordering a new one");
    co_return std::max(now, t.backoff_until);
  }
  auto due = renewal_due(leaf->not_before, leaf->not_after, *t.route.acme, t.jitter);
  if (due <= now && t.rested_until > now && !t.warned_always_due) {
    t.warned_always_due = true;
    log::line(log::level::warning, "acme_renew_before_too_long")
        .field("route", t.route.name)
        .field("detail", "renew_before is at least the certificate's whole lifetime, so it is always due; "
                         "renewing at most once an hour");
  }
  if (now - t.renewal_info_checked >= renewal_info_every) {
    t.renewal_info_checked = now;
    t.renewal_info_point.reset();
    std::string trouble;
    try {
      const auto trust = acme_trust(t.route.acme->ca);
      // Requests are named before the co_await: GCC 12 destroys a temporary in a
      // co_await expression twice.
      const acme::http_request directory{"GET", t.route.acme->directory, ""};
      const auto dir = co_await acme_exchange(*trust, directory, request_timeout);
      const auto json = boost::json::parse(dir.body);
      const auto* url = json.as_object().if_contains("renewalInfo");
      const auto id = acme::renewal_info_id(leaf->cert.get());
      if (url != nullptr && url->is_string() && id) {
        const std::string base(url->as_string());
        const acme::http_request ask{"GET", base + (base.ends_with('/') ? "" : "/") + *id, ""};
        const auto info = co_await acme_exchange(*trust, ask, request_timeout);
        if (const auto window = info.status == 200 ? acme::parse_renewal_info(info.body) : std::nullopt)
          t.renewal_info_point =
              window->start + std::chrono::duration_cast<system_clock::duration>((window->end - window->start) * t.jitter);
      }
    } catch (const std::exception& e) {
      trouble = reason_of(e);
    }
    if (!trouble.empty())
      log::line(log::level::debug, "acme_renewal_info_unavailable").field("route", t.route.name).field("detail", trouble);
    else if (t.renewal_info_point)
      log::line(log::level::info, "acme_renewal_window")
          .field("route", t.route.name)
          .field("renew_at", iso_time(*t.renewal_info_point));
  }
  if (t.renewal_info_point) due = std::min(due, *t.renewal_info_point);
  co_return std::max({due, t.rested_until, t.backoff_until});
}

net::awaitable<acme_renewals::outcome> acme_renewals::order(task& t) {
  const config::route_config route = t.route;  // a reload during the order changes the next one
  const auto& acme = *route.acme;
  log::line(log::level::info, "acme_order_started")
      .field("route", route.name)
      .field("directory", acme.directory)
      .field("names", static_cast<std::uint64_t>(route.server_names.size()));
  std::shared_ptr<net::ssl::context> trust;
  std::optional<acme::account_key> account;
  tls::pkey_ptr key;
  acme::order_settings settings;
  try {
    trust = acme_trust(acme.ca);
    account.emplace(acme::account_key::load_or_create(acme.account_key));
    key = pki::generate_rsa(std::max(2048, t.policy.min_rsa_bits));
    settings.directory_url = acme.directory;
    settings.names = route.server_names;
    settings.contact = acme.contact;
    settings.challenge = acme.challenge == config::acme_challenge::http_01 ? acme::challenge_type::http_01
                                                                            : acme::challenge_type::tls_alpn_01;
    if (const auto leaf = read_leaf(route.cert)) settings.replaces = acme::renewal_info_id(leaf->cert.get());
  } catch (const std::exception& e) {
    co_return outcome{false, false, reason_of(e), std::nullopt};
  }
  acme::order_machine machine(settings, *account, key.get());
  const auto deadline = std::chrono::steady_clock::now() + order_budget;
  acme::step step = machine.start();
  outcome result;
  for (;;) {
    if (t.stopped) {
      result.detail = "the gateway is stopping";
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      result.detail = "the order took longer than " + std::to_string(order_budget.count()) + " minutes";
      break;
    }
    if (step.what == acme::step::kind::request) {
      std::string trouble;
      std::optional<acme::http_response> response;
      try {
        response = co_await acme_exchange(*trust, step.request, request_timeout);
      } catch (const std::exception& e) {
        trouble = reason_of(e);
      }
      if (!response) {
        result.detail = "cannot reach the ACME server at " + step.request.url + ": " + trouble;
        break;
      }
      step = machine.received(*response);
    } else if (step.what == acme::step::kind::publish) {
      try {
        publish(route, step.to_publish.name, step.to_publish.token, step.to_publish.key_authorization);
      } catch (const std::exception& e) {
        result.detail = "cannot answer the challenge for " + step.to_publish.name + ": " + reason_of(e);
        break;
      }
      step = machine.published();
    } else if (step.what == acme::step::kind::wait) {
      // The CA's Retry-After, but never past the order's budget, and looked at
      // again at least every minute (stop() ends a wait at once).
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      t.timer.expires_after(std::clamp<std::chrono::milliseconds>(std::min<std::chrono::milliseconds>(step.delay, 60s),
                                                                  0ms, std::max(left, 0ms)));
      co_await t.timer.async_wait(use_nothrow);
      step = machine.waited();
    } else if (step.what == acme::step::kind::done) {
      result.ok = true;
      break;
    } else {
      result.detail = step.error;
      result.retry_after = step.retry_after;
      break;
    }
  }
  for (const auto& c : machine.challenges()) withdraw(c.name, c.token);
  log::line(log::level::info, "acme_order_finished")
      .field("route", route.name)
      .field("result", result.ok ? "success" : "failure")
      .field("requests", static_cast<std::uint64_t>(machine.requests()))
      .field("bad_nonce_retries", static_cast<std::uint64_t>(machine.bad_nonce_retries()));
  if (!result.ok) co_return result;
  co_return install(t, route, step.certificate_pem, key.get());
}

// Checks what the CA sent against the role, as `check` would, from files written
// beside the route's own (`route`: as it was when the order began); only then puts
// them in place and reloads.
acme_renewals::outcome acme_renewals::install(task& t, const config::route_config& route, const std::string& chain_pem,
                                              EVP_PKEY* key) {
  const std::string new_cert = route.cert + ".acme-new";
  const std::string new_key = route.key + ".acme-new";
  const std::string old_key = route.key + ".acme-old";
  auto discard = [&] {
    std::error_code ignored;
    std::filesystem::remove(new_cert, ignored);
    std::filesystem::remove(new_key, ignored);
    std::filesystem::remove(old_key, ignored);
  };
  try {
    const auto chain = acme::parse_pem_chain(chain_pem);
    if (chain.empty()) return {false, false, "the ACME server sent no certificate", std::nullopt};
    if (X509_check_private_key(chain.front().get(), key) != 1) {
      tls::drain_errors();
      return {false, false, "the certificate the ACME server sent is not for the key this order sent", std::nullopt};
    }
    pki::write_new_file(new_key, pki::to_pem(key), 0600, true);
    pki::write_new_file(new_cert, chain_pem, 0644, true);
    const auto findings = tls::check_files(t.policy, tls::load_ca(t.policy.ca_path), route.name, tls::usage::server,
                                           route.server_names, new_cert, new_key, system_clock::now());
    for (const auto& f : findings) {
      if (f.level != tls::severity::error) continue;
      discard();
      return {false, false,
              "the certificate the ACME server issued breaks role " + t.policy.name + "'s policy: " + f.message +
                  " [" + f.rule + "]",
              std::nullopt};
    }
    replace_pair(route, new_cert, new_key, old_key);
    const auto facts = tls::inspect(chain.front().get());
    log::line(log::level::info, "acme_certificate_installed")
        .field("route", route.name)
        .field("file", route.cert)
        .field("serial", facts.serial)
        .field("not_after", iso_time(facts.not_after));
  } catch (const std::exception& e) {
    discard();
    return {false, false, "cannot install the new certificate: " + reason_of(e), std::nullopt};
  }
  if (!reload_("acme"))
    return {false, true, "the new certificate is in place, but the reload that serves it failed (see reload_failed)",
            std::nullopt};
  return {true, true, {}, std::nullopt};
}

// The key, then the certificate, each renamed whole over the old one. Should the
// second rename fail, the old key comes back from a link kept for that, so the pair
// on disk always matches; the directories are synced so that it stays so after a
// crash. Throws on failure, with the old pair in place.
void acme_renewals::replace_pair(const config::route_config& route, const std::string& new_cert,
                                 const std::string& new_key, const std::string& old_key) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::remove(old_key, ec);
  const bool had_key = fs::exists(route.key, ec);
  if (had_key) fs::create_hard_link(route.key, old_key);
  fs::rename(new_key, route.key);
  try {
    fs::rename(new_cert, route.cert);
  } catch (...) {
    if (had_key) fs::rename(old_key, route.key, ec);
    throw;
  }
  fs::remove(old_key, ec);
  for (const auto& path : {route.key, route.cert}) {
    const int dir = ::open(fs::path(path).parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) continue;
    ::fsync(dir);
    ::close(dir);
  }
}

}  // namespace vmsgate::app
