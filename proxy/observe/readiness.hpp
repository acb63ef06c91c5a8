#pragma once
// /readyz: ready when every listener is bound and accepting and every route has a
// backend that answered recently. A prober on the admin io_context connects to each
// route's backends in turn every few seconds, every backend (backend_up shows each);
// a successful backend connect on the data path counts as an answer for the route
// too.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/admin/route.hpp"
#include "proxy/common/asio.hpp"
#include "proxy/observe/metrics_export.hpp"

namespace vmsgate::app {

struct route_record;  // proxy/observe/route_record.hpp

using steady = std::chrono::steady_clock;

// What the decision needs about one route.
struct route_health {
  std::string name;
  std::optional<steady::time_point> last_answer;  // a backend accepted a connection
  std::string last_error;                          // of the last probe that found none
  bool acme_pending = false;  // no certificate yet: the route refuses every client
};

struct readiness_verdict {
  bool ready = false;
  std::string body;  // "ready\n", or one line per reason
};

// Pure: values in, verdict out. A route is healthy when a backend answered within
// `freshness` of `now`; with `freshness` zero (probes off), unless a probe failed.
readiness_verdict decide_readiness(bool accepting, const std::vector<route_health>& routes, steady::time_point now,
                                   steady::duration freshness);

admin::response to_response(const readiness_verdict& v);

struct prober_options {
  std::chrono::milliseconds interval{2000};
  std::chrono::milliseconds connect_timeout{5000};
};

class readiness {
 public:
  // `routes` must outlive this object; it is read on the io_context's thread only.
  readiness(net::io_context& ioc, const std::vector<route_record>& routes, prober_options opts);
  ~readiness();
  readiness(const readiness&) = delete;
  readiness& operator=(const readiness&) = delete;

  // Spawns the prober; the gateway is accepting from now on.
  void start();
  // Stops the prober (an in-flight probe is abandoned at once) and reports not
  // ready: the gateway is draining. Call on the io_context's thread.
  void stop();

  readiness_verdict verdict() const;
  // Per route: ready as /readyz judges it, and each backend's last probe.
  std::vector<route_status> status() const;
  // How long a backend's answer stays good: long enough for two probe rounds that
  // each wait the whole connect timeout.
  steady::duration freshness() const;

  struct state;  // shared with the prober coroutine

 private:
  std::shared_ptr<state> state_;
};

}  // namespace vmsgate::app
