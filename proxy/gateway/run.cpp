// `vmsgate run`: load, check, build, serve, drain.

#include <pthread.h>

#include <csignal>

#include "proxy/common/log.hpp"
#include "proxy/gateway/gateway.hpp"
#include "proxy/gateway/policy_check.hpp"
#include "proxy/gateway/report.hpp"
#include "proxy/gateway/run.hpp"

namespace vmsgate::app {

namespace {

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void hold_stop_signals() {
  const sigset_t set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void release_stop_signals() {
  const sigset_t set = stop_signals();
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

int run_main(const char* config_path) {
  // A peer that vanishes mid-write must be an error code, not a signal that kills
  // every other stream.
  std::signal(SIGPIPE, SIG_IGN);
  // Every line from here on goes through one writer thread, so that a slow log
  // reader never stalls a worker; it is drained when run_main returns.
  log::async_writer log_writer;
  keep_secrets_out_of_core_dumps();
  const auto loaded = config::load_file(config_path);
  if (!loaded.cfg) {
    log_config_errors(loaded.errors);
    return 2;
  }
  if (log_findings(check_config(*loaded.cfg))) return 1;
  try {
    gateway g(*loaded.cfg);
    return g.run();
  } catch (const startup_error& e) {
    log::line(log::level::error, "startup_failed").field("detail", e.what());
    return e.exit_status;
  } catch (const std::exception& e) {
    log::line(log::level::error, "startup_failed").field("detail", e.what());
    return 1;
  }
}

}  // namespace vmsgate::app
