// After every listener is bound (ports below 1024 included), the gateway runs as
// the configured user; reloads then read keys as that user, which is why `check`
// verifies that each key file is readable by it.

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "proxy/common/log.hpp"
#include "proxy/gateway/gateway.hpp"
#include "proxy/gateway/run.hpp"

namespace vmsgate::app {

bool core_dumps_wanted() {
  const char* v = std::getenv("VMSGATE_CORE_DUMPS");
  return v != nullptr && std::string_view(v) == "1";
}

// The process holds private keys and ticket keys: a core dump (or a debugger of the
// same user, or /proc/PID/mem) would hand them out. Non-dumpable unless
// VMSGATE_CORE_DUMPS=1 asks otherwise, for debugging a crash.
void keep_secrets_out_of_core_dumps() {
  if (core_dumps_wanted()) {
    log::line(log::level::warning, "core_dumps_enabled")
        .field("detail", "VMSGATE_CORE_DUMPS=1: a core dump would contain private and ticket keys");
    return;
  }
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

void gateway::drop_privileges() {
  if (!cfg_.user) return;
  const passwd* pw = ::getpwnam(cfg_.user->c_str());
  if (pw == nullptr) throw startup_error(1, "user " + *cfg_.user + " does not exist");
  const uid_t uid = pw->pw_uid;
  gid_t gid = pw->pw_gid;
  if (cfg_.group) {
    const group* gr = ::getgrnam(cfg_.group->c_str());
    if (gr == nullptr) throw startup_error(1, "group " + *cfg_.group + " does not exist");
    gid = gr->gr_gid;
  }
  if (::geteuid() == uid && ::getegid() == gid) return;
  if (::geteuid() != 0) throw startup_error(1, "user " + *cfg_.user + " is configured but vmsgate does not run as root");
  // Group first: once the user changes there is no permission left to change it.
  // The user's supplementary groups come along (Debian grants key access through
  // ssl-cert). glibc applies each call to every thread of the process.
  if (::initgroups(cfg_.user->c_str(), gid) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0)
    throw startup_error(1, std::string("cannot drop privileges: ") + std::strerror(errno));
  if (::setuid(0) == 0) throw startup_error(1, "privileges could be regained after dropping them");
  // Changing the user made the process non-dumpable (fs.suid_dumpable); the
  // debugging switch has to say so again.
  if (core_dumps_wanted()) ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  log::line(log::level::info, "privileges_dropped")
      .field("user", *cfg_.user)
      .field("uid", static_cast<std::uint64_t>(uid))
      .field("gid", static_cast<std::uint64_t>(gid));
}

}  // namespace vmsgate::app
